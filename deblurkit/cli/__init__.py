"""The ``deblurkit`` command line (Typer + Rich): a thin layer over the engine modules.

Every command shares the conventions of :mod:`deblurkit.cli.common`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from deblurkit import __version__
from deblurkit.cli.bench import bench
from deblurkit.cli.blur import blur, synth_set
from deblurkit.cli.common import DeblurkitGroup, not_built
from deblurkit.cli.deblur import deblur, deblur_nonuniform
from deblurkit.cli.demo import demo
from deblurkit.cli.eval import eval_command
from deblurkit.cli.example import example
from deblurkit.cli.initializer import estimate_kernel_cmd, initializer_report_cmd, train_initializer_cmd
from deblurkit.cli.kernel_prior import kernel_prior_report_cmd
from deblurkit.cli.synth import synth_kernels
from deblurkit.cli.train_diffusion import train_diffusion_cmd
from deblurkit.cli.train_gan import train_kernel_gan_cmd

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
app.command("synth-set")(synth_set)
app.command("synth-nonuniform-set", hidden=True)(synth_set)  # the earlier name of the command
app.command("deblur")(deblur)
app.command("deblur-nonuniform")(deblur_nonuniform)
app.command("example")(example)
app.command("demo")(demo)
app.command("eval")(eval_command)
app.command("bench", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(bench)
app.command("train-kernel-gan")(train_kernel_gan_cmd)
app.command("kernel-prior-report")(kernel_prior_report_cmd)
app.command("train-initializer")(train_initializer_cmd)
app.command("train-diffusion")(train_diffusion_cmd)
app.command("estimate-kernel")(estimate_kernel_cmd)
app.command("initializer-report")(initializer_report_cmd)

#: Commands announced in ``--help`` before they are built: name → (issue, one-line help).
PLANNED: dict[str, tuple[str, str]] = {}


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
