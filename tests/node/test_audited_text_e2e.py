"""Audited text tasks end to end: three real node processes serving tiny-llama on a real Anvil
act as executor and auditors of AuditedTasks tasks. An honest task is verified (its digest is
the replicated mode's digest of the tokens) and pays everyone; a lazy executor (half the decoder
layers) is caught by the auditors' margin check and slashed."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from oracle_testlib import TEXT_MODEL, start_nodes
from test_audited_e2e import (
    REJECTED,
    RESOLVED,
    SLASH_WITHHELD,
    WITHHELD,
    audited_invariant,
    events,
    requester,
    stakes,
    wait_finished,
)
from web3 import Web3

from inference.audit.calibrated import audit_tolerance
from inference.digests import Tolerance
from inference.models import default_cache
from inference.runners import generate
from inference.specs import TextInput
from oracle.chain.audited import paid_members
from oracle.cli import main
from oracle.dev.localnet import (
    E2E_ORACLE_CONFIG,
    NodeProcess,
    OracleChain,
    oracle_chain,
    stop_nodes,
)

TEXT_INPUT = {"prompt": "The verifier said", "max_new_tokens": 12}


@pytest.fixture(scope="module")
def net() -> Iterator[OracleChain]:
    config = dataclasses.replace(E2E_ORACLE_CONFIG, commit_window=600)
    with oracle_chain((TEXT_MODEL,), operators=3, config=config) as chain:
        yield chain


def nodes_of(net: OracleChain, root: Path, conduct: str) -> list[NodeProcess]:
    return start_nodes(
        net,
        root,
        (conduct,) * len(net.operators),
        models=(TEXT_MODEL,),
        extra_node={"audit_evidence_wait_s": 5.0},
    )


@pytest.mark.slow  # node processes, a minute; tests/node/test_audit_text_work.py the compute
def test_honest_audited_text_task_is_verified_and_pays_everyone(
    net: OracleChain, tmp_path: Path
) -> None:
    nodes = nodes_of(net, tmp_path, "honest")
    try:
        client = net.requester_client()
        task_id = client.submit_audited(TEXT_MODEL, TEXT_INPUT, auditors=2).task_id
        info = wait_finished(net, task_id)
        assert int(info["status"]) == RESOLVED, [n.log()[-3000:] for n in nodes]
        # The contract granted the model's audit tolerance (registered with the model).
        assert Tolerance.from_uint32(int(info["tolerance"])) == audit_tolerance(TEXT_MODEL)
        (resolved,) = events(net, task_id, "AuditResolved")
        assert resolved["args"]["support"] == 3
        assert paid_members(resolved["args"]["paidMask"], info["members"]) == list(info["members"])
        assert resolved["args"]["executorFee"] > 0 and resolved["args"]["auditorFee"] > 0
        assert not events(net, task_id, "AuditSlashed")
        # The verified digest is the one a replicated task gives: the digest of the tokens.
        replicated = generate(default_cache().get(TEXT_MODEL), TextInput(**TEXT_INPUT), threads=1)
        verified = bytes(requester(net).view("resultOf", task_id))
        assert verified == bytes(replicated.digest)
        executor = Web3.to_checksum_address(info["members"][0])
        served = next(n for n in nodes if n.address == executor)
        text = httpx.get(f"{served.api_url}/audit/tasks/{task_id}/artifact", timeout=30)
        assert text.status_code == 200 and text.headers["content-type"].startswith("text/plain")
        assert text.content == bytes(replicated.artifact)
        result = client.audited_result(task_id)
        assert result.verified and result.digest == "0x" + verified.hex()
        audited_invariant(net)
    finally:
        stop_nodes(nodes)


@pytest.mark.slow  # node processes, a minute; tests/node/test_audit_text_work.py the compute
def test_lazy_text_executor_is_caught_and_slashed(net: OracleChain, tmp_path: Path) -> None:
    nodes = nodes_of(net, tmp_path, "lazy-text-executor")
    try:
        before = stakes(net)
        # Through the CLI: `genoracle task submit --mode audited --auditors 2 --wait --json`.
        args = ["task", "submit", "--rpc-url", net.rpc_url, "--oracle", net.deployment.oracle]
        args += ["--model", TEXT_MODEL, "--input", json.dumps(TEXT_INPUT)]
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
        # Both auditors found tokens outside the margin: the evidence is not of the result.
        (failed,) = events(net, task_id, "AuditFailed")
        assert failed["args"]["reason"] == WITHHELD
        (slashed,) = events(net, task_id, "AuditSlashed")
        executor = Web3.to_checksum_address(info["members"][0])
        assert Web3.to_checksum_address(slashed["args"]["operator"]) == executor
        assert slashed["args"]["reason"] == SLASH_WITHHELD
        assert stakes(net)[executor] == before[executor] - slashed["args"]["amount"]
        assert bytes(requester(net).view("resultOf", task_id)) == b"\0" * 32
        audited_invariant(net)
    finally:
        stop_nodes(nodes)
