"""``deblurkit deblur``: uniform blind deblurring of files, folders or list files (GLKM Algorithm 2).

Thin layer over :mod:`deblurkit.pipeline` (inputs, outputs, resume, sharding) and
:func:`deblurkit.solvers.deblur.deblur_image`. Under
``torchrun --nproc_per_node N -m deblurkit deblur DIR -o OUT`` every rank takes a disjoint share of
the inputs (one GPU per rank when present); only rank 0 shows the overall progress.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Annotated, Literal

import torch
import typer

from deblurkit.cli.common import DeviceOpt, OverwriteOpt, QuietOpt, SeedOpt, console, info, progress_bar, setup
from deblurkit.errors import DeblurkitError
from deblurkit.pipeline import DeblurSettings, collect_inputs, deblur_file, is_finished, load_models, shard
from deblurkit.train.distributed import setup_distributed, teardown_distributed


# options shared by `deblur` and `deblur-nonuniform`
InputsArg = Annotated[list[Path], typer.Argument(help="Blurry images, folders (recursive) or .txt/.lst list files.")]
OutputDirOpt = Annotated[Path, typer.Option("--output", "-o", help="Output folder.")]
GlobOpt = Annotated[str | None, typer.Option("--glob", help="File pattern inside folders, e.g. '*_blur.png'.")]
GanOpt = Annotated[Path | None, typer.Option("--gan", help="Kernel-generator weights (default: shipped).")]
InitializerOpt = Annotated[Path | None, typer.Option("--initializer", help="Initializer weights (default: shipped).")]


def deblur(
    inputs: InputsArg,
    output_dir: OutputDirOpt = Path("deblurred"),
    prior: Annotated[
        Literal["l0", "dip", "vdip-std", "vdip-sparse", "vdip-extreme", "bird", "blinddps"],
        typer.Option("--prior", help="Image prior: l0 (the coarse-to-fine estimator's sparse-gradient prior; seconds to a minute on a CPU); dip (adds GLKM's joint DIP + latent-kernel refinement; several minutes on a CPU); vdip-std / vdip-sparse / vdip-extreme (the same refinement with the variational DIP of Huo et al. 2023 and its sparse-gradient or extreme-channel prior; about as long as dip); bird / blinddps (the refinement with a diffusion model: BIRD's optimised DDIM inversion or BlindDPS's posterior sampling, on the central ≤128 px of the kernel-estimation window; minutes on a CPU, see --diffusion-model). With --kernel-prior fcn: the image prior of SelfDeblur's loop."),
    ] = "l0",
    diffusion_model: Annotated[
        Path | None,
        typer.Option("--diffusion-model", help="--prior bird/blinddps: a local diffusers folder (unet/ + scheduler/, e.g. an unconditional DDPM); default weights/diffusion_64 (deblurkit train-diffusion)."),
    ] = None,
    kernel_prior: Annotated[
        Literal["auto", "glkm", "free", "fcn"],
        typer.Option("--kernel-prior", help="glkm (kernel in GLKM's latent space, coarse to fine), free (pixel kernel, same loop), fcn (SelfDeblur's DIP baseline, minutes), auto: glkm when its generator ships."),
    ] = "auto",
    preset: Annotated[Literal["fast", "paper"], typer.Option("--preset", help="fast (CPU) or paper (5000 steps, GPU).")] = "fast",
    kernel_size: Annotated[
        str, typer.Option("--kernel-size", help="Kernel window: odd pixels (GLKM: a generator size 31/45/55/65/75), or auto (rule in solvers.kernel_size).")
    ] = "auto",
    glob: GlobOpt = None,
    gan: GanOpt = None,
    initializer: InitializerOpt = None,
    init_only: Annotated[bool, typer.Option("--init-only", help="Only write the initial kernel G(E(y)).")] = False,
    steps: Annotated[int | None, typer.Option("--steps", min=1, help="Override the preset's optimisation steps (--prior bird: its iterations N; blinddps: its reverse-diffusion steps).")] = None,
    estimates: Annotated[
        int | None,
        typer.Option("--estimates", min=1, help="Kernel estimates cross-checked before one is accepted (fast: 2; 1 = no cross-check, about half the time)."),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, help="Kernel estimates computed at once, each on threads/N CPU threads (default: as many as --estimates, up to the CPU threads)."),
    ] = None,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
    overwrite: OverwriteOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Blind deblurring: writes <stem>_deblurred.<ext>, <stem>_kernel.png/.npy and <stem>.json per input."""
    settings = DeblurSettings(
        prior=prior, kernel_prior=kernel_prior, preset=preset, kernel_size=kernel_size, seed=seed,
        gan=str(gan) if gan else None, initializer=str(initializer) if initializer else None, init_only=init_only, steps=steps,
        estimates=estimates, workers=workers, diffusion_model=str(diffusion_model) if diffusion_model else None,
    )
    settings.resolved_kernel_size()  # a malformed size fails before any work
    run_batch(inputs, output_dir, settings, glob, device, overwrite, quiet, "deblurring")


