"""``deblurkit synth-kernels``: write a set of random motion-blur kernels."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from deblurkit.cli.common import OverwriteOpt, QuietOpt, SeedOpt, existing_outputs, info, progress_bar, setup
from deblurkit.errors import DeblurkitError
from deblurkit.io import write_image, write_kernel_set
from deblurkit.kernels import FAMILIES, SynthesisConfig, synthesize_kernels

FamilyName = Literal[tuple(sorted(FAMILIES))]  # the --family choices
from deblurkit.viz import kernel_grid


def synth_kernels(
    output: Annotated[Path, typer.Option("--output", "-o", help="Destination .npz (key 'kernels': (N, S, S) float32).")],
    size: Annotated[int, typer.Option("--size", min=5, help="Kernel window side S in pixels.")] = 31,
    count: Annotated[int, typer.Option("--count", "-n", min=1, help="Number of kernels N.")] = 1000,
    family: Annotated[
        FamilyName, typer.Option("--family", help="Trajectory family.")
    ] = "trajectory",
    min_length: Annotated[float, typer.Option("--min-length", min=1.0, help="Shortest blur extent (pixels).")] = 3.0,
    max_length: Annotated[
        float | None, typer.Option("--max-length", min=1.0, help="Longest blur extent (pixels); default S − 2.")
    ] = None,
    preview: Annotated[
        Path | None, typer.Option("--preview", help="Also save a PNG grid of the first 64 kernels.")
    ] = None,
    seed: SeedOpt = 0,
    overwrite: OverwriteOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Synthesise random camera-shake kernels (non-negative, sum 1, centred on their centre of mass)."""
    setup(quiet)
    if output.suffix.lower() != ".npz":
        raise DeblurkitError(f"output must be a .npz file, got {output}")
    if existing_outputs([output] + ([preview] if preview else []), overwrite):
        info(f"{output} exists; skipping (use --overwrite to redo)")
        return
    try:
        cfg = SynthesisConfig(family, size, count, seed, min_length=min_length, max_length=max_length)
    except ValueError as e:
        raise DeblurkitError(str(e)) from None
    with progress_bar(f"synth {family} {size}×{size}", total=count) as advance:
        kernels, params = synthesize_kernels(cfg, progress=lambda done: advance(completed=done))
    write_kernel_set(output, kernels, params)
    if preview is not None:
        write_image(preview, kernel_grid(kernels[:64], cols=8), bit_depth=8)
    info(f"wrote {count} kernels of {size}×{size} to {output}")
