"""Click options shared by the long-running commands (`node run`, `gateway run`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click

from oracle.logging_setup import LOG_FORMATS

F = TypeVar("F", bound=Callable[..., object])


def logging_options(command: F) -> F:
    """`--log-level` and `--log-format` (text, or json: one object per line)."""
    command = click.option(
        "--log-format",
        default="text",
        show_default=True,
        envvar="GENORACLE_LOG_FORMAT",
        type=click.Choice(LOG_FORMATS),
        help="json: one JSON object per line (time, level, logger, message, task_id where known).",
    )(command)
    return click.option(
        "--log-level",
        default="info",
        show_default=True,
        type=click.Choice(["debug", "info", "warning", "error"]),
    )(command)
