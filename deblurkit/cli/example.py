"""``deblurkit example``: write a built-in sharp example image (for demos and smoke tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from deblurkit.cli.common import OverwriteOpt, QuietOpt, existing_outputs, info, setup
from deblurkit.examples import EXAMPLES, example_image
from deblurkit.io import write_image

ExampleName = Literal[tuple(EXAMPLES)]


def example(
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the image.")],
    name: Annotated[ExampleName, typer.Argument(help="Which example.")] = "camera",
    overwrite: OverwriteOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Write a built-in sharp example image (scikit-image sample data, public domain)."""
    setup(quiet)
    if existing_outputs([output], overwrite):
        info(f"{output} exists; skipping (use --overwrite to redo)")
        return
    write_image(output, example_image(name), bit_depth=8)
    info(f"wrote {output}")
