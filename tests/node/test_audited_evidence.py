"""The executor's evidence route, attacked on a real Anvil (node desks driven in this process):
nothing before the challenge exists, nothing to anyone but a drawn auditor signing for itself,
and never the state after a challenged step."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from oracle_testlib import IMAGE_MODEL, image_chain

from oracle.chain.views import audited_address
from oracle.config import ApiSettings, NodeConfig, NodeSettings
from oracle.dev.localnet import OracleChain, chain_settings
from oracle.node.audit_image import served_leaves
from oracle.node.audited import COMMIT, DRAW_AUDITORS, AuditDesk, evidence_message
from oracle.node.conduct import HONEST

INPUT = {"prompt": "a lighthouse at dusk", "width": 64, "height": 64, "steps": 6}


@pytest.fixture(scope="module")
def net() -> Iterator[OracleChain]:
    with image_chain(commit_window=600) as chain:
        yield chain


def desks(net: OracleChain, root: Path) -> list[AuditDesk]:
    made = []
    for index, account in enumerate(net.operators):
        config = NodeConfig(
            api=ApiSettings(enabled=False),
            chain=chain_settings(net.rpc_url, net.deployment),
            node=NodeSettings(data_dir=root / str(index), models=[IMAGE_MODEL], worker="thread"),
        )
        oracle = net.client(account)
        address = audited_address(oracle)
        assert address is not None
        made.append(
            AuditDesk(
                config,
                account,
                oracle,
                address,
                HONEST,
                root / str(index),
                0,
                {net.models[IMAGE_MODEL]: IMAGE_MODEL},
            )
        )
    shared = made[0].auditor(net.models[IMAGE_MODEL])
    for desk in made[1:]:
        desk.auditors[net.models[IMAGE_MODEL]] = shared  # one loaded model for the three
    return made


def ask(desk: AuditDesk, task_id: int, signer: LocalAccount, claimed: str) -> object:
    message = encode_defunct(text=evidence_message(desk.chain_id, desk.address, task_id))
    signature = signer.sign_message(message).signature.to_0x_hex()
    return desk.evidence_for(task_id, claimed, signature)


def phase(desk: AuditDesk, task_id: int) -> int:
    return int(desk.client.view("getAuditTask", task_id)["phase"])


def test_evidence_goes_only_to_drawn_auditors_after_the_challenge(
    net: OracleChain, tmp_path: Path
) -> None:
    nodes = desks(net, tmp_path)
    task_id = net.requester_client().submit_audited(IMAGE_MODEL, INPUT).task_id
    nodes[0].tick()  # draws the executor (a keeper's drawAudits)
    info = nodes[0].client.view("getAuditTask", task_id)
    executor = next(d for d in nodes if d.me.lower() == str(info["members"][0]).lower())
    executor.tick()  # generates and submits
    assert phase(executor, task_id) == DRAW_AUDITORS
    others = [d for d in nodes if d is not executor]
    # Before the auditors (and so the challenge) are drawn, nobody gets anything.
    for desk in others:
        assert ask(executor, task_id, desk.account, desk.me) is None
    executor.tick()  # draws the auditors
    assert phase(executor, task_id) == COMMIT
    auditors = [str(a).lower() for a in executor.client.view("getAuditTask", task_id)["members"]]
    assert {d.me.lower() for d in others} == set(auditors[1:])
    first, second = others
    # The requester (not an auditor), an auditor signing for the other, the executor itself.
    assert ask(executor, task_id, net.requester, net.requester.address) is None
    assert ask(executor, task_id, first.account, second.me) is None
    assert ask(executor, task_id, executor.account, executor.me) is None
    # A signature for another task does not open this one.
    message = encode_defunct(text=evidence_message(executor.chain_id, executor.address, 1))
    stale = first.account.sign_message(message).signature.to_0x_hex()
    assert executor.evidence_for(task_id, first.me, stale) is None
    # A drawn auditor gets the challenged input, never the state after the challenged step.
    body = ask(executor, task_id, first.account, first.me)
    assert isinstance(body, dict)
    index = executor.challenge(task_id, 6)
    served = [int(item["step"]) for item in body["latents"]]
    assert served == served_leaves(index, 6)
    assert index + 1 not in served


def test_the_sdk_refuses_an_audited_input_the_nodes_would_refuse(net: OracleChain) -> None:
    """Guidance or size past what the audit tolerance was measured for: one clear error before
    anything is sent (the nodes would answer `invalid input`, slashing nobody)."""
    from oracle.errors import OracleError

    client = net.requester_client()
    with pytest.raises(OracleError, match="guidance up to 10"):
        client.submit_audited(IMAGE_MODEL, {**INPUT, "guidance": 20.0})
    with pytest.raises(OracleError, match="up to 256 px"):
        client.submit_audited(IMAGE_MODEL, {**INPUT, "width": 512, "height": 512})
