"""The ``deblurkit`` command line (Typer + Rich): a thin layer over the engine modules.

Every command shares the conventions of :mod:`deblurkit.cli.common`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from deblurkit import __version__
from deblurkit.cli.blur import blur
from deblurkit.cli.common import DeblurkitGroup, not_built
from deblurkit.cli.example import example
from deblurkit.cli.synth import synth_kernels

app = typer.Typer(
    name="deblurkit",
    cls=DeblurkitGroup,
    help="Blind motion deblurring with generative latent kernel modelling (GLKM).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"deblurkit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Blind motion deblurring with generative latent kernel modelling (GLKM)."""


app.command("synth-kernels")(synth_kernels)
app.command("blur")(blur)
app.command("example")(example)

#: Commands announced in ``--help`` before they are built: name → (issue, one-line help).
PLANNED = {
    "train-kernel-gan": ("issue #3", "Train the DCGAN kernel generator (kernel prior)."),
    "train-initializer": ("issue #4", "Train the kernel initializer by collaborative GAN inversion."),
    "deblur": ("issue #5", "Uniform blind deblurring (DIP-GLKM)."),
    "deblur-nonuniform": ("issue #7", "Spatially varying blind deblurring (SVOLA + GLKM)."),
    "eval": ("issue #6", "Benchmark metrics and reports."),
}


def _planned(name: str, issue: str):  # noqa: ANN202
    def command(ctx: typer.Context) -> None:
        not_built(name, issue)

    return command


for _name, (_issue, _help) in PLANNED.items():
    app.command(
        _name,
        help=f"{_help} (not built yet)",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )(_planned(_name, _issue))


def main() -> None:
    """Console-script entry point."""
    app()
