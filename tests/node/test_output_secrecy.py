"""A lazy committee peer must not be able to get an honest member's output before commits close.

If a member served its artifact or its digest while the task's commit phase is open, a peer could
download it, digest it (or copy the digest) and commit the same digest without running the model.
Here the third member runs the test-only `silent` conduct (never commits), so the task stays in
its commit phase after both honest members have computed and committed; an outsider's HTTP client
then asks an honest node for what it computed. Once the commit deadline passes (the chain's clock
is moved), the same requests are answered.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from oracle_testlib import IMAGE_INPUT, IMAGE_MODEL, MODELS, start_nodes

from inference.digests import digest_image
from inference.models import default_cache
from oracle.chain.views import read_task
from oracle.dev.localnet import (
    E2E_ORACLE_CONFIG,
    NodeProcess,
    OracleChain,
    oracle_chain,
    stop_nodes,
    wait_until,
)
from oracle.node.store import Store


@pytest.fixture(scope="module")
def net() -> Iterator[OracleChain]:
    with oracle_chain(MODELS, operators=3) as chain:  # its own: this module moves the clock
        yield chain


@pytest.fixture(scope="module")
def nodes(
    net: OracleChain, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[NodeProcess]]:
    started = start_nodes(
        net, tmp_path_factory.mktemp("secrecy"), conducts=("honest", "honest", "silent")
    )
    yield started
    stop_nodes(started)


def _committed(net: OracleChain, task_id: int, address: str) -> bool:
    view = read_task(net.client(), task_id)
    assert view is not None
    index = view.member_index(address)
    return index is not None and view.committed[index]


def _stored_output(node: NodeProcess, task_id: int) -> tuple[str, Path]:
    """What the node computed, read from its own database (not over its API)."""
    store = Store(node.data_dir / "node.sqlite3")
    try:
        vote = store.get_vote(task_id)
        artifact = store.get_artifact(task_id)
    finally:
        store.close()
    assert vote is not None and artifact is not None
    return "0x" + vote.digest.hex(), Path(artifact.path)


def test_a_lazy_peer_gets_no_output_before_the_commit_phase_is_over(
    net: OracleChain, nodes: list[NodeProcess]
) -> None:
    honest, other, silent = nodes
    client = net.requester_client()
    task = client.submit(IMAGE_MODEL, IMAGE_INPUT)
    task_id = task.task_id
    wait_until(
        lambda: all(_committed(net, task_id, n.address) for n in (honest, other)),
        120,
        "the honest commits",
    )
    assert not _committed(net, task_id, silent.address)
    digest, artifact_path = _stored_output(honest, task_id)
    assert artifact_path.is_file()  # the node has the output: it must be withheld, not missing
    digest_hex = digest.removeprefix("0x")

    # The lazy peer, as an outsider HTTP client of the honest node.
    with httpx.Client(base_url=honest.api_url, timeout=30) as peer:
        body = peer.get(f"/tasks/{task_id}").json()
        assert body["phase"] == "commit"
        local = body["node"]
        assert local is not None and local["commit_tx"] is not None  # it did commit...
        assert local["digest"] is None  # ...but does not say to what
        assert local["invalid_input"] is None
        assert local["artifact_media_type"] is None
        assert local["inference_seconds"] is None
        assert all(vote["digest"] is None for vote in body["votes"])

        artifact = peer.get(f"/tasks/{task_id}/artifact")
        assert artifact.status_code == 409, artifact.text
        assert artifact.json()["detail"] == (
            f"task {task_id} is still in its commit phase; "
            "artifacts are served once no more commits can come"
        )
        opening = peer.get(f"/tasks/{task_id}/opening")
        assert opening.status_code == 409 and "commit phase" in opening.json()["detail"]
        tokens = peer.get(f"/tasks/{task_id}/tokens")
        assert tokens.status_code == 409 and "token ids are served once" in tokens.text

        # Nothing else unauthenticated carries the digest either.
        for path in ("/metrics", "/health", f"/operator/tasks/{task_id}/journal"):
            response = peer.get(path)
            assert digest_hex not in response.text.lower(), path
        assert peer.get(f"/operator/tasks/{task_id}/journal").status_code == 401
        verify = peer.post(
            f"/tasks/{task_id}/verify",
            files={"file": ("a.png", artifact_path.read_bytes(), "image/png")},
        )
        assert verify.status_code == 409 and digest_hex not in verify.text.lower()

        # No more commits can come once the commit deadline has passed.
        net.advance_time(E2E_ORACLE_CONFIG.commit_window + 1)
        body = peer.get(f"/tasks/{task_id}").json()
        assert body["phase"] != "commit"
        assert body["node"]["digest"] == digest
        assert body["node"]["invalid_input"] is False
        assert body["node"]["artifact_media_type"] == "image/png"
        assert body["node"]["inference_seconds"] > 0
        artifact = peer.get(f"/tasks/{task_id}/artifact")
        assert artifact.status_code == 200, artifact.text
        assert artifact.content == artifact_path.read_bytes()
        tokens = peer.get(f"/tasks/{task_id}/tokens")  # public now, but an image has none
        assert tokens.status_code == 404 and "not a text task" in tokens.json()["detail"]

    result = client.wait(task_id, timeout_s=60)
    assert result.status == "resolved" and result.support == 2 and result.digest == digest
    scheme = default_cache().get(IMAGE_MODEL).manifest.digest_scheme
    assert "0x" + digest_image(artifact.content, scheme).hex() == result.digest


def _public_counters(metrics: str) -> list[str]:
    """The lines of /metrics that could tell an invalid input from a valid one."""
    names = ("genoracle_rejections", "genoracle_inference_seconds_count")
    return sorted(line for line in metrics.splitlines() if line.startswith(names))


def test_metrics_do_not_tell_a_lazy_peer_that_an_input_is_invalid(
    net: OracleChain, nodes: list[NodeProcess]
) -> None:
    """A node that finds an input invalid answers the reserved digest. If its public metrics
    counted that at once (a rejection, a near-zero inference time), a lazy peer watching them
    would commit the reserved digest without parsing the input itself."""
    honest, other, _silent = nodes
    with httpx.Client(base_url=honest.api_url, timeout=30) as peer:
        before = _public_counters(peer.get("/metrics").text)
        task = net.requester_client().submit(IMAGE_MODEL, b'{"prompt": 5}', validate=False)
        wait_until(
            lambda: all(_committed(net, task.task_id, n.address) for n in (honest, other)),
            120,
            "the honest commits",
        )
        assert _public_counters(peer.get("/metrics").text) == before
    store = Store(honest.data_dir / "node.sqlite3")
    try:
        vote = store.get_vote(task.task_id)
        reasons = [r.reason for r in store.rejections() if r.task_id == task.task_id]
    finally:
        store.close()
    assert vote is not None and vote.invalid_input  # it did find the input invalid ...
    assert reasons and reasons[0].startswith("invalid input")  # ... and told its operator
