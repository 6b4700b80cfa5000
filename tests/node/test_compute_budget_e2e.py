"""The issue, scaled to this machine: an expensive but valid input against a short commit window.

Three real node processes on a real Anvil whose oracle has a 40 s commit window. The issue's
input (1024 px, 8 steps) costs tiny-sd tens of seconds of CPU per node here, three nodes share
two cores: before compute budgets every member computed it, missed the window and was slashed
(the task expired). Now every member prices it against the window's budget, commits the reserved
invalid-input digest at once, and the task resolves as invalid with everybody paid. An expensive
input within the budget still resolves, and a cheap task requested right behind it too.
"""

from __future__ import annotations

import time

from oracle_testlib import (
    IMAGE_INPUT,
    IMAGE_MODEL,
    assert_balance_invariant_on,
    assert_everybody_paid,
)

from inference.compute_budget import effective_budget
from inference.digests import INVALID_INPUT_DIGEST
from inference.models import default_cache
from inference.runners import cost_units
from inference.specs import ImageInput
from inference.tiny_models import TINY_SD_BUDGET
from oracle.dev.localnet import (
    API_TOKEN,
    NodeProcess,
    OracleChain,
)

COMMIT_WINDOW = 40
#: The issue's input. The schema accepts it (and up to 150 steps).
ISSUE_INPUT = {"prompt": "a lighthouse at dusk", "width": 1024, "height": 1024, "steps": 8}
#: Within the budget of a 40 s window (about 70 % of it), a few seconds of CPU per node here.
EXPENSIVE_INPUT = {"prompt": "a harbour at dawn", "width": 256, "height": 256, "steps": 30}


def _cost(spec: dict[str, object]) -> int:
    units = cost_units(default_cache().get(IMAGE_MODEL), ImageInput.model_validate(spec))
    assert units is not None
    return units


def test_the_inputs_sit_where_the_test_needs_them() -> None:
    budget = effective_budget(TINY_SD_BUDGET, COMMIT_WINDOW)
    assert _cost(ISSUE_INPUT) > 10 * budget  # far over: it would take minutes on the slowest
    assert 0.5 * budget < _cost(EXPENSIVE_INPUT) <= budget
    assert _cost(IMAGE_INPUT) < budget // 20


def test_an_over_budget_input_resolves_as_invalid_and_nobody_is_slashed(
    window_net: OracleChain, window_nodes: list[NodeProcess]
) -> None:
    client = window_net.requester_client()
    started = time.monotonic()
    submitted = client.submit(IMAGE_MODEL, ISSUE_INPUT)
    result = client.wait(submitted.task_id, timeout_s=3 * COMMIT_WINDOW)
    took = time.monotonic() - started

    assert result.digest == "0x" + INVALID_INPUT_DIGEST.hex(), result
    assert result.invalid_input
    assert_everybody_paid(result, window_nodes)
    assert all(vote.committed and vote.revealed for vote in result.votes)
    assert took < COMMIT_WINDOW, f"resolved after {took:.1f} s: someone computed it"
    for node in window_nodes:
        rejections = node.get("/operator/rejections", token=API_TOKEN).json()
        reasons = [r["reason"] for r in rejections if r["task_id"] == submitted.task_id]
        assert reasons, rejections
        assert f"{COMMIT_WINDOW} s commit window" in reasons[0], reasons
        assert "fewer steps or a smaller image" in reasons[0], reasons
    assert_balance_invariant_on(window_net)


def test_a_cheap_task_behind_an_expensive_one_still_commits_in_time(
    window_net: OracleChain, window_nodes: list[NodeProcess]
) -> None:
    """The expensive task is within the budget, so even queued behind it the cheap task has
    half its window left on the slowest supported node: both resolve, every member paid."""
    client = window_net.requester_client()
    expensive = client.submit(IMAGE_MODEL, EXPENSIVE_INPUT)
    cheap = client.submit(IMAGE_MODEL, IMAGE_INPUT)
    cheap_result = client.wait(cheap.task_id, timeout_s=3 * COMMIT_WINDOW)
    expensive_result = client.wait(expensive.task_id, timeout_s=3 * COMMIT_WINDOW)

    for result in (expensive_result, cheap_result):
        assert not result.invalid_input, result
        assert_everybody_paid(result, window_nodes)
        assert all(vote.committed and vote.agrees for vote in result.votes), result.votes
    assert_balance_invariant_on(window_net)
