"""The audited mode end to end: three real node processes serving tiny-sd on a real Anvil act as
executor and auditors of AuditedTasks tasks. An honest task is verified and pays everyone; a
lazy executor (half its steps, stretched onto the claimed ones) and a withholding executor are
caught and slashed; a requester's input over the model's compute budget resolves as invalid and
slashes nobody."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from oracle_testlib import IMAGE_MODEL, image_chain, start_nodes
from web3 import Web3

from deploy.deployer import audited_at
from inference.digests import INVALID_INPUT_DIGEST, digest_image
from inference.models import default_cache
from oracle.chain.audited import paid_members
from oracle.chain.client import ChainClient
from oracle.chain.contract import load_abi
from oracle.chain.views import read_operator
from oracle.cli import main
from oracle.dev.localnet import NodeProcess, OracleChain, chain_settings, stop_nodes

#: 64 px, 6 steps: a lazy executor (3 steps stretched onto 6) is off at any challenged step.
AUDITED_INPUT = b'{"prompt":"a lighthouse at dusk","width":64,"height":64,"steps":6}'
#: Well formed, but over tiny-sd's compute budget: no node may spend its window on it.
OVER_BUDGET_INPUT = b'{"prompt":"a lighthouse","width":512,"height":512,"steps":150}'
RESOLVED, REJECTED = 4, 5
OUTVOTED, WITHHELD = 5, 6
SLASH_DEVIATED, SLASH_WITHHELD = 4, 5


@pytest.fixture(scope="module")
def net() -> Iterator[OracleChain]:
    with image_chain(commit_window=600) as chain:
        yield chain


def requester(net: OracleChain) -> ChainClient:
    assert net.deployment.audited is not None
    return ChainClient(
        chain_settings(net.rpc_url, net.deployment),
        net.requester,
        oracle_address=net.deployment.audited,
        abi=load_abi("AuditedTasks"),
    )


def request(net: OracleChain) -> int:
    """An audited task (2 auditors) through the requester SDK."""
    client = net.requester_client()
    task_id = client.submit_audited(IMAGE_MODEL, AUDITED_INPUT, auditors=2).task_id
    assert client.audited_result(task_id).status in ("drawing", "executing")
    return task_id


def wait_finished(net: OracleChain, task_id: int, timeout_s: float = 150) -> dict[str, Any]:
    result = net.requester_client().wait_audited(task_id, timeout_s=timeout_s, poll_s=0.5)
    assert result.final
    info: dict[str, Any] = requester(net).view("getAuditTask", task_id)
    return info


def events(net: OracleChain, task_id: int, name: str) -> list[Any]:
    client = requester(net)
    return [
        e
        for e in client.logs(0, client.block_number())
        if e["event"] == name and int(e["args"]["taskId"]) == task_id
    ]


def audited_invariant(net: OracleChain) -> None:
    """The oracle's balance invariant, and AuditedTasks holds exactly its open tasks' fees."""
    sys.path.append(str(Path(__file__).resolve().parents[1] / "contracts"))
    from contract_testlib import assert_audited_invariant

    w3 = Web3(Web3.HTTPProvider(net.rpc_url))
    oracle = net.deployment.oracle_contract(w3)
    assert net.deployment.audited is not None
    people = [a.address for a in (*net.operators, net.requester, net.owner)]
    assert_audited_invariant(oracle, audited_at(w3, net.deployment.audited), people)


def stakes(net: OracleChain) -> dict[str, int]:
    oracle = net.client()
    return {a.address: read_operator(oracle, a.address).stake_wei for a in net.operators}


def nodes_of(net: OracleChain, root: Path, conduct: str) -> list[NodeProcess]:
    return start_nodes(
        net,
        root,
        (conduct,) * len(net.operators),
        models=(IMAGE_MODEL,),
        extra_node={"audit_evidence_wait_s": 5.0},
    )


@pytest.mark.slow  # node processes and two model loads, a minute; tests/contracts covers the rules
def test_honest_audited_task_is_verified_and_pays_everyone(
    net: OracleChain, tmp_path: Path
) -> None:
    nodes = nodes_of(net, tmp_path, "honest")
    try:
        task_id = request(net)
        info = wait_finished(net, task_id)
        assert int(info["status"]) == RESOLVED, [n.log()[-3000:] for n in nodes]
        (resolved,) = events(net, task_id, "AuditResolved")
        executor = info["members"][0]
        assert resolved["args"]["support"] == 3
        assert paid_members(resolved["args"]["paidMask"], info["members"]) == list(info["members"])
        assert resolved["args"]["executorFee"] > 0 and resolved["args"]["auditorFee"] > 0
        assert not events(net, task_id, "AuditSlashed")
        # The requester sees the verified result: the executor's image, whose digest it is.
        served = next(n for n in nodes if n.address == Web3.to_checksum_address(executor))
        png = httpx.get(f"{served.api_url}/audit/tasks/{task_id}/artifact", timeout=30)
        assert png.status_code == 200 and png.headers["content-type"] == "image/png"
        scheme = default_cache().get(IMAGE_MODEL).manifest.digest_scheme
        verified = bytes(requester(net).view("resultOf", task_id))
        assert verified == digest_image(png.content, scheme)
        result = net.requester_client().audited_result(task_id)
        assert result.verified and result.digest == "0x" + verified.hex()
        assert result.executor.lower() == executor.lower() and len(result.auditors) == 2
        audited_invariant(net)
    finally:
        stop_nodes(nodes)


@pytest.mark.slow  # its node processes take a minute; tests/contracts covers the rule
def test_lazy_executor_is_caught_and_slashed(net: OracleChain, tmp_path: Path) -> None:
    nodes = nodes_of(net, tmp_path, "lazy-executor")
    try:
        before = stakes(net)
        # Through the CLI: `genoracle task submit --mode audited --auditors 2 --wait --json`.
        args = ["task", "submit", "--rpc-url", net.rpc_url, "--oracle", net.deployment.oracle]
        args += ["--model", IMAGE_MODEL, "--input", AUDITED_INPUT.decode()]
        args += ["--mode", "audited", "--auditors", "2", "--wait", "--timeout", "150", "--json"]
        env = {"GENORACLE_PRIVATE_KEY": net.requester.key.hex()}
        cli = CliRunner().invoke(main, args, env=env, catch_exceptions=False)
        assert cli.exit_code == 0, cli.output
        shown = json.loads(cli.stdout)
        assert shown["mode"] == "audited" and shown["status"] == "rejected"
        assert shown["digest"] is None and len(shown["auditors"]) == 2
        task_id = int(shown["task_id"])
        info = wait_finished(net, task_id)
        assert int(info["status"]) == REJECTED, [n.log()[-3000:] for n in nodes]
        (failed,) = events(net, task_id, "AuditFailed")
        assert failed["args"]["reason"] == OUTVOTED
        (slashed,) = events(net, task_id, "AuditSlashed")
        executor = Web3.to_checksum_address(info["members"][0])
        assert Web3.to_checksum_address(slashed["args"]["operator"]) == executor
        assert slashed["args"]["reason"] == SLASH_DEVIATED
        assert stakes(net)[executor] == before[executor] - slashed["args"]["amount"]
        assert bytes(requester(net).view("resultOf", task_id)) == b"\0" * 32
        result = net.requester_client().audited_result(task_id)
        assert result.status == "rejected" and result.digest is None
        audited_invariant(net)
    finally:
        stop_nodes(nodes)


@pytest.mark.slow  # its node processes take a minute to start; tests/contracts covers the rule
def test_withholding_executor_is_slashed_by_the_withheld_digest(
    net: OracleChain, tmp_path: Path
) -> None:
    nodes = nodes_of(net, tmp_path, "withholding")
    try:
        task_id = request(net)
        info = wait_finished(net, task_id)
        assert int(info["status"]) == REJECTED, [n.log()[-3000:] for n in nodes]
        (failed,) = events(net, task_id, "AuditFailed")
        assert failed["args"]["reason"] == WITHHELD
        (slashed,) = events(net, task_id, "AuditSlashed")
        assert Web3.to_checksum_address(slashed["args"]["operator"]) == Web3.to_checksum_address(
            info["members"][0]
        )
        assert slashed["args"]["reason"] == SLASH_WITHHELD
        audited_invariant(net)
    finally:
        stop_nodes(nodes)


@pytest.mark.slow  # its node processes take a minute to start
def test_executor_submitting_another_images_digest_is_slashed(
    net: OracleChain, tmp_path: Path
) -> None:
    """Honest steps, but the submitted result is not the trajectory's decoded image: the
    auditors' decode check catches it (their reserved digest: no valid evidence of the result)."""
    nodes = nodes_of(net, tmp_path, "swapped-result")
    try:
        task_id = request(net)
        info = wait_finished(net, task_id)
        assert int(info["status"]) == REJECTED, [n.log()[-3000:] for n in nodes]
        (failed,) = events(net, task_id, "AuditFailed")
        assert failed["args"]["reason"] == WITHHELD
        (slashed,) = events(net, task_id, "AuditSlashed")
        assert Web3.to_checksum_address(slashed["args"]["operator"]) == Web3.to_checksum_address(
            info["members"][0]
        )
        audited_invariant(net)
    finally:
        stop_nodes(nodes)