def deblur_nonuniform(
    inputs: InputsArg,
    output_dir: OutputDirOpt = Path("deblurred"),
    grid: Annotated[
        str, typer.Option("--grid", help="Patch grid ROWSxCOLS (e.g. 5x10), or auto: one patch per ~128 px.")
    ] = "auto",
    field: Annotated[
        Literal["camera", "free"],
        typer.Option("--field", help="Patch kernels: camera = all rendered from one estimated camera motion (L0 image prior, seconds); free = one GLKM latent code per patch, optimised with a DIP (GLKM Algorithm 4, minutes)."),
    ] = "camera",
    prior: Annotated[Literal["dip"], typer.Option("--prior", help="Image prior of --field free (DIP).")] = "dip",
    kernel_prior: Annotated[
        Literal["auto", "glkm", "fcn"],
        typer.Option("--kernel-prior", help="Prior of the global first stage, auto = glkm when an initializer of the size ships, else fcn (free patch kernels always use GLKM's latent space)."),
    ] = "auto",
    preset: Annotated[Literal["fast", "paper"], typer.Option("--preset", help="fast (CPU) or paper (5000 steps per stage, GPU).")] = "fast",
    kernel_size: Annotated[str, typer.Option("--kernel-size", help="Kernel window (a generator size: 31/45/55/65/75), or auto.")] = "auto",
    glob: GlobOpt = None,
    gan: GanOpt = None,
    initializer: InitializerOpt = None,
    steps: Annotated[int | None, typer.Option("--steps", min=1, help="Override both stages' optimisation steps.")] = None,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
    overwrite: OverwriteOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Non-uniform blind deblurring (SVOLA, GLKM Algorithm 4): <stem>_deblurred.<ext>, <stem>_kernels.png/.npy, <stem>.json."""
    settings = DeblurSettings(
        prior=prior, kernel_prior=kernel_prior, preset=preset, kernel_size=kernel_size, seed=seed,
        gan=str(gan) if gan else None, initializer=str(initializer) if initializer else None, steps=steps,
        nonuniform=True, grid=grid, field=field,
    )
    settings.resolved_grid()  # a malformed grid or size fails before any work
    settings.resolved_kernel_size()
    run_batch(inputs, output_dir, settings, glob, device, overwrite, quiet, "deblurring (non-uniform)")


def run_batch(
    inputs: list[Path],
    output_dir: Path,
    settings: DeblurSettings,
    glob: str | None,
    device: str,
    overwrite: bool,
    quiet: bool,
    title: str,
) -> None:
    """The batch loop shared by ``deblur`` and ``deblur-nonuniform``: shard, skip finished, go on after a failure.

    Raises:
        typer.Exit: with code 1 if any input failed.
    """
    dist = setup_distributed(device)
    try:
        setup(quiet or not dist.is_main)
        files = collect_inputs(inputs, glob)
        mine = shard(files, dist.rank, dist.world_size)
        todo = [f for f in mine if overwrite or not is_finished(f, output_dir)]
        if len(todo) < len(mine):
            info(f"{len(mine) - len(todo)} of {len(mine)} inputs already done; skipping them (use --overwrite to redo)")
        models_for = cache(lambda size: load_models(size, settings, dist.device))
        failed = 0
        with progress_bar(title, total=len(todo)) as advance:
            steps = advance.sub("  steps (this image)")
            for i, path in enumerate(todo):
                steps(completed=0, total=1, image=path.name)
                try:
                    with torch.random.fork_rng(devices=[]):
                        record = deblur_file(
                            path, output_dir, settings, models_for, dist.device,
                            progress=lambda step, total, loss: steps(completed=step, total=total, loss=loss),
                        )
                    for note in record["notes"] + record.get("result", {}).get("notes", []):
                        info(f"{path.name}: {note}")
                except DeblurkitError as e:
                    failed += 1
                    console.print(f"error: {e}", markup=False, highlight=False, soft_wrap=True)
                advance(completed=i + 1, image=path.name)
        info(f"{len(todo) - failed} of {len(todo)} done, results in {output_dir}" + (f"; {failed} failed" if failed else ""))
        if failed:
            raise typer.Exit(1)
    finally:
        teardown_distributed()
