"""A sustained flood of requests against three real node processes and a short commit window.

The attack: a requester keeps the model's only three operators drawn for more tasks than they
can compute inside the commit window, to have honest nodes slashed for the misses (every task
drafts all three). Each node's backpressure pauses its assignments once its queued inference
passes half the window, so the contract refuses the flood (NotEnoughOperators) while they drain,
then takes requests again. Every accepted task resolves with all three members paid, nobody is
slashed, no node records a miss, and the oracle's ether still covers what it owes.

The flood here arrives at a few tasks a second, several times what the nodes compute. A burst
that draws a node for more than a commit window of work before its pause lands (tens of
requests within its first job) is beyond what a pause can prevent (see the README's limits).

Slow (make test-slow): 40 s of flooding, then the queues drain.
"""

from __future__ import annotations

import time

import pytest
from oracle_testlib import (
    IMAGE_MODEL,
    assert_balance_invariant_on,
)

from oracle.chain.reverts import ContractRevertError
from oracle.dev.localnet import (
    API_TOKEN,
    NodeProcess,
    OracleChain,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

COMMIT_WINDOW = 30
FLOOD_S = 40.0
FLOOD_INTERVAL_S = 0.25
#: About a tenth of a second of one core: the flood outruns three nodes on two cores.
FLOOD_INPUT = {"prompt": "a lighthouse at dusk", "width": 64, "height": 64, "steps": 10}


def test_a_flood_is_refused_at_the_door_and_no_honest_node_is_slashed(
    window_net: OracleChain, window_nodes: list[NodeProcess]
) -> None:
    client = window_net.requester_client()
    accepted: list[int] = []
    refused = 0
    stop = time.monotonic() + FLOOD_S
    while time.monotonic() < stop:
        try:
            accepted.append(client.submit(IMAGE_MODEL, FLOOD_INPUT).task_id)
        except ContractRevertError as exc:
            assert exc.name == "NotEnoughOperators", exc
            refused += 1
        time.sleep(FLOOD_INTERVAL_S)
    assert refused > 0, f"the nodes never paused: {len(accepted)} tasks accepted"

    for task_id in accepted:
        result = client.wait(task_id, timeout_s=4 * COMMIT_WINDOW)
        assert result.status == "resolved" and result.support == 3, result
        assert all(p.slashed_wei == 0 and p.credited_wei > 0 for p in result.payouts), result

    pauses = 0
    for node in window_nodes:
        metrics = node.get("/metrics").text
        assert 'genoracle_windows_missed_total{step="commit"}' not in metrics, node.log_path
        pauses += sum(
            int(float(line.split()[-1]))
            for line in metrics.splitlines()
            if line.startswith('genoracle_transactions_sent_total{kind="pauseAssignments"}')
        )
        tasks = node.get("/operator/tasks?limit=10000", token=API_TOKEN).json()
        assert not [t for t in tasks if t["state"] == "missed"], node.log_path
    # One paused node is enough to stop the draws (every task needs all three).
    assert pauses >= 1, "no node paused"
    assert_balance_invariant_on(window_net)
