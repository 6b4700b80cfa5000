"""`genoracle node run --config node.toml`: run a verifier node until stopped."""

from __future__ import annotations

from pathlib import Path

import click

from oracle.cli.options import logging_options
from oracle.config import load_node_config
from oracle.keys import load_account
from oracle.logging_setup import configure_logging


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
@logging_options
def run(config_path: Path, log_level: str, log_format: str) -> None:
    """Listen for tasks, run inference, commit, reveal and resolve; resume after a crash.

    Stop with Ctrl-C or SIGTERM: the current step finishes and the state stays on disk. An RPC
    that does not answer yet is waited for, at startup as while running.
    """
    configure_logging(log_level, log_format)
    config = load_node_config(config_path)
    account = load_account(config.account)
    from oracle.node import start_node

    start_node(config, account).run()
