"""A requester's choice of guidance and tolerance never slashes an honest node on other hardware.

Classifier-free guidance multiplies the difference of two noisy denoiser outputs, so honest
re-runs at guidance 20 drift about twice as far as at the default 7.5 (reports/study/NOISE.md).
Three real node processes on a real Anvil: two honest ones, and an honest one on other hardware
(relative noise 1e-3 multiplied into the denoiser's output at every step, the level the
tolerances are calibrated at). The input below moves that node's digest 16 bits on a graded lane:
within what guidance 20 needs (tiny-sd's rule, inference/tolerances.json), beyond the model's
floor of 14.

- The attack: a requester asks for this input at the model's floor by calling the contract
  directly. Before the input rule the node on other hardware was outvoted and slashed for the
  requester's choice; now every member answers the reserved invalid-input digest, the task
  resolves as invalid and every member is paid. The requester paid a fee for nothing.
- The client asks for what the input needs by default: the task resolves with all three agreeing.
- The client refuses an explicit tolerance below the input's need, before anything is sent.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from oracle_testlib import (
    IMAGE_MODEL,
    assert_balance_invariant_on,
    assert_everybody_paid,
    image_chain,
    start_nodes,
)

from inference.digests import INVALID_INPUT_DIGEST, Tolerance, lane_distances
from inference.hardware_noise import injected_noise
from inference.input_tolerance import required_tolerance
from inference.models import default_cache
from inference.runners import generate
from inference.specs import ImageInput
from oracle.chain.views import read_model, read_operator
from oracle.dev.localnet import API_TOKEN, NodeProcess, OracleChain, stop_nodes
from oracle.sdk.client import ToleranceTooLowError

COMMIT_WINDOW = 60
HIGH_GUIDANCE_INPUT = {
    "prompt": "a lighthouse at dusk",
    "seed": 51,
    "steps": 10,
    "width": 64,
    "height": 64,
    "guidance": 20.0,
}


@pytest.fixture(scope="module")
def mixed_hardware_net() -> Iterator[OracleChain]:
    with image_chain(COMMIT_WINDOW) as chain:
        yield chain


@pytest.fixture(scope="module")
def mixed_hardware_nodes(
    mixed_hardware_net: OracleChain, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[NodeProcess]]:
    nodes = start_nodes(
        mixed_hardware_net,
        tmp_path_factory.mktemp("mixed-hardware"),
        conducts=("honest", "honest", "other-hardware"),
        models=(IMAGE_MODEL,),
    )
    yield nodes
    stop_nodes(nodes)


def _needed() -> Tolerance:
    """What tiny-sd's input rule asks of the high-guidance input."""
    model = default_cache().get(IMAGE_MODEL)
    return required_tolerance(model.manifest, ImageInput.model_validate(HIGH_GUIDANCE_INPUT))


def _stakes(net: OracleChain, nodes: list[NodeProcess]) -> dict[str, int]:
    chain = net.requester_client().chain
    return {node.address: read_operator(chain, node.address).stake_wei for node in nodes}


def test_the_input_sits_where_the_test_needs_it() -> None:
    model = default_cache().get(IMAGE_MODEL)
    spec = ImageInput.model_validate(HIGH_GUIDANCE_INPUT)
    reference = generate(model, spec, threads=1)
    backend = model.image_backend
    with injected_noise(backend._pipeline.unet, 1e-3, [spec.seed], 0):  # type: ignore[attr-defined]
        other_hardware = generate(model, spec, threads=1)
    distances = lane_distances(reference.digest, other_hardware.digest)
    floor = model.manifest.tolerance.lanes
    needed = required_tolerance(model.manifest, spec).lanes
    assert any(d > f for d, f in zip(distances, floor, strict=True)), (distances, floor)
    assert all(d <= n for d, n in zip(distances, needed, strict=True)), (distances, needed)


def test_a_requester_cannot_slash_an_honest_node_with_a_tight_tolerance(
    mixed_hardware_net: OracleChain, mixed_hardware_nodes: list[NodeProcess]
) -> None:
    client = mixed_hardware_net.requester_client()
    view = client.model(IMAGE_MODEL)
    data = client.encode_input(view, HIGH_GUIDANCE_INPUT)
    stakes = _stakes(mixed_hardware_net, mixed_hardware_nodes)
    receipt = client.chain.transact(
        "requestGeneration",
        view.model_id,
        data,
        3,
        view.default_tolerance,  # the floor, which this input's honest re-runs exceed
        0,
        value=client.minimum_fee(3),
    )
    task_id = next(
        int(e["args"]["taskId"])
        for e in client.chain.receipt_events(receipt)
        if e["event"] == "TaskRequested"
    )
    result = client.wait(task_id, timeout_s=4 * COMMIT_WINDOW)

    assert result.digest == "0x" + INVALID_INPUT_DIGEST.hex(), result
    assert result.invalid_input
    assert_everybody_paid(result, mixed_hardware_nodes)
    assert _stakes(mixed_hardware_net, mixed_hardware_nodes) == stakes
    for node in mixed_hardware_nodes:
        rejections = node.get("/operator/rejections", token=API_TOKEN).json()
        reasons = [r["reason"] for r in rejections if r["task_id"] == task_id]
        assert reasons and f"is below {_needed()}" in reasons[0], rejections
    assert_balance_invariant_on(mixed_hardware_net)


def test_the_client_asks_what_the_input_needs_and_other_hardware_agrees(
    mixed_hardware_net: OracleChain, mixed_hardware_nodes: list[NodeProcess]
) -> None:
    client = mixed_hardware_net.requester_client()
    stakes = _stakes(mixed_hardware_net, mixed_hardware_nodes)
    submitted = client.submit(IMAGE_MODEL, HIGH_GUIDANCE_INPUT)
    result = client.wait(submitted.task_id, timeout_s=4 * COMMIT_WINDOW)

    assert result.tolerance == _needed().lanes, result
    assert not result.invalid_input, result
    assert_everybody_paid(result, mixed_hardware_nodes)
    assert all(vote.revealed and vote.agrees for vote in result.votes), result.votes
    distances = {vote.operator: vote.distances for vote in result.votes}
    other = mixed_hardware_nodes[2].address
    assert max(distances[other] or (0,)) > 14, distances  # it did drift past the floor
    assert _stakes(mixed_hardware_net, mixed_hardware_nodes) == stakes
    assert_balance_invariant_on(mixed_hardware_net)


def test_the_client_refuses_a_tolerance_below_the_inputs_need(
    mixed_hardware_net: OracleChain,
) -> None:
    client = mixed_hardware_net.requester_client()
    before = int(client.chain.view("taskCount"))
    with pytest.raises(ToleranceTooLowError, match=rf"below {_needed()}.*leave the tolerance out"):
        client.submit(IMAGE_MODEL, HIGH_GUIDANCE_INPUT, tolerance=Tolerance.of(4, 14, 14, 14))
    assert int(client.chain.view("taskCount")) == before
    # The floor itself stays on chain: the rule raises what an input needs, nothing else.
    view = read_model(client.chain, client.model(IMAGE_MODEL).model_id)
    assert view is not None and Tolerance.from_uint32(view.default_tolerance).lanes == (
        4,
        14,
        14,
        14,
    )
    assert json.loads(Path("inference/tolerances.json").read_text())["tiny-sd"]["input_tolerance"]
