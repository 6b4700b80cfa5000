"""`genoracle gateway run|new-key`: the HTTP gateway that submits tasks for API-key clients."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from oracle.config import load_gateway_config
from oracle.keys import load_account


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
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
)
def run(config_path: Path, log_level: str) -> None:
    """Serve the gateway until stopped (Ctrl-C or SIGTERM). OpenAPI at /docs."""
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("urllib3", "web3", "httpx", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
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
