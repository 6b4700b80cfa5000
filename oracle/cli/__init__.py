"""The `genoracle` command: one click group that gathers every subcommand of the project."""

from __future__ import annotations

from typing import Any

import click

from deploy.errors import DeployError
from inference.errors import InferenceError
from oracle.errors import OracleError

CLEAN_ERRORS = (OracleError, InferenceError, DeployError)
"""The roots of every error the project raises on purpose: each becomes one line, never a
traceback (anything else is a bug, and its traceback is what a bug report needs)."""


class _Commands(click.Group):
    """The command group, plus the one place where the project's errors become messages."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CLEAN_ERRORS as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="genoracle")
def main() -> None:
    """genoracle: verified generative AI on EVM chains."""


def _register_commands() -> None:
    """Attach the subcommands; each lives in the module that owns its domain."""
    # Each helper module exposes click commands; keep this list sorted by domain.
    # (inference) digest, models, generate:   inference.cli
    # (study)     study:                      inference.study.cli
    # (deploy)    chain check, deploy:        deploy.cli
    # (oracle)    chain up, models register, operator, node, task, verify, demo, bench, gateway:
    #             oracle.cli.*
    from inference.cli import digest, generate, models

    main.add_command(digest)
    main.add_command(models)
    main.add_command(generate)

    from inference.study.cli import study

    main.add_command(study)

    from deploy.cli import chain, deploy

    main.add_command(chain)
    main.add_command(deploy)

    from oracle.cli.chain import chain_up
    from oracle.cli.models import register

    chain.add_command(chain_up)
    models.add_command(register)

    from oracle.cli.node import node
    from oracle.cli.operator import operator
    from oracle.cli.task import task, verify
    from oracle.cli.train import train

    task.add_command(train)

    main.add_command(operator)
    main.add_command(node)
    main.add_command(task)
    main.add_command(verify)

    from oracle.cli.demo import demo

    main.add_command(demo)

    from oracle.cli.gateway import gateway

    main.add_command(gateway)


_register_commands()
