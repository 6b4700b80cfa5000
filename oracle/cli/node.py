"""`genoracle node run --config node.toml`: run a verifier node until stopped."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from oracle.config import load_node_config
from oracle.keys import load_account


@click.group("node")
def node() -> None:
    """Run a verifier node."""


@node.command("run")
@click.option(
    "--config",
    "config_path",
    required=True,
    envvar="GENORACLE_CONFIG",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The node's TOML file.",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
)
def run(config_path: Path, log_level: str) -> None:
    """Listen for tasks, run inference, commit, reveal and resolve; resume after a crash.

    Stop with Ctrl-C or SIGTERM: the current step finishes and the state stays on disk. An RPC
    that does not answer yet is waited for, at startup as while running.
    """
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("urllib3", "web3", "httpx", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    config = load_node_config(config_path)
    account = load_account(config.account)
    from oracle.node import start_node

    start_node(config, account).run()
