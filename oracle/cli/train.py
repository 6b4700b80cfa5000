"""`genoracle task train`: request a fine-tune of a registered model (Digits-Gen) on your data in
synchronised rounds (TrainingTasks), and with --wait follow its rounds to the new model's id."""

from __future__ import annotations

from pathlib import Path

import click

from oracle.cli.common import chain_client, config_option, echo_json, load_config, parse_eth
from oracle.sdk.training import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_LEARNING_RATE,
    RoundResult,
    TrainingOutcome,
    load_training_data,
    submit_training,
    wait_training,
)


def _round_line(result: RoundResult) -> str:
    slashed = ", ".join(f"{who} ({why})" for who, why in sorted(result.slashed.items()))
    if not result.paid:
        return f"round {result.round}: failed{'; slashed ' + slashed if slashed else ''}"
    canonical = (result.canonical_checkpoint or "")[:18]
    line = f"round {result.round}: accepted, {len(result.paid)} paid, canonical {canonical}..."
    return line + (f"; slashed {slashed}" if slashed else "")


def _outcome_json(outcome: TrainingOutcome) -> dict[str, object]:
    return {
        "task_id": str(outcome.task_id),
        "status": outcome.status,
        "model_id": outcome.model_id,
        "weights_sha256": outcome.weights_sha256,
        "failure": outcome.failure,
        "rounds": [
            {
                "round": r.round,
                "paid": list(r.paid),
                "slashed": r.slashed,
                "canonical_checkpoint": r.canonical_checkpoint,
                "canonical_member": r.canonical_member,
            }
            for r in outcome.rounds
        ],
    }


@click.command("train")
@config_option
@click.option(
    "--model", default="digits", show_default=True, help="Base model: name, folder or 0x id."
)
@click.option(
    "--data",
    "data_source",
    required=True,
    help="Training data: a data file (genoracle training data), a folder of images in digit "
    "sub-folders (0/ .. 9/), or 'demo' (the bundled bold-hand digits).",
)
@click.option("--rounds", type=click.IntRange(1, 64), default=3, show_default=True)
@click.option("--steps", type=click.IntRange(1, 10_000), default=10, show_default=True)
@click.option("--learning-rate", type=float, default=DEFAULT_LEARNING_RATE, show_default=True)
@click.option("--batch-size", type=click.IntRange(1, 1024), default=DEFAULT_BATCH_SIZE)
@click.option("--seed", type=click.IntRange(0, (1 << 62) - 1), default=None)
@click.option("--committee", type=int, default=3, show_default=True, help="Odd committee size.")
@click.option("--fee", default=None, help="Fee in ETH or '<n>wei' (default: the minimum).")
@click.option("--wait", "wait_", is_flag=True, help="Follow the rounds to the new model id.")
@click.option("--timeout", type=float, default=3600.0, show_default=True, help="With --wait, s.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def train(
    config_path: Path | None,
    rpc_url: str | None,
    oracle_address: str | None,
    model: str,
    data_source: str,
    rounds: int,
    steps: int,
    learning_rate: float,
    batch_size: int,
    seed: int | None,
    committee: int,
    fee: str | None,
    wait_: bool,
    timeout: float,
    as_json: bool,
) -> None:
    """Fine-tune MODEL on your data in ROUNDS verified rounds of STEPS steps."""
    data = load_training_data(data_source)
    chain = chain_client(load_config(config_path, rpc_url, oracle_address))
    task = submit_training(
        chain,
        data,
        rounds=rounds,
        steps=steps,
        base_model=model,
        learning_rate=learning_rate,
        batch_size=batch_size,
        seed=seed,
        committee_size=committee,
        fee_wei=parse_eth(fee) if fee is not None else None,
    )
    reached = f"{len(task.data_pushed_to)} of {len(task.members)} members"
    click.echo(
        f"training task {task.task_id} submitted in block {task.block_number} "
        f"(data {task.data_sha256[:16]}..., {len(data)} examples, pushed to {reached})",
        err=as_json,
    )
    if not task.data_pushed_to:
        click.echo(
            "warning: no member took the data; the task will fail and refund the rounds",
            err=True,
        )
    if not wait_:
        if as_json:
            echo_json({"task_id": str(task.task_id), "tx_hash": task.tx_hash})
        return
    outcome = wait_training(
        chain,
        task.task_id,
        timeout_s=timeout,
        from_block=task.block_number,
        on_round=None if as_json else lambda r: click.echo(_round_line(r)),
    )
    if as_json:
        echo_json(_outcome_json(outcome))
    elif outcome.status == "completed":
        click.echo(f"completed: model {outcome.model_id} (weights {outcome.weights_sha256})")
    else:
        click.echo(f"failed: {outcome.failure}")
