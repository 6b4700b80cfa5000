"""`genoracle chain check` (a deployment record against a chain) and `genoracle deploy` (the
oracle, to any EVM RPC, recorded per chain id). `genoracle chain up` joins the `chain` group from
oracle/cli/chain.py: it registers models, which is the oracle package's business."""

from __future__ import annotations

import os
from pathlib import Path

import click
from eth_account import Account
from eth_account.signers.local import LocalAccount

from deploy.anvil import anvil_accounts
from deploy.deployer import (
    RECORDS_ENV,
    Deployment,
    OracleConfig,
    check_deployment,
    deploy_oracle,
    deployments_dir,
    load_deployment,
    read_deployment,
    record_path,
)
from deploy.rpc import connect

PRIVATE_KEY_ENV = "GENORACLE_PRIVATE_KEY"
RECORDS_HELP = (
    f"Folder of the deployment records (default: ${RECORDS_ENV}, else <genoracle home>/"
    "deployments: .genoracle/deployments in a checkout, ~/.genoracle/deployments otherwise)."
)


def records_dir_option(function: click.decorators.FC) -> click.decorators.FC:
    """--records-dir: where deployment records are written and read."""
    return click.option(
        "--records-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help=RECORDS_HELP,
    )(function)


def echo_deployment(deployment: Deployment, path: Path | None) -> None:
    click.echo(f"oracle:   {deployment.oracle}  (block {deployment.block_number})")
    if deployment.consumer:
        click.echo(f"consumer: {deployment.consumer}")
    if path is not None:
        click.echo(f"record:   {path}")


@click.group("chain")
def chain() -> None:
    """Run a local development chain (embedded Anvil); check deployment records against a chain."""


@chain.command("check")
@click.option("--rpc-url", default="http://127.0.0.1:8545", show_default=True)
@records_dir_option
@click.option(
    "--record",
    type=click.Path(path_type=Path),
    default=None,
    help="Check this record file instead (refused if it is for another chain).",
)
def chain_check(rpc_url: str, records_dir: Path | None, record: Path | None) -> None:
    """Check a deployment record against the chain at RPC_URL: same chain id, the contracts
    deployed there, the oracle built with the recorded configuration."""
    w3 = connect(rpc_url)
    if record is not None:
        deployment = read_deployment(record)
    else:
        deployment = load_deployment(w3.eth.chain_id, records_dir)
        record = record_path(deployment.chain_id, records_dir)
    check_deployment(w3, deployment)
    click.echo(f"chain:    {deployment.chain_id}  ({rpc_url})")
    echo_deployment(deployment, record)
    click.echo("record matches the chain")


def _deployer_account(anvil_account: int | None) -> LocalAccount:
    if anvil_account is not None:
        return anvil_accounts(anvil_account + 1)[anvil_account]
    key = os.environ.get(PRIVATE_KEY_ENV)
    if not key:
        raise click.UsageError(
            f"no deployer key: set {PRIVATE_KEY_ENV}, or pass --anvil-account N on a local chain"
        )
    try:
        account: LocalAccount = Account.from_key(key)
    except (ValueError, TypeError) as exc:
        raise click.UsageError(f"{PRIVATE_KEY_ENV} is not a valid private key") from exc
    return account


@click.command("deploy")
@click.option("--rpc-url", default="http://127.0.0.1:8545", show_default=True)
@click.option(
    "--chain-id",
    "expected_chain_id",
    type=int,
    default=None,
    help="Refuse to deploy unless the RPC serves this chain id (guards against a wrong URL).",
)
@click.option(
    "--anvil-account",
    type=int,
    default=None,
    help=f"Deploy from Anvil's default account N instead of ${PRIVATE_KEY_ENV}.",
)
@click.option("--owner", default=None, help="Owner of the model registry (default: deployer).")
@click.option("--min-stake-wei", type=int, default=OracleConfig.min_stake, show_default=True)
@click.option(
    "--min-fee-wei",
    type=int,
    default=OracleConfig.min_fee_per_member,
    show_default=True,
    help="Minimum fee per committee member.",
)
@click.option("--commit-window", type=int, default=OracleConfig.commit_window, show_default=True)
@click.option("--reveal-window", type=int, default=OracleConfig.reveal_window, show_default=True)
@click.option(
    "--unbonding-delay", type=int, default=OracleConfig.unbonding_delay, show_default=True
)
@click.option(
    "--callback-gas-price-wei",
    type=int,
    default=OracleConfig.callback_gas_price,
    show_default=True,
    help="Wei per unit of callback gas a requester pays, credited to whoever resolves.",
)
@click.option("--treasury", default=None, help="Treasury address (default: deployer).")
@click.option(
    "--with-example-consumer",
    is_flag=True,
    help="Also deploy the example dApp (ExampleGenerationGallery, any model) against the oracle.",
)
@records_dir_option
def deploy(
    rpc_url: str,
    expected_chain_id: int | None,
    anvil_account: int | None,
    owner: str | None,
    min_stake_wei: int,
    min_fee_wei: int,
    commit_window: int,
    reveal_window: int,
    unbonding_delay: int,
    callback_gas_price_wei: int,
    treasury: str | None,
    with_example_consumer: bool,
    records_dir: Path | None,
) -> None:
    """Deploy GenerationOracle to the EVM chain at RPC_URL, signing with $GENORACLE_PRIVATE_KEY
    (or an Anvil account), write <records-dir>/<chainId>.json (a previous record of the chain is
    kept, renamed), then read the record back and check it against the chain."""
    w3 = connect(rpc_url)
    records_dir = records_dir if records_dir is not None else deployments_dir()
    config = OracleConfig(
        min_stake=min_stake_wei,
        min_fee_per_member=min_fee_wei,
        commit_window=commit_window,
        reveal_window=reveal_window,
        unbonding_delay=unbonding_delay,
        callback_gas_price=callback_gas_price_wei,
        treasury=treasury,
    )
    deployment = deploy_oracle(
        w3,
        _deployer_account(anvil_account),
        config,
        owner=owner,
        example_consumer=with_example_consumer,
        records_dir=records_dir,
        expected_chain_id=expected_chain_id,
        announce=click.echo,
    )
    click.echo(f"chain:    {deployment.chain_id}  ({rpc_url})")
    echo_deployment(deployment, record_path(deployment.chain_id, records_dir))
    click.echo("record read back and checked against the chain")
