"""A step decides on the task and its phase as one state of the chain, in-process against Anvil.

The node reads the task (who committed, who revealed) and then its phase. A peer's batch reveal
that carries our opening and lands between the two reads made the node see "not revealed" and
"finished": it recorded a vote that was revealed and paid as missed. The race is made
deterministic here: the revealBatch is mined right after the node's getTask call returns.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from oracle_testlib import IMAGE_INPUT, IMAGE_MODEL, in_process_node

from oracle.chain.views import Phase, TaskStatus, commitment, read_phase, read_task
from oracle.dev.localnet import oracle_chain
from oracle.node import VerifierNode
from oracle.node.aggregation import Opening
from oracle.node.states import TaskState


def _tick_until_committed(node: VerifierNode, task_id: int) -> None:
    for _ in range(600):
        node.tick()
        record = node.store.get_task(task_id)
        if record is not None and record.state == TaskState.COMMITTED:
            break
        node.wait(0.05)
    record = node.store.get_task(task_id)
    assert record is not None and record.state == TaskState.COMMITTED, record


def test_a_batch_reveal_between_reading_the_task_and_its_phase_is_not_a_miss(
    tmp_path: Path,
) -> None:
    with oracle_chain((IMAGE_MODEL,), operators=3) as net:
        node = in_process_node(net, tmp_path / "node", aggregate_reveals=False)
        try:
            # 3 of 3 operators: everyone is drawn.
            task_id = net.requester_client().submit(IMAGE_MODEL, IMAGE_INPUT).task_id
            _tick_until_committed(node, task_id)
            vote = node.store.get_vote(task_id)
            assert vote is not None
            view = read_task(net.client(), task_id)
            assert view is not None

            # The two peers commit to the same digest by hand: the reveal phase opens.
            openings = [
                Opening(view.member_index(node.address) or 0, node.address, vote.digest, vote.salt)
            ]
            for account in net.operators[1:]:
                position = view.member_index(account.address)
                assert position is not None
                salt = os.urandom(32)
                chain = net.client(account)
                chain.transact(
                    "commit",
                    task_id,
                    commitment(
                        chain.chain_id, chain.address, task_id, account.address, vote.digest, salt
                    ),
                )
                openings.append(Opening(position, account.address, vote.digest, salt))
            assert read_phase(net.client(), task_id) == Phase.REVEAL

            # A peer's revealBatch, our opening included, lands right after the node read the
            # task: it reveals every member and resolves the task.
            peer = net.client(net.operators[1])
            view_call = node.client.view
            raced: list[str] = []

            def racing_view(function: str, *args: Any, **kwargs: Any) -> Any:
                result = view_call(function, *args, **kwargs)
                if function == "getTask" and not raced:
                    batch = [opening.as_call_argument() for opening in openings]
                    raced.append(peer.transact("revealBatch", task_id, batch)["transactionHash"])
                return result

            node.client.view = racing_view  # type: ignore[method-assign]
            node.advance(task_id)
            assert raced, "the step did not read the task"
            node.client.view = view_call  # type: ignore[method-assign]
            after = read_task(net.client(), task_id)
            assert after is not None and after.status == TaskStatus.RESOLVED

            for _ in range(200):
                node.tick()
                record = node.store.get_task(task_id)
                if record is not None and record.state in (TaskState.DONE, TaskState.MISSED):
                    break
                node.wait(0.05)
            record = node.store.get_task(task_id)
            steps = [entry.step for entry in node.store.journal_of(task_id)]
            assert TaskState.MISSED not in steps, steps
            assert record is not None and record.state == TaskState.DONE, (record, steps)
            assert record.outcome == "resolved"
        finally:
            node.close()


def test_a_stale_block_number_is_not_taken_for_a_reorg(tmp_path: Path) -> None:
    """An RPC can answer a block number older than the block holding a transaction we saw land
    (a load-balanced provider, or Anvil between sealing a block and announcing it). The view at
    that block lacks our commit; the node used to call that a reorg, fall back to COMPUTED and
    send its commit again (refused: AlreadyCommitted), about once in 900 votes under load. Now
    it believes an erased commit only when its next look still lacks it."""
    with oracle_chain((IMAGE_MODEL,), operators=3) as net:
        node = in_process_node(net, tmp_path / "node", aggregate_reveals=False)
        try:
            task_id = net.requester_client().submit(IMAGE_MODEL, IMAGE_INPUT).task_id
            # A peer commits first (its commit draws the committee), so the block before ours
            # shows an open task without our commit.
            peer = net.client(net.operators[1])
            sealed = commitment(
                peer.chain_id, peer.address, task_id, peer.account.address, bytes(32), bytes(32)
            )  # type: ignore[union-attr]
            peer.transact("commit", task_id, sealed)
            _tick_until_committed(node, task_id)
            vote = node.store.get_vote(task_id)
            assert vote is not None and vote.commit_tx is not None
            commit_block = int(net.client().receipt(vote.commit_tx)["blockNumber"])  # type: ignore[index]

            fresh = node.client.block_number
            node.client.block_number = lambda: commit_block - 1  # type: ignore[method-assign]
            node.advance(task_id)  # the view at the stale block lacks our commit
            node.client.block_number = fresh  # type: ignore[method-assign]
            node.advance(task_id)

            steps = [entry.step for entry in node.store.journal_of(task_id)]
            assert "reorg" not in steps and "commit_rejected" not in steps, steps
            record = node.store.get_task(task_id)
            assert record is not None and record.state == TaskState.COMMITTED, record
        finally:
            node.close()