@pytest.mark.slow  # its node processes take a minute to start; tests/contracts covers the rule
def test_an_over_budget_input_resolves_as_invalid_and_slashes_nobody(
    net: OracleChain, tmp_path: Path
) -> None:
    """The attack: a requester sends an input no node can compute in its window. Before, the
    executor refused it and submitted nothing, and was slashed for that. Now it submits the
    invalid-input digest, the auditors check the input themselves and agree, and the task
    resolves as invalid input: every member paid for the check, nobody slashed."""
    nodes = nodes_of(net, tmp_path, "honest")
    try:
        before = stakes(net)
        client = net.requester_client()
        task_id = client.submit_audited(
            IMAGE_MODEL, OVER_BUDGET_INPUT, auditors=2, validate=False
        ).task_id
        info = wait_finished(net, task_id)
        assert int(info["status"]) == RESOLVED, [n.log()[-3000:] for n in nodes]
        (resolved,) = events(net, task_id, "AuditResolved")
        assert bytes(resolved["args"]["digest"]) == INVALID_INPUT_DIGEST
        assert resolved["args"]["support"] == 3
        assert not events(net, task_id, "AuditSlashed")
        assert stakes(net) == before
        (submitted,) = events(net, task_id, "ExecutionSubmitted")
        assert submitted["args"]["leafCount"] == 0
        executor = next(
            n for n in nodes if n.address == Web3.to_checksum_address(info["members"][0])
        )
        logged = executor.log_path.read_text(errors="replace")
        assert "input refused (input costs" in logged and "over the model's cap" in logged
        result = client.audited_result(task_id)
        assert not result.verified and result.status == "invalid input"
        audited_invariant(net)
    finally:
        stop_nodes(nodes)
