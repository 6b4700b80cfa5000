"""The demo's training act: the requester asks for a 3-round fine-tune of Digits-Gen (few steps,
the shipped demo data) by a committee of three; each round the members who agree are paid and a
lazy trainer (half the steps) is slashed; the final checkpoint is registered as a model derived
from Digits-Gen. The honest operators then restart serving that model, as an operator does (with
the folder their node wrote: a member's from its own checkpoint, another node's from the
checkpoint it fetched by sha256), and the requester asks them for a generation from the new
model id."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inference.training.data import demo_dataset
from oracle.dev.localnet import NodeProcess, OracleChain, wait_until
from oracle.sdk.results import TaskResult
from oracle.sdk.training import (
    RoundResult,
    SubmittedTraining,
    TrainingOutcome,
    submit_training,
    wait_training,
)

Echo = Callable[[str], None]

BASE_MODEL = "digits"
ROUNDS, STEPS, BATCH_SIZE, EXAMPLES = 3, 4, 8, 128
SEED = 1616
PROMPT: dict[str, Any] = {"prompt": "a digit 7", "width": 64, "height": 64, "steps": 10}
#: Node settings for the act: a lazy trainer waits this long for the canonical checkpoint.
TRAINING_NODE_SETTINGS: dict[str, Any] = {"training_fetch_wait_s": 15.0}


@dataclass
class DemoTraining:
    """What happened to the fine-tune and to the generation from its model, read from the chain."""

    submitted: SubmittedTraining
    outcome: TrainingOutcome
    servers: tuple[str, ...] = ()
    """The honest operators restarted serving the trained model (the generation's committee)."""
    fetched_by: tuple[str, ...] = ()
    """Those of them outside the training committee, whose node fetched the trained weights."""
    generation: TaskResult | None = None


def run_training(chain: OracleChain, echo: Echo, timeout_s: float) -> DemoTraining:
    """Request the fine-tune, push the data to the drawn members, wait for every round."""
    requester = chain.client(chain.requester)
    submitted = submit_training(
        requester,
        demo_dataset(examples=EXAMPLES),
        rounds=ROUNDS,
        steps=STEPS,
        batch_size=BATCH_SIZE,
        seed=SEED,
    )
    echo(
        f"      training task {submitted.task_id}: data pushed to "
        f"{len(submitted.data_pushed_to)} of {len(submitted.members)} members"
    )
    outcome = wait_training(
        requester,
        submitted.task_id,
        timeout_s=timeout_s,
        poll_s=0.5,
        from_block=submitted.block_number,
        on_round=lambda result: echo(f"      round {result.round} resolved"),
    )
    if outcome.status != "completed":
        raise RuntimeError(f"the demo's training task failed: {outcome}")
    echo(f"      completed: model {outcome.model_id}")
    return DemoTraining(submitted, outcome)


def serve_trained_model(
    chain: OracleChain,
    training: DemoTraining,
    nodes: list[NodeProcess],
    roles: dict[str, str],
    served: tuple[str, ...],
    records_dir: Path,
    stack: contextlib.ExitStack,
    timeout_s: float,
) -> list[NodeProcess]:
    """Each honest operator adds the trained model's folder to its node.models (with the `served`
    ones), restarts on the same data dir, and serves the model on chain. Every node serving the
    base model wrote that folder under <data_dir>/training/models/ when the task completed: a
    member from the checkpoint it holds, another node from the one it fetched by sha256."""
    assert training.outcome.model_id is not None
    model_id = bytes.fromhex(training.outcome.model_id.removeprefix("0x"))
    task_id = training.submitted.task_id
    honest = [node for node in nodes if roles[node.address] == "honest"]
    folders: dict[str, str] = {}
    for node in honest:

        def folder(node: NodeProcess = node) -> str | None:
            response = node.get(f"/training/tasks/{task_id}")
            return response.json().get("model_folder") if response.status_code == 200 else None

        folders[node.address] = wait_until(folder, timeout_s, f"{node.address}'s trained model")
    with ThreadPoolExecutor(len(honest)) as pool:  # each stops gracefully: side by side
        list(pool.map(NodeProcess.stop, honest))
    restarted = []
    for node in honest:
        again = NodeProcess(
            chain,
            node.account,
            node.workdir,
            models=(*served, folders[node.address]),
            records_dir=records_dir,
            extra_node=TRAINING_NODE_SETTINGS,
        )
        stack.callback(again.stop)
        chain.client(node.account).transact("serveModel", model_id)
        restarted.append(again.start())
    for node in restarted:
        node.wait_ready(timeout=180)
    training.servers = tuple(node.address for node in restarted)
    training.fetched_by = tuple(a for a in training.servers if a not in training.submitted.members)
    return restarted


def generate_from_trained_model(
    chain: OracleChain, training: DemoTraining, timeout_s: float
) -> TaskResult:
    """A generation task of the new model id, by a committee of the members serving it."""
    assert training.outcome.model_id is not None
    client = chain.requester_client()
    submitted = client.submit(
        training.outcome.model_id, PROMPT, committee_size=len(training.servers)
    )
    training.generation = client.wait(submitted.task_id, timeout_s=timeout_s)
    return training.generation


def print_training(echo: Echo, training: DemoTraining, roles: dict[str, str]) -> None:
    submitted, outcome = training.submitted, training.outcome
    spec = submitted.spec
    echo(f"== Training task {submitted.task_id}: fine-tune of {BASE_MODEL}")
    echo(
        f"   spec       {spec.rounds} rounds of {spec.steps_per_round} steps, batch "
        f"{spec.batch_size}, data sha256 {submitted.data_sha256[:16]}..."
    )
    committee = ", ".join(f"{member} {roles.get(member, '?')}" for member in submitted.members)
    echo(f"   committee  {committee}")
    if all(roles.get(member) == "honest" for member in submitted.members):
        echo("   (the lazy operator was not drawn this time: no trainer to slash)")
    for round_result in outcome.rounds:
        _print_round(echo, round_result, roles)
    echo(f"   status     {outcome.status}; final checkpoint {outcome.weights_sha256}")
    echo(f"   model      {outcome.model_id} registered, derived from {BASE_MODEL}")
    for server in training.servers:
        how = "fetched by sha256" if server in training.fetched_by else "trained"
        echo(f"   served by  {server} {roles.get(server, '?'):>6}  (restarted; weights {how})")
    result = training.generation
    if result is None:
        echo("")
        return
    echo(f"== Task {result.task_id}: image from the trained model {result.model_id}")
    for vote in result.votes:
        verdict = "agrees" if vote.agrees else "deviates"
        echo(f"   {vote.operator} {roles.get(vote.operator, '?'):>6}  {vote.digest}  {verdict}")
    echo(f"   status     {result.status}; consensus {result.digest} (support {result.support})")
    echo("")


def _print_round(echo: Echo, result: RoundResult, roles: dict[str, str]) -> None:
    echo(f"   round {result.round}")
    for member in result.paid:
        echo(f"     paid     {member} {roles.get(member, '?'):>6}")
    for member, reason in result.slashed.items():
        echo(f"     slashed  {member} {roles.get(member, '?'):>6}  ({reason})")
    echo(f"     canonical checkpoint {result.canonical_checkpoint} from {result.canonical_member}")
