"""`genoracle task submit|show|wait|resolve|fetch` and `genoracle verify`: the requester's
commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from inference.digests import Tolerance
from oracle.cli.common import (
    config_option,
    echo_json,
    format_eth,
    load_config,
    oracle_client,
    parse_eth,
)
from oracle.sdk.client import OracleClient
from oracle.sdk.results import TaskResult


def _tolerance(text: str | None) -> Tolerance | None:
    if text is None or text == "default":
        return None
    try:
        return Tolerance.of(*(int(part) for part in text.replace("/", ",").split(",")))
    except ValueError as exc:
        raise click.BadParameter(
            f"{text!r}: {exc}; give up to four lane thresholds like '8' or '8,0,0,0'",
            param_hint="--tolerance",
        ) from None


def _print_result(result: TaskResult) -> None:
    click.echo(f"task {result.task_id}: {result.status} (phase {result.phase})")
    click.echo(f"  model     {result.model_id}")
    click.echo(
        f"  tolerance {'/'.join(map(str, result.tolerance))}   fee {format_eth(result.fee_wei)}"
    )
    if result.digest is not None:
        flag = "  (reserved: input invalid for this model)" if result.invalid_input else ""
        click.echo(f"  digest    {result.digest}{flag}   support {result.support}")
    for vote in result.votes:
        state = "revealed" if vote.revealed else ("committed" if vote.committed else "silent")
        distance = "/".join(map(str, vote.distances)) if vote.distances else "-"
        agrees = {True: "agrees", False: "deviates", None: ""}[vote.agrees]
        click.echo(f"  {vote.operator}  {state:9} distance {distance:11} {agrees}")
    for payout in result.payouts:
        click.echo(
            f"  payout {payout.account}  +{payout.credited_wei} wei  "
            f"-{payout.slashed_wei} wei slashed"
        )


@click.group("task")
def task() -> None:
    """Request verified generations and read their results."""


@task.command("submit")
@config_option
@click.option("--model", required=True, help="Model name (tiny-sd, ...), folder, or 0x model id.")
@click.option("--input", "input_json", default=None, help="The input as JSON.")
@click.option("--prompt", default=None, help="Shortcut: the prompt (other fields default).")
@click.option("--seed", type=int, default=None, help="With --prompt (image): the seed.")
@click.option("--width", type=int, default=None)
@click.option("--height", type=int, default=None)
@click.option("--steps", type=int, default=None)
@click.option("--max-new-tokens", type=int, default=None, help="With --prompt (text).")
@click.option("--committee", type=int, default=3, show_default=True, help="Odd committee size.")
@click.option(
    "--mode",
    type=click.Choice(["replicated", "audited"]),
    default="replicated",
    show_default=True,
    help="replicated: a committee generates; audited: one executor, auditors recompute a part.",
)
@click.option(
    "--auditors",
    type=click.Choice(["2", "4"]),
    default="2",
    show_default=True,
    help="With --mode audited: how many auditors.",
)
@click.option(
    "--tolerance",
    default=None,
    help="Lane thresholds, e.g. 8 or 8,0,0,0 (default: what the input needs: the model's floor, "
    "raised for a high guidance or a noisier scheduler).",
)
@click.option("--fee", default=None, help="Fee in ETH or '<n>wei' (default: the minimum).")
@click.option("--no-validate", is_flag=True, help="Send the input bytes as given.")
@click.option("--wait", "wait_", is_flag=True, help="Wait for the result and print it.")
@click.option("--timeout", type=float, default=300.0, show_default=True, help="With --wait, s.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def submit(
    config_path: Path | None,
    rpc_url: str | None,
    oracle_address: str | None,
    model: str,
    input_json: str | None,
    prompt: str | None,
    seed: int | None,
    width: int | None,
    height: int | None,
    steps: int | None,
    max_new_tokens: int | None,
    committee: int,
    mode: str,
    auditors: str,
    tolerance: str | None,
    fee: str | None,
    no_validate: bool,
    wait_: bool,
    timeout: float,
    as_json: bool,
) -> None:
    """Submit a generation task (and with --wait, print its verified result)."""
    if (input_json is None) == (prompt is None):
        raise click.UsageError("give exactly one of --input JSON or --prompt TEXT")
    client = oracle_client(load_config(config_path, rpc_url, oracle_address))
    spec: Any
    if input_json is not None:
        try:
            spec = json.loads(input_json)
        except json.JSONDecodeError as exc:
            if not no_validate:
                raise click.BadParameter(f"not JSON: {exc}", param_hint="--input") from None
            spec = input_json
    else:
        extra = {
            "seed": seed,
            "width": width,
            "height": height,
            "steps": steps,
            "max_new_tokens": max_new_tokens,
        }
        spec = {"prompt": prompt, **{k: v for k, v in extra.items() if v is not None}}
    if mode == "audited":
        task_id = _submit_audited(client, model, spec, int(auditors), tolerance, fee, no_validate)
        _after_audited(client, task_id, wait_, timeout, as_json)
        return
    submitted = client.submit(
        model,
        spec,
        committee_size=committee,
        tolerance=_tolerance(tolerance),
        fee_wei=parse_eth(fee) if fee is not None else None,
        validate=not no_validate,
    )
    if not as_json:
        click.echo(
            f"task {submitted.task_id} submitted in block {submitted.block_number} "
            f"(tx {submitted.tx_hash}); its committee is drawn from that block's hash"
        )
    if wait_:
        result = client.wait(submitted.task_id, timeout_s=timeout)
        if as_json:
            echo_json(result.to_json())
        else:
            _print_result(result)
    elif as_json:
        echo_json(
            {
                "task_id": submitted.task_id,
                "tx_hash": submitted.tx_hash,
                "block": submitted.block_number,
            }
        )


def _submit_audited(
    client: OracleClient,
    model: str,
    spec: Any,
    auditors: int,
    tolerance: str | None,
    fee: str | None,
    no_validate: bool,
) -> int:
    """Request an audited task; returns its id."""
    lanes = _tolerance(tolerance)
    submitted = client.submit_audited(
        model,
        spec,
        auditors=auditors,
        tolerance=lanes.to_uint32() if lanes is not None else None,
        fee_wei=parse_eth(fee) if fee is not None else None,
        validate=not no_validate,
    )
    click.echo(
        f"audited task {submitted.task_id} submitted in block {submitted.block_number} "
        f"(tx {submitted.tx_hash}); its executor is drawn from that block's hash",
        err=True,
    )
    return int(submitted.task_id)


def _after_audited(
    client: OracleClient, task_id: int, wait_: bool, timeout: float, as_json: bool
) -> None:
    result = client.wait_audited(task_id, timeout_s=timeout) if wait_ else None
    if as_json:
        body: dict[str, Any] = {"task_id": task_id, "mode": "audited"}
        if result is not None:
            body.update(
                status=result.status,
                executor=result.executor,
                auditors=list(result.auditors),
                digest=result.digest,
                unaudited_digest=result.unaudited_digest,
            )
        echo_json(body)
    elif result is not None:
        click.echo(f"audited task {task_id}: {result.status}")
        click.echo(f"  executor  {result.executor}   auditors {', '.join(result.auditors)}")
        click.echo(f"  digest    {result.digest or '-'} (unaudited {result.unaudited_digest})")


@task.command("show")
@config_option
@click.argument("task_id", type=click.IntRange(min=1))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show(
    config_path: Path | None,
    rpc_url: str | None,
    oracle_address: str | None,
    task_id: int,
    as_json: bool,
) -> None:
    """A task's status, votes with their distances to the result, and payouts."""
    client = oracle_client(load_config(config_path, rpc_url, oracle_address), with_account=False)
    result = client.result(task_id)
    if result is None:
        raise click.ClickException(
            f"task {task_id} does not exist on oracle {client.chain.address}"
        )
    if as_json:
        echo_json(result.to_json())
    else:
        _print_result(result)


