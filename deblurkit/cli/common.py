"""Conventions every ``deblurkit`` command shares: options, errors, warnings, progress.

- Options ``--quiet``, ``--seed``, ``--device``, ``--overwrite`` are defined once here as
  ``Annotated`` types and reused by every command.
- A :class:`~deblurkit.errors.DeblurkitError` (or a bad-parameter error) ends the command with one
  ``error:`` line on stderr and exit status 1; an unexpected exception gives one
  ``internal error:`` line (set ``DEBLURKIT_DEBUG=1`` for the traceback). Commands that are not
  built yet exit with status 2.
- :class:`~deblurkit.errors.DeblurkitWarning` is printed as one ``warning:`` line unless ``--quiet``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
import sys
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from typer.core import TyperGroup

from deblurkit.errors import DeblurkitError, DeblurkitWarning

#: stderr console for messages and progress (stdout stays clean for pipes).
console = Console(stderr=True, highlight=False)
EXIT_NOT_BUILT = 2

QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or warnings; errors only.")]
SeedOpt = Annotated[int, typer.Option("--seed", min=0, help="Random seed (same seed, same output on CPU).")]
DeviceOpt = Annotated[Literal["auto", "cpu", "cuda"], typer.Option("--device", help="Where to compute.")]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Redo work whose outputs already exist.")]


#: ``--family`` choices of the training commands (``mix`` = half trajectory, half gp).
TrainingFamily = Literal["mix", "trajectory", "gp"]


def training_kernels(
    kernels: Path | None,
    synth: int | None,
    family: str,
    seed: int,
    size: int,
    min_length: float = 3.0,
    max_length: float | None = None,
) -> tuple:
    """The training kernels of ``--kernels FILE.npz`` or ``--synth N``: ``((N, S, S) float32, description)``.

    Raises:
        DeblurkitError: both or neither option given, kernels of another size, or synthesis
            settings that are rejected.
    """
    from deblurkit.io import read_kernel_set
    from deblurkit.kernels import synthesize_training_set

    if (kernels is None) == (synth is None):
        raise DeblurkitError("give exactly one of --kernels FILE.npz or --synth N")
    if kernels is not None:
        data, _ = read_kernel_set(kernels)
        if data.shape[1:] != (size, size):
            raise DeblurkitError(f"{kernels}: kernels are {data.shape[1]}×{data.shape[2]}, but --size is {size}")
        return data, {"source": str(kernels), "count": int(len(data))}
    info(f"synthesising {synth} {family} kernels of {size}×{size} (seed {seed})")
    try:
        return synthesize_training_set(size, synth, family, seed, min_length, max_length)
    except ValueError as e:
        raise DeblurkitError(str(e)) from None


class _State:
    quiet = False


def setup(quiet: bool) -> None:
    """Apply ``--quiet`` for this command (progress and warnings hidden)."""
    _State.quiet = quiet
    warnings.simplefilter("ignore" if quiet else "default", DeblurkitWarning)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    if issubclass(category, DeblurkitWarning):
        console.print("[yellow]warning:[/] ", end="", markup=True, highlight=False)
        console.print(" ".join(str(message).split()), markup=False, highlight=False, soft_wrap=True)
    else:
        _default_showwarning(message, category, filename, lineno, file, line)


_default_showwarning = warnings.showwarning


def info(message: str) -> None:
    """Print a one-line status message on stderr unless ``--quiet``."""
    if not _State.quiet:
        console.print(message, markup=False, highlight=False, soft_wrap=True)


def fail(message: str) -> None:
    """Raise the one-line user error ``message`` (exit status 1)."""
    raise DeblurkitError(message)


def not_built(command: str, issue: str) -> None:
    """End a command that is not built yet with one line and exit status 2."""
    console.print(f"deblurkit {command}: not built yet ({issue})", markup=False, soft_wrap=True)
    raise typer.Exit(EXIT_NOT_BUILT)


def training_paths(output: Path | None, default: str, workdir: Path | None, threads: int | None) -> tuple[Path, Path]:
    """Resolve a training command's weights file and working folder, and apply ``--threads``.

    Args:
        output: ``-o`` value or ``None`` for ``default``.
        default: default weights path, e.g. ``"weights/kernel_gan_31.safetensors"``.
        workdir: ``--workdir`` or ``None`` for the output path with suffix ``.train``.
        threads: ``--threads`` (CPU threads of this process) or ``None``.

    Returns:
        ``(output, workdir)``.

    Raises:
        DeblurkitError: an output that is not a ``.safetensors`` file.
    """
    import torch

    output = output or Path(default)
    if output.suffix != ".safetensors":
        raise DeblurkitError(f"output must be a .safetensors file, got {output}")
    if threads is not None:
        torch.set_num_threads(threads)
    return output, workdir or output.with_suffix(".train")


def check_checkpoint(ckpt: Path, resume: bool, overwrite: bool) -> None:
    """Refuse to silently restart or resume a training run.

    Raises:
        DeblurkitError: a checkpoint exists but neither ``--resume`` nor ``--overwrite`` was
            given, or ``--resume`` was given without a checkpoint.
    """
    if ckpt.exists() and not resume and not overwrite:
        raise DeblurkitError(f"{ckpt} exists from an earlier run; use --resume to continue it or --overwrite to start over")
    if resume and not ckpt.exists():
        raise DeblurkitError(f"--resume: no checkpoint at {ckpt}")


def existing_outputs(paths: list[Path], overwrite: bool) -> bool:
    """Whether a job can be skipped: all its outputs exist and ``--overwrite`` was not given."""
    return not overwrite and all(Path(p).exists() for p in paths)


@contextmanager
def progress_bar(description: str, total: int | None, quiet: bool | None = None) -> Iterator:
    """A Rich progress bar (steps, extra fields such as the loss, elapsed time, ETA).

    Yields a function ``advance(n=1, completed=None, total=None, **fields)``; fields are shown
    after the bar (e.g. ``loss=``), ``total`` changes the bar's length. ``advance.sub(label)``
    adds a second bar below (e.g. the optimisation steps of the current image) and returns its
    own ``advance``. Hidden when ``--quiet``.
    """
    hidden = _State.quiet if quiet is None else quiet
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[extra]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=console, disable=hidden, transient=False) as progress:

        def bar(label: str, length: int | None) -> Callable[..., None]:
            task = progress.add_task(label, total=length, extra="")

            def advance(n: int = 1, completed: int | None = None, total: int | None = None, **fields) -> None:
                extra = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in fields.items())
                more = {"total": total} if total is not None else {}
                if completed is not None:
                    progress.update(task, completed=completed, extra=extra, **more)
                else:
                    progress.update(task, advance=n, extra=extra, **more)

            return advance

        main = bar(description, total)
        main.sub = lambda label, length=None: bar(label, length)  # type: ignore[attr-defined]
        yield main


def error_line(label: str, message: str) -> None:
    """Print ``label: message`` as exactly one line on stderr."""
    one_line = " ".join(str(message).split())
    console.print(f"[red]{label}:[/] ", end="", markup=True, highlight=False)
    console.print(one_line, markup=False, highlight=False, soft_wrap=True)


class DeblurkitGroup(TyperGroup):
    """Typer group that turns user errors into one line and a non-zero exit status."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):  # noqa: ANN001, ANN201
        """Like click's ``main``, but usage errors are one ``error:`` line (exit status 2)."""
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except typer.TyperException as e:  # usage errors (bad option values, missing arguments)
            if not standalone_mode:
                raise
            if type(e).__name__ == "NoArgsIsHelpError":
                console.print(e.format_message(), markup=False, soft_wrap=True)
                sys.exit(0)
            error_line("error", e.format_message())
            sys.exit(getattr(e, "exit_code", 2))
        except typer.Abort:
            if not standalone_mode:
                raise
            console.print("aborted", markup=False)
            sys.exit(1)
        if standalone_mode:
            sys.exit(rv if isinstance(rv, int) else 0)
        return rv

    def invoke(self, ctx: typer.Context):  # noqa: ANN201
        """Run the sub-command; map errors to one-line messages (see module doc)."""
        warnings.showwarning = _show_warning
        try:
            return super().invoke(ctx)
        except DeblurkitError as e:
            error_line("error", str(e))
            raise typer.Exit(1) from None
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except KeyboardInterrupt:
            console.print("interrupted", markup=False)
            raise typer.Exit(130) from None
        except Exception as e:  # noqa: BLE001 - the last line of defence against tracebacks
            if os.environ.get("DEBLURKIT_DEBUG"):
                raise
            error_line("internal error", f"{type(e).__name__}: {e} (set DEBLURKIT_DEBUG=1 for the traceback)")
            raise typer.Exit(1) from None


def command_line(ctx: typer.Context, program: str = "deblurkit") -> str:
    """The canonical command line of the running command, rebuilt from its parsed parameters.

    Options left at their default are omitted; flags appear when set. Stored in weights'
    metadata and run records so that a result says how to reproduce it.
    """
    import shlex

    words = [program, ctx.info_name or ""]
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        if value is None or value == param.default or param.name in ("quiet", "overwrite", "resume"):
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        if param.param_type_name == "argument":
            words += [str(v) for v in values]
        elif getattr(param, "is_flag", False):
            words.append(param.opts[0])
        else:
            for v in values:
                words += [param.opts[0], str(v)]
    return shlex.join(words)
