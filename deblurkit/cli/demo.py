"""``deblurkit demo``: the main job on a built-in example (what ``make demo`` runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from deblurkit.cli.common import DeviceOpt, QuietOpt, SeedOpt, progress_bar, setup
from deblurkit.demo import run_demo
from deblurkit.examples import EXAMPLES
from deblurkit.pipeline import DeblurSettings
from deblurkit.runtime import resolve_device

ExampleName = Literal[tuple(EXAMPLES)]


def demo(
    output_dir: Annotated[Path, typer.Option("--output", "-o", help="Folder for the demo's files.")] = Path("demo-out"),
    name: Annotated[ExampleName, typer.Option("--example", help="Built-in sharp image.")] = "camera",
    size: Annotated[int, typer.Option("--size", min=64, help="Centre crop of the example (pixels).")] = 256,
    steps: Annotated[int | None, typer.Option("--steps", min=1, help="Override the preset's optimisation steps.")] = None,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
    quiet: QuietOpt = False,
) -> None:
    """Blur a built-in image with a synthetic camera shake, deblur it blindly, print PSNR and the files."""
    setup(quiet)
    settings = DeblurSettings(seed=seed, steps=steps)
    with progress_bar("demo: deblurring", total=None) as advance:
        result = run_demo(output_dir, name, size, settings=settings, device=resolve_device(device),
                          progress=lambda step, total, loss: advance(completed=step, total=total, loss=loss))
    files = result["files"]
    typer.echo(f"PSNR (shift-aligned, Y): blurry {result['psnr_blurry']:.2f} dB -> deblurred {result['psnr_deblurred']:.2f} dB")
    typer.echo(f"SSIM: blurry {result['ssim_blurry']:.4f} -> deblurred {result['ssim_deblurred']:.4f}")
    typer.echo(f"side-by-side: {files['side_by_side']}")
    typer.echo(f"deblurred image: {files['image']}; estimated kernel: {files['kernel_png']} (.npy beside it); record: {files['json']}")