@task.command("wait")
@config_option
@click.argument("task_id", type=click.IntRange(min=1))
@click.option("--timeout", type=float, default=300.0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def wait(
    config_path: Path | None,
    rpc_url: str | None,
    oracle_address: str | None,
    task_id: int,
    timeout: float,
    as_json: bool,
) -> None:
    """Wait until a task is final, then print it."""
    client = oracle_client(load_config(config_path, rpc_url, oracle_address), with_account=False)
    result = client.wait(task_id, timeout_s=timeout)
    if as_json:
        echo_json(result.to_json())
    else:
        _print_result(result)


@task.command("resolve")
@config_option
@click.argument("task_id", type=click.IntRange(min=1))
def resolve(
    config_path: Path | None, rpc_url: str | None, oracle_address: str | None, task_id: int
) -> None:
    """Close a task whose deadline passed (anyone may)."""
    client = oracle_client(load_config(config_path, rpc_url, oracle_address))
    click.echo(f"resolved task {task_id} (tx {client.resolve(task_id)})")


@task.command("fetch")
@config_option
@click.argument("task_id", type=click.IntRange(min=1))
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to save it (a text task to a .json file: its token ids with the text).",
)
@click.option(
    "--model",
    default=None,
    help="Text tasks: the model (name or folder) held here, to check the text is the decoding "
    "of the verified token ids.",
)
@click.option("--timeout", type=float, default=10.0, show_default=True, help="Per member, s.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def fetch(
    config_path: Path | None,
    rpc_url: str | None,
    oracle_address: str | None,
    task_id: int,
    out: Path,
    model: str | None,
    timeout: float,
    as_json: bool,
) -> None:
    """Fetch a resolved task's artifact from a committee member and save it to --out.

    Each member's registered endpoint is tried in turn; what it serves is digested with the
    model's scheme and compared with the on-chain digest before anything is saved. A member
    serving another file is skipped. Exit status 1 when no member serves a matching one.
    """
    client = oracle_client(load_config(config_path, rpc_url, oracle_address), with_account=False)
    fetched = client.fetch(task_id, model=model, timeout_s=timeout)
    fetched.save(out)
    if as_json:
        echo_json({**fetched.to_json(), "saved": str(out)})
        return
    for attempt in fetched.attempts[:-1]:
        click.echo(f"skipped {attempt.operator} ({attempt.endpoint}): {attempt.outcome}")
    check = fetched.verification
    click.echo(
        f"MATCH: task {task_id}'s {fetched.kind} from {fetched.operator} ({fetched.endpoint})\n"
        f"  digest   {check.digest}\n  on chain {check.onchain_digest}\n"
        f"  distances {'/'.join(map(str, check.distances))} within tolerance "
        f"{'/'.join(map(str, check.tolerance))} ({check.scheme})"
    )
    if fetched.kind == "text" and not fetched.text_checked:
        click.echo(
            "  the token ids are verified; the text is the member's decoding of them "
            "(give --model to check it)"
        )
    click.echo(f"saved {out} ({out.stat().st_size} bytes)")


@click.command("verify")
@config_option
@click.option("--task", "task_id", required=True, type=click.IntRange(min=1))
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def verify(
    config_path: Path | None,
    rpc_url: str | None,
    oracle_address: str | None,
    task_id: int,
    file: Path,
    as_json: bool,
) -> None:
    """Digest FILE as the task's model does and compare with the verified on-chain digest.

    Exit status 0 when it agrees within the task's tolerance, 1 when it does not.
    """
    client = oracle_client(load_config(config_path, rpc_url, oracle_address), with_account=False)
    result = client.verify(task_id, file)
    if as_json:
        echo_json(result.to_json())
    else:
        verdict, relation = ("MATCH", "within") if result.match else ("MISMATCH", "outside")
        click.echo(
            f"{verdict}: {file} digest {result.digest}\n  on chain {result.onchain_digest}"
            f"\n  distances {'/'.join(map(str, result.distances))} {relation} tolerance "
            f"{'/'.join(map(str, result.tolerance))} ({result.scheme})"
        )
    if not result.match:
        raise SystemExit(1)
