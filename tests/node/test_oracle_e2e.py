"""Three real node processes on a real Anvil resolve image and text tasks end to end."""

from __future__ import annotations

from pathlib import Path

import httpx
from oracle_testlib import IMAGE_INPUT, IMAGE_MODEL, TEXT_INPUT, TEXT_MODEL
from web3 import Web3
from web3.types import RPCEndpoint

from inference.digests import INVALID_INPUT_DIGEST, digest_image
from inference.models import default_cache
from oracle.dev.localnet import API_TOKEN, NodeProcess, OracleChain


def test_three_nodes_resolve_an_image_task(
    honest_net: OracleChain, honest_nodes: list[NodeProcess]
) -> None:
    client = honest_net.requester_client()
    submitted = client.submit(IMAGE_MODEL, IMAGE_INPUT)
    result = client.wait(submitted.task_id, timeout_s=120)

    assert result.status == "resolved"
    assert result.support == 3
    assert all(vote.agrees and vote.distances == (0, 0, 0, 0) for vote in result.votes)
    assert {p.account for p in result.payouts} == {n.address for n in honest_nodes}
    assert all(p.credited_wei > 0 and p.slashed_wei == 0 for p in result.payouts)
    # Every node kept the PNG it generated, and its digest (model's scheme) is the verified one.
    scheme = default_cache().get(IMAGE_MODEL).manifest.digest_scheme
    for node in honest_nodes:
        artifact = httpx.get(f"{node.api_url}/tasks/{submitted.task_id}/artifact", timeout=30)
        assert artifact.status_code == 200
        assert artifact.headers["content-type"] == "image/png"
        assert "0x" + digest_image(artifact.content, scheme).hex() == result.digest


def test_three_nodes_resolve_a_text_task(
    honest_net: OracleChain, honest_nodes: list[NodeProcess]
) -> None:
    client = honest_net.requester_client()
    submitted = client.submit(TEXT_MODEL, TEXT_INPUT)
    result = client.wait(submitted.task_id, timeout_s=120)

    assert result.status == "resolved"
    assert result.support == 3
    assert not result.invalid_input
    local = honest_nodes[0].local_task(submitted.task_id)
    assert local is not None and local["digest"] == result.digest
    assert local["artifact_media_type"].startswith("text/plain")
    # The aggregated reveal: one member collected the others' openings from their APIs and
    # revealed all three in the one transaction that also resolved the task.
    w3 = Web3(Web3.HTTPProvider(honest_net.rpc_url))
    oracle = honest_net.deployment.oracle_contract(w3)
    reveals = oracle.events.DigestRevealed().get_logs(
        from_block=0, argument_filters={"taskId": submitted.task_id}
    )
    resolved = oracle.events.TaskResolved().get_logs(
        from_block=0, argument_filters={"taskId": submitted.task_id}
    )
    assert len(reveals) == 3
    assert {log["transactionHash"] for log in reveals} == {resolved[0]["transactionHash"]}


def test_invalid_input_resolves_to_the_reserved_digest(
    honest_net: OracleChain, honest_nodes: list[NodeProcess]
) -> None:
    client = honest_net.requester_client()
    # 65 px is not a multiple of 8: every honest verifier must answer "invalid input".
    submitted = client.submit(IMAGE_MODEL, b'{"prompt": "x", "width": 65}', validate=False)
    result = client.wait(submitted.task_id, timeout_s=120)

    assert result.status == "resolved"
    assert result.digest == "0x" + INVALID_INPUT_DIGEST.hex()
    assert result.invalid_input
    assert all(p.credited_wei > 0 for p in result.payouts)
    response = honest_nodes[0].get("/operator/rejections", token=API_TOKEN)
    assert response.status_code == 200, response.text
    rejections = response.json()
    assert any(
        r["task_id"] == submitted.task_id and "multiple of 8" in r["reason"] for r in rejections
    )


def test_verify_cli_matches_the_artifact(
    honest_net: OracleChain, honest_nodes: list[NodeProcess], tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from oracle.cli import main

    client = honest_net.requester_client()
    submitted = client.submit(IMAGE_MODEL, IMAGE_INPUT)
    client.wait(submitted.task_id, timeout_s=120)
    png = tmp_path / "artifact.png"
    png.write_bytes(honest_nodes[1].get(f"/tasks/{submitted.task_id}/artifact").content)
    args = [
        "verify",
        "--rpc-url",
        honest_net.rpc_url,
        "--oracle",
        honest_net.deployment.oracle,
        "--task",
        str(submitted.task_id),
        str(png),
    ]
    outcome = CliRunner().invoke(main, args)
    assert outcome.exit_code == 0, outcome.output
    assert outcome.output.startswith("MATCH")


def test_log_decoder_matches_web3_on_every_event_of_a_tasks_life(
    honest_net: OracleChain, honest_nodes: list[NodeProcess]
) -> None:
    """The node decodes logs with its own eth_abi layouts (oracle.chain.abi_codec), not web3's
    process_log: on every log of this network, both decoders agree field for field, from the
    RPC's raw JSON and from web3's formatted logs alike."""
    client = honest_net.requester_client()
    client.wait(client.submit(IMAGE_MODEL, IMAGE_INPUT).task_id, timeout_s=120)
    chain = client.chain
    w3 = chain.w3
    kinds = set()
    for contract in (chain.oracle, chain.registry().oracle):
        codec_client = chain if contract is chain.oracle else chain.registry()
        formatted = w3.eth.get_logs({"address": contract.address, "fromBlock": 0})
        raw = w3.provider.make_request(
            RPCEndpoint("eth_getLogs"), [{"address": contract.address, "fromBlock": "0x0"}]
        )["result"]
        assert len(raw) == len(formatted) > 0
        for raw_log, formatted_log in zip(raw, formatted, strict=True):
            name = next(
                event.event_name
                for event in contract.all_events()
                if event.topic == formatted_log["topics"][0].to_0x_hex()
            )
            expected = contract.events[name]().process_log(formatted_log)
            for source in (raw_log, formatted_log):
                decoded = codec_client.decode_log(source)
                assert decoded is not None
                assert dict(decoded["args"]) == dict(expected["args"]), name
                assert {key: decoded[key] for key in expected} == dict(expected), name
            kinds.add(name)
    assert {
        "OperatorRegistered",
        "ModelServed",
        "ModelRegistered",
        "TaskRequested",
        "CommitteeDrawn",
        "CommitSubmitted",
        "DigestRevealed",
        "TaskResolved",
    } <= kinds
