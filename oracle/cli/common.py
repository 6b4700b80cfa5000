"""What every oracle command shares: config loading, the client, errors turned into clean exits."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import click

from oracle.chain.client import ChainClient
from oracle.config import ClientConfig, load_client_config
from oracle.keys import load_account
from oracle.sdk.client import OracleClient

P = ParamSpec("P")
R = TypeVar("R")

WEI_PER_ETH = 10**18


def config_option(function: Callable[P, R]) -> Callable[P, R]:
    """--config, --rpc-url, --oracle: a TOML file with CLI overrides on top."""
    function = click.option(
        "--oracle",
        "oracle_address",
        default=None,
        help="Oracle contract address (default: config, then the deployment record).",
    )(function)
    function = click.option(
        "--rpc-url",
        default=None,
        help="JSON-RPC URL (default: config or $GENORACLE_CHAIN_RPC_URL).",
    )(function)
    function = click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar="GENORACLE_CONFIG",
        default=None,
        help="TOML config file ([chain], [account], ...); also $GENORACLE_CONFIG.",
    )(function)
    return function


def load_config(
    config_path: Path | None, rpc_url: str | None, oracle_address: str | None
) -> ClientConfig:
    overrides = {"chain": {"rpc_url": rpc_url, "oracle_address": oracle_address}}
    return load_client_config(config_path, overrides=overrides)


def chain_client(config: ClientConfig, *, with_account: bool = True) -> ChainClient:
    account = load_account(config.account) if with_account else None
    return ChainClient(config.chain, account)


def oracle_client(config: ClientConfig, *, with_account: bool = True) -> OracleClient:
    return OracleClient(chain_client(config, with_account=with_account))


def parse_eth(text: str) -> int:
    """'1.5' ETH -> wei; '123wei' -> 123 wei."""
    value = text.strip().lower()
    try:
        if value.endswith("wei"):
            wei = int(value[:-3])
        else:
            from decimal import Decimal, InvalidOperation

            try:
                wei = int(Decimal(value.removesuffix("eth")) * WEI_PER_ETH)
            except InvalidOperation:
                raise ValueError(value) from None
    except ValueError:
        raise click.BadParameter(f"{text!r} is not an amount (ETH like 1.5, or 1000wei)") from None
    if wei < 0:
        raise click.BadParameter(f"{text!r} is negative")
    return wei


def format_eth(wei: int) -> str:
    return f"{wei / WEI_PER_ETH:.6f} ETH ({wei} wei)"


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))
