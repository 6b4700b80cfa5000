"""`genoracle operator ...`: stake, exit, withdraw, claim and inspect an operator account."""

from __future__ import annotations

from pathlib import Path

import click
from eth_account import Account

from oracle.chain.reverts import utc_date
from oracle.chain.views import read_operator
from oracle.cli.common import (
    chain_client,
    config_option,
    echo_json,
    format_eth,
    load_config,
    parse_eth,
)
from oracle.config import AccountSettings
from oracle.keys import load_account, write_keystore
from oracle.sdk.operators import operator_status


@click.group("operator")
def operator() -> None:
    """Register as a verifier operator, manage the stake, collect earnings."""


@operator.command("new-keystore")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--import-env",
    default=None,
    metavar="VAR",
    help="Encrypt the hex key held in this environment variable instead of a new one.",
)
@click.password_option(
    "--password",
    envvar="GENORACLE_KEYSTORE_PASSWORD",
    help="Keystore password (prompted, or $GENORACLE_KEYSTORE_PASSWORD).",
)
def new_keystore(path: Path, import_env: str | None, password: str) -> None:
    """Write an encrypted keystore (mode 0600) for [account] keystore = PATH."""
    if path.exists():
        raise click.ClickException(f"{path} exists; refusing to overwrite a keystore")
    if import_env is not None:
        account = load_account(AccountSettings(private_key_env=import_env))
    else:
        account = Account.create()
    address = write_keystore(account.key.hex(), password, path)
    click.echo(f"wrote {path} for {address}; fund it, then 'genoracle operator register'")


@operator.command("register")
@config_option
@click.option("--stake", required=True, help="Stake to lock, in ETH (e.g. 1.5) or '<n>wei'.")
@click.option("--endpoint", required=True, help="Public URL of this operator's node API.")
@click.option(
    "--model",
    "model_names",
    multiple=True,
    required=True,
    help="A model this operator serves (name, folder or 0x id); repeat for several.",
)
def register(
    config_path: Path | None,
    rpc_url: str | None,
    oracle_address: str | None,
    stake: str,
    endpoint: str,
    model_names: tuple[str, ...],
) -> None:
    """Stake, declare the models served, and join the operator set: drawn for committees of
    those models' tasks from the next request on."""
    from oracle.sdk.client import model_id_of

    config = load_config(config_path, rpc_url, oracle_address)
    client = chain_client(config)
    model_ids = [model_id_of(name) for name in model_names]
    receipt = client.transact("register", endpoint, model_ids, value=parse_eth(stake))
    info = read_operator(client, client.account.address if client.account else "")
    click.echo(
        f"registered {info.address} with stake {format_eth(info.stake_wei)} "
        f"(tx {receipt['transactionHash'].to_0x_hex()})"
    )


@operator.command("add-stake")
@config_option
@click.option("--amount", required=True, help="Stake to add, in ETH or '<n>wei'.")
def add_stake(
    config_path: Path | None, rpc_url: str | None, oracle_address: str | None, amount: str
) -> None:
    """Top up the stake (a higher stake is drawn more often)."""
    client = chain_client(load_config(config_path, rpc_url, oracle_address))
    client.transact("addStake", value=parse_eth(amount))
    assert client.account is not None
    click.echo(f"stake now {format_eth(read_operator(client, client.account.address).stake_wei)}")


@operator.command("pause")
@config_option
def pause(config_path: Path | None, rpc_url: str | None, oracle_address: str | None) -> None:
    """Stop being drawn for new tasks (assigned ones must still be served); see `exit`."""
    client = chain_client(load_config(config_path, rpc_url, oracle_address))
    client.transact("pauseAssignments")
    assert client.account is not None
    info = read_operator(client, client.account.address)
    click.echo(f"paused: not drawn for new tasks; {info.open_tasks} assigned task(s) still open")


@operator.command("resume")
@config_option
def resume(config_path: Path | None, rpc_url: str | None, oracle_address: str | None) -> None:
    """Be drawn for new tasks again after `pause`."""
    client = chain_client(load_config(config_path, rpc_url, oracle_address))
    client.transact("resumeAssignments")
    click.echo("resumed: drawn for new tasks again")


@operator.command("exit")
@config_option
def exit_(config_path: Path | None, rpc_url: str | None, oracle_address: str | None) -> None:
    """Leave: stop being drawn and start the unbonding delay. Needs no open assignment: a busy
    operator runs `pause` first and waits for its tasks to end."""
    client = chain_client(load_config(config_path, rpc_url, oracle_address))
    client.transact("requestExit")
    assert client.account is not None
    info = read_operator(client, client.account.address)
    click.echo(f"exit requested; stake withdrawable at {utc_date(info.withdrawable_at)}")


@operator.command("withdraw")
@config_option
def withdraw(config_path: Path | None, rpc_url: str | None, oracle_address: str | None) -> None:
    """Take the stake back after exiting and unbonding."""
    client = chain_client(load_config(config_path, rpc_url, oracle_address))
    assert client.account is not None
    stake = read_operator(client, client.account.address).stake_wei
    receipt = client.transact("withdrawStake")
    click.echo(f"withdrew {format_eth(stake)} (tx {receipt['transactionHash'].to_0x_hex()})")


@operator.command("claim")
@config_option
def claim(config_path: Path | None, rpc_url: str | None, oracle_address: str | None) -> None:
    """Withdraw credited fees and rewards to the operator's account."""
    client = chain_client(load_config(config_path, rpc_url, oracle_address))
    assert client.account is not None
    credit = int(client.view("creditOf", client.account.address))
    client.transact("claim")
    click.echo(f"claimed {format_eth(credit)}")


@operator.command("status")
@config_option
@click.option("--address", default=None, help="Any operator (default: the configured account).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(
    config_path: Path | None,
    rpc_url: str | None,
    oracle_address: str | None,
    address: str | None,
    as_json: bool,
) -> None:
    """Stake, exit state, open tasks and credited balance of an operator."""
    client = chain_client(
        load_config(config_path, rpc_url, oracle_address), with_account=address is None
    )
    who = address or (client.account.address if client.account else "")
    info = operator_status(client, who)
    if as_json:
        echo_json(info.to_json())
        return
    if info.exiting:
        state = "exiting"
    elif info.paused:
        state = "paused (not drawn)"
    else:
        state = "active" if info.active else "not registered"

    click.echo(
        f"operator   {info.address}\nstate      {state}\nstake      "
        f"{format_eth(info.stake_wei)}\nendpoint   {info.endpoint or '-'}\nopen tasks "
        f"{info.open_tasks}\ncredit     {format_eth(info.credit_wei)}"
    )
    if info.exiting:
        click.echo(f"withdrawable at {utc_date(info.withdrawable_at)}")
