"""`genoracle gateway run|new-key`: the HTTP gateway that submits tasks for API-key clients."""

from __future__ import annotations

from pathlib import Path

import click

from oracle.cli.options import logging_options
from oracle.config import load_gateway_config
from oracle.keys import load_account
from oracle.logging_setup import configure_logging


@click.group("gateway")
def gateway() -> None:
    """Serve task requests over HTTP, paid from the gateway's account."""


@gateway.command("run")
@click.option(
    "--config",
    "config_path",
    required=True,
    envvar="GENORACLE_CONFIG",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The gateway's TOML file ([chain], [account], [gateway], [gateway.keys.NAME]).",
)
@logging_options
def run(config_path: Path, log_level: str, log_format: str) -> None:
    """Serve the gateway until stopped (Ctrl-C or SIGTERM). OpenAPI at /docs."""
    configure_logging(log_level, log_format)
    config = load_gateway_config(config_path)
    from oracle.gateway.runtime import build_gateway, serve

    built = build_gateway(config, load_account(config.account))
    serve(built, config.gateway.host, config.gateway.port)


@gateway.command("new-key")
@click.argument("name")
def new_key(name: str) -> None:
    """Make an API key for client NAME: give the key to the client, the table to the config."""
    from oracle.gateway.keys import key_sha256
    from oracle.gateway.keys import new_key as make_key

    key = make_key()
    click.echo(f"API key for {name} (give it to the client; it is not stored anywhere):\n  {key}")
    click.echo("\nAdd to the gateway's TOML file:\n")
    click.echo(f"[gateway.keys.{name}]")
    click.echo(f'key_sha256 = "{key_sha256(key)}"')
    click.echo("tasks_per_minute = 10")
    click.echo("spend_per_day_eth = 0.1")
