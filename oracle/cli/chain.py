"""`genoracle chain up`: a local Anvil chain with the oracle deployed and the built-in models it
serves registered, ready for `genoracle node run`. It joins the `chain` group of deploy/cli.py."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import click
from web3 import Web3

from deploy.anvil import ANVIL_CHAIN_ID, AnvilProcess
from deploy.cli import echo_deployment, records_dir_option
from deploy.deployer import deploy_oracle, deployments_dir, record_path
from oracle.chain.client import ChainClient
from oracle.cli.models import echo_registration
from oracle.config import ChainSettings
from oracle.sdk.models import register_model

#: The built-in models a local chain serves unless told otherwise: those of node.example.toml.
LOCAL_MODELS = ("tiny-sd", "tiny-llama")


@click.command("up")
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
    "--model",
    "models",
    multiple=True,
    default=LOCAL_MODELS,
    show_default=True,
    help="A built-in model (or model folder) to register; repeat for several.",
)
@click.option("--no-models", is_flag=True, help="Register no model.")
@records_dir_option
def chain_up(
    port: int,
    chain_id: int,
    block_time: float | None,
    do_deploy: bool,
    models: tuple[str, ...],
    no_models: bool,
    records_dir: Path | None,
) -> None:
    """Start Anvil on 127.0.0.1, deploy the oracle, register the models it serves, and keep
    running until Ctrl-C. The deployment record goes where `genoracle deploy` writes it."""
    records_dir = records_dir if records_dir is not None else deployments_dir()
    node = AnvilProcess(chain_id=chain_id, block_time=block_time, port=port).start()
    try:
        click.echo(f"anvil:    {node.rpc_url}  (chain id {chain_id})")
        owner = node.accounts()[0]
        if do_deploy:
            w3 = Web3(Web3.HTTPProvider(node.rpc_url))
            deployment = deploy_oracle(w3, owner, records_dir=records_dir, announce=click.echo)
            echo_deployment(deployment, record_path(chain_id, records_dir))
            settings = ChainSettings(rpc_url=node.rpc_url, oracle_address=deployment.oracle)
            client = ChainClient(settings, owner)
            for model in () if no_models else models:
                echo_registration(register_model(client, model))
        click.echo("funded accounts (Anvil's public test mnemonic; never use them elsewhere):")
        for i, account in enumerate(node.accounts()[:5]):
            key = "0x" + account.key.hex().removeprefix("0x")
            click.echo(f"  [{i}] {account.address}  key {key}")
        click.echo("ready")
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
