"""`genoracle chain up` (a local Anvil chain), `genoracle chain check` (a deployment record against
a chain) and `genoracle deploy` (the oracle, to any EVM RPC, recorded per chain id)."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import click
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from deploy.anvil import ANVIL_CHAIN_ID, AnvilProcess, anvil_accounts
from deploy.deployer import (
    DEPLOYMENTS_DIR,
    Deployment,
    OracleConfig,
    check_deployment,
    deploy_oracle,
    load_deployment,
    read_deployment,
)

PRIVATE_KEY_ENV = "GENORACLE_PRIVATE_KEY"


def _echo_deployment(deployment: Deployment, path: Path | None) -> None:
    click.echo(f"oracle:   {deployment.oracle}  (block {deployment.block_number})")
    if deployment.consumer:
        click.echo(f"consumer: {deployment.consumer}")
    if path is not None:
        click.echo(f"record:   {path}")


@click.group("chain")
def chain() -> None:
    """Run a local development chain (embedded Anvil); check deployment records against a chain."""


@chain.command("up")
@click.option("--port", type=int, default=8545, show_default=True, help="0 picks a free port.")
@click.option("--chain-id", type=int, default=ANVIL_CHAIN_ID, show_default=True)
@click.option(
    "--block-time", type=float, default=None, help="Seconds per block (default: automine)."
)
@click.option(
    "--deploy/--no-deploy",
    "do_deploy",
    default=True,
    show_default=True,
    help="Deploy the oracle with the first Anvil account.",
)
@click.option(
    "--records-dir",
    type=click.Path(path_type=Path),
    default=DEPLOYMENTS_DIR,
    show_default=True,
    help="Where to write the deployment record.",
)
def chain_up(
    port: int, chain_id: int, block_time: float | None, do_deploy: bool, records_dir: Path
) -> None:
    """Start Anvil on 127.0.0.1, deploy the oracle, and keep running until Ctrl-C."""
    node = AnvilProcess(chain_id=chain_id, block_time=block_time, port=port).start()
    try:
        click.echo(f"anvil:    {node.rpc_url}  (chain id {chain_id})")
        if do_deploy:
            w3 = Web3(Web3.HTTPProvider(node.rpc_url))
            deployment = deploy_oracle(w3, node.accounts()[0], records_dir=records_dir)
            _echo_deployment(deployment, records_dir / f"{chain_id}.json")
        click.echo("funded accounts (Anvil's public test mnemonic; never use them elsewhere):")
        for i, account in enumerate(node.accounts()[:5]):
            click.echo(f"  [{i}] {account.address}")
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            while not stop.wait(0.5):
                node.check_alive()
        except KeyboardInterrupt:
            pass
    finally:
        node.stop()
        click.echo("anvil stopped")


@chain.command("check")
@click.option("--rpc-url", default="http://127.0.0.1:8545", show_default=True)
@click.option(
    "--records-dir",
    type=click.Path(path_type=Path),
    default=DEPLOYMENTS_DIR,
    show_default=True,
    help="Use <records-dir>/<chain id the RPC serves>.json.",
)
@click.option(
    "--record",
    type=click.Path(path_type=Path),
    default=None,
    help="Check this record file instead (refused if it is for another chain).",
)
def chain_check(rpc_url: str, records_dir: Path, record: Path | None) -> None:
    """Check a deployment record against the chain at RPC_URL: same chain id, the contracts
    deployed there, the oracle built with the recorded configuration."""
    w3 = _connect(rpc_url)
    if record is not None:
        deployment = read_deployment(record)
    else:
        deployment = load_deployment(w3.eth.chain_id, records_dir)
        record = records_dir / f"{deployment.chain_id}.json"
    check_deployment(w3, deployment)
    click.echo(f"chain:    {deployment.chain_id}  ({rpc_url})")
    _echo_deployment(deployment, record)
    click.echo("record matches the chain")


def _connect(rpc_url: str) -> Web3:
    w3 = Web3(Web3.HTTPProvider(rpc_url))
    if not w3.is_connected():
        raise click.ClickException(f"cannot reach an Ethereum RPC at {rpc_url}")
    return w3


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
@click.option(
    "--records-dir", type=click.Path(path_type=Path), default=DEPLOYMENTS_DIR, show_default=True
)
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
    records_dir: Path,
) -> None:
    """Deploy GenerationOracle to the EVM chain at RPC_URL, signing with $GENORACLE_PRIVATE_KEY
    (or an Anvil account), write <records-dir>/<chainId>.json, then read the record back and
    check it against the chain."""
    w3 = _connect(rpc_url)
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
    )
    click.echo(f"chain:    {deployment.chain_id}  ({rpc_url})")
    _echo_deployment(deployment, records_dir / f"{deployment.chain_id}.json")
    click.echo("record read back and checked against the chain")
