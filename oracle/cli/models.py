"""`genoracle models register NAME|FOLDER ...`: the registry owner registers models on chain.

It joins the `models` group of inference/cli.py (list, build, manifest), which knows nothing of
chains."""

from __future__ import annotations

from pathlib import Path

import click

from oracle.cli.common import chain_client, config_option, load_config
from oracle.sdk.models import ModelRegistration, register_model


def _lanes(lanes: tuple[int, int, int, int]) -> str:
    return "/".join(map(str, lanes))


def echo_registration(registration: ModelRegistration) -> None:
    """One line per model: what the registry holds, and whether this call registered it."""
    what = (
        "registered already"
        if registration.already_registered
        else f"registered (tx {registration.tx_hash})"
    )
    click.echo(
        f"{registration.name}  0x{registration.model_id.hex()}  {registration.kind}, "
        f"{registration.digest_scheme}, tolerance {_lanes(registration.default_tolerance)} "
        f"(max {_lanes(registration.max_tolerance)}), "
        + (
            f"audited at {_lanes(registration.audit_tolerance)}"
            if registration.audit_tolerance is not None
            else "not auditable"
        )
        + f": {what}"
    )


@click.command("register")
@config_option
@click.argument("models", nargs=-1, required=True)
def register(
    config_path: Path | None,
    rpc_url: str | None,
    oracle_address: str | None,
    models: tuple[str, ...],
) -> None:
    """Register each model (a built-in name, built on first use, or a folder with a
    manifest.json) in the oracle's model registry, with its manifest's scheme and tolerances.
    Signed with the registry owner's key (the deployer's, unless deploy --owner named another);
    a model registered already is left as it is."""
    client = chain_client(load_config(config_path, rpc_url, oracle_address))
    for model in models:
        echo_registration(register_model(client, model))
