"""The inference worker's queue: earliest commit deadline first in both worker modes, priced
against the deployment's commit window; and the node drops a job whose window closed while it
was still queued, instead of letting it hold up tasks that can still make theirs.

Real worker threads and processes running tiny-sd, and a real node on a real Anvil (in this
process, stepped by `tick()`), nothing mocked.
"""

from __future__ import annotations

import concurrent.futures
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from oracle_testlib import IMAGE_MODEL, in_process_node

from inference.compute_budget import effective_budget
from inference.digests import INVALID_INPUT_DIGEST
from inference.manifest import MANIFEST_FILE
from inference.models import build_builtin
from inference.tiny_models import TINY_SD_BUDGET
from oracle.dev.localnet import E2E_ORACLE_CONFIG, OracleChain, oracle_chain, wait_until
from oracle.node import VerifierNode
from oracle.node.states import TaskState
from oracle.node.worker import InferenceJob, InferenceOutcome, InferenceWorker

#: About a second or two of one core here: long enough to queue other jobs behind it.
SLOW_INPUT = {"prompt": "a harbour", "width": 256, "height": 256, "steps": 16, "seed": 1}
CHEAP_INPUT = {"prompt": "a lighthouse", "width": 64, "height": 64, "steps": 2, "seed": 1}
ISSUE_INPUT = {"prompt": "a lighthouse", "width": 1024, "height": 1024, "steps": 8}


def _job(
    worker: InferenceWorker, task_id: int, spec: dict[str, object], deadline: int | None
) -> InferenceJob:
    model_id = worker.models[0].model_id
    return InferenceJob(
        task_id, model_id, json.dumps(spec).encode(), bytes(32), commit_deadline=deadline
    )


def _drain(
    worker: InferenceWorker, futures: list[concurrent.futures.Future[InferenceOutcome]]
) -> None:
    """What the node's loop does: hand the worker its next job whenever it is free."""
    deadline = time.monotonic() + 180
    while not all(future.done() for future in futures):
        assert time.monotonic() < deadline, "the worker did not finish its jobs"
        worker.supervise()
        time.sleep(0.01)


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_jobs_run_earliest_commit_deadline_first(mode: str) -> None:
    """While the worker is busy, jobs submitted with deadlines out of order run earliest
    deadline first (jobs without one last, in submission order), and a cancelled queued job
    never runs. Before, a thread worker ran them in submission order and a process worker
    ran them first come, first served."""
    worker = InferenceWorker([IMAGE_MODEL], mode=mode, threads=1, commit_window_s=600)
    try:
        finished: list[int] = []
        busy = worker.submit(_job(worker, 1, SLOW_INPUT, 9_000))
        busy.add_done_callback(lambda _: finished.append(1))
        order = [(2, 5_000), (3, None), (4, 1_000), (5, 3_000), (6, None), (7, 2_000)]
        futures = {}
        for task_id, deadline in order:
            future = worker.submit(_job(worker, task_id, CHEAP_INPUT, deadline))
            future.add_done_callback(lambda _, task_id=task_id: finished.append(task_id))
            futures[task_id] = future
        dropped = worker.submit(_job(worker, 8, CHEAP_INPUT, 500))
        assert not busy.done(), "the first job finished before the others were queued"
        assert worker.queued == 7
        assert dropped.cancel()
        assert worker.queued == 6
        _drain(worker, [busy, *futures.values()])
        assert finished == [1, 4, 7, 5, 2, 3, 6]
        assert dropped.cancelled() and worker.queued == 0
        for future in (busy, *futures.values()):
            assert future.result().invalid_reason is None
    finally:
        worker.shutdown()


def test_the_worker_prices_jobs_against_its_commit_window() -> None:
    worker = InferenceWorker([IMAGE_MODEL], mode="thread", threads=1, commit_window_s=20)
    try:
        (described,) = worker.models
        assert described.budget_units == effective_budget(TINY_SD_BUDGET, 20)
        assert described.budget_unit == "latent-pixel evaluations"
        started = time.perf_counter()
        future = worker.submit(_job(worker, 1, ISSUE_INPUT, 100))
        _drain(worker, [future])
        outcome = future.result()
        assert time.perf_counter() - started < 5
        assert outcome.digest == INVALID_INPUT_DIGEST
        assert outcome.invalid_reason is not None
        assert "20 s commit window" in outcome.invalid_reason
        assert "fewer steps or a smaller image" in outcome.invalid_reason
    finally:
        worker.shutdown()


def test_a_model_without_a_compute_budget_is_not_served(tmp_path: Path) -> None:
    folder = tmp_path / "no-budget"
    shutil.copytree(build_builtin("tiny-llama"), folder)
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    del manifest["compute_budget"]
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(Exception, match="no compute_budget") as caught:
        InferenceWorker([str(folder)], mode="thread", commit_window_s=60)
    assert "genoracle models manifest" in str(caught.value)


# -- the node ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def net() -> Iterator[OracleChain]:
    with oracle_chain((IMAGE_MODEL,), operators=3) as chain:
        yield chain


def _state(node: VerifierNode, task_id: int) -> TaskState | None:
    """One loop pass, then the task's state in the node's store."""
    node.tick()
    task = node.store.get_task(task_id)
    return None if task is None else TaskState(task.state)


def test_the_node_drops_a_queued_job_once_its_commit_window_closed(
    net: OracleChain, tmp_path: Path
) -> None:
    """Before, the job stayed queued and ran after its window had closed, holding up every
    task behind it; now the node takes it out of the queue and records the miss at once."""
    node = in_process_node(net, tmp_path / "node")
    try:
        assert node.inference.commit_window_s == E2E_ORACLE_CONFIG.commit_window
        client = net.requester_client()
        slow = client.submit(IMAGE_MODEL, SLOW_INPUT).task_id  # committee of 3: all drawn
        queued = client.submit(IMAGE_MODEL, CHEAP_INPUT).task_id

        def one_running_one_queued() -> bool:
            states = (_state(node, slow), _state(node, queued))
            return states == (TaskState.ASSIGNED,) * 2 and node.inference.queued == 1

        wait_until(one_running_one_queued, 60, "the slow job running, the cheap one queued")
        # Both windows close while the slow job still runs: the queued one is dropped at once.
        net.advance_time(E2E_ORACLE_CONFIG.commit_window + 1)
        wait_until(lambda: _state(node, queued) == TaskState.MISSED, 30, "the queued job dropped")
        dropped = node.store.get_task(queued)
        assert dropped is not None and "still queued" in dropped.detail, dropped
        assert node.inference.queued == 0
        # The running job is left to finish (its digest is too late to commit).
        wait_until(lambda: _state(node, slow) != TaskState.ASSIGNED, 120, "the slow job's end")
        assert node.store.get_vote(slow) is not None
        assert node.store.get_vote(queued) is None, "the dropped job was computed anyway"
        steps = [entry.step for entry in node.store.journal_of(queued)]
        assert steps[-1] == TaskState.MISSED, steps
    finally:
        node.close()
