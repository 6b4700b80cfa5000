"""`genoracle demo`: the whole flow on an embedded Anvil (see oracle.dev.demo)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("demo")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-output"),
    show_default=True,
    help="Where the image, the text and the nodes' logs and data are written.",
)
@click.option("--image-model", default="tiny-sd", show_default=True)
@click.option("--text-model", default="smollm2-135m", show_default=True)
@click.option(
    "--timeout",
    "timeout_s",
    type=float,
    default=240.0,
    show_default=True,
    help="Seconds to wait for each task.",
)
def demo(out_dir: Path, image_model: str, text_model: str, timeout_s: float) -> None:
    """Deploy, start four operators' nodes (one lazy), request an image and a completion as a
    dApp, and show the votes, the consensus, payouts, slashes and the dApp's callback."""
    from oracle.dev.demo import run_demo

    report = run_demo(
        out_dir,
        image_model=image_model,
        text_model=text_model,
        echo=click.echo,
        timeout_s=timeout_s,
    )
    if report.verify_exit_code != 0:
        raise click.ClickException("the saved image did not verify against the chain")
