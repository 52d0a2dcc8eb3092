"""``deblurkit train-kernel-gan``: train the DCGAN kernel generator (GLKM §IV-B).

Thin layer: reads or synthesises the training kernels, calls
:func:`deblurkit.train.kernel_gan.train_kernel_gan`, writes the weights
(:func:`deblurkit.models.serialization.save_kernel_generator`). Under
``torchrun --nproc_per_node N -m deblurkit train-kernel-gan ...`` the same command trains with
DistributedDataParallel (gloo on the CPU, NCCL on CUDA); only rank 0 prints and writes.
"""

from __future__ import annotations

import platform
import shlex
import time
from pathlib import Path
from typing import Annotated

import torch
import typer

from deblurkit.cli.common import (
    console,
    DeviceOpt,
    OverwriteOpt,
    QuietOpt,
    SeedOpt,
    check_checkpoint,
    existing_outputs,
    info,
    progress_bar,
    TrainingFamily,
    setup,
    training_paths,
    training_kernels,
)
from deblurkit.errors import DeblurkitError
from deblurkit.models.kernel_gan import SIZES
from deblurkit.models.serialization import save_kernel_generator
from deblurkit.train.distributed import distributed
from deblurkit.train.kernel_gan import GANTrainConfig, planned_steps, train_kernel_gan



def train_kernel_gan_cmd(
    size: Annotated[int, typer.Option("--size", help="Kernel side S: 31, 45, 55, 65 or 75.")] = 31,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Weights file (.safetensors); default weights/kernel_gan_S.safetensors."),
    ] = None,
    kernels: Annotated[
        Path | None, typer.Option("--kernels", help="Training kernels: .npz with 'kernels' (N, S, S) (synth-kernels).")
    ] = None,
    synth: Annotated[
        int | None, typer.Option("--synth", min=1, help="Instead of --kernels: synthesise N training kernels.")
    ] = None,
    family: Annotated[TrainingFamily, typer.Option("--family", help="Family for --synth (mix = half trajectory, half gp).")] = "mix",
    min_length: Annotated[float, typer.Option("--min-length", min=1.0, help="--synth: shortest blur (pixels).")] = 3.0,
    max_length: Annotated[
        float | None, typer.Option("--max-length", min=1.0, help="--synth: longest blur (pixels); default S − 2.")
    ] = None,
    epochs: Annotated[int, typer.Option("--epochs", min=1, help="Passes over the data.")] = 20,
    batch: Annotated[int, typer.Option("--batch", min=1, help="Global batch size (split over torchrun processes).")] = 128,
    lr: Annotated[float, typer.Option("--lr", min=0.0, help="Adam learning rate (both networks).")] = 2e-4,
    instance_noise: Annotated[
        float,
        typer.Option(
            "--instance-noise", min=0.0, help="Std of Gaussian noise on the discriminator's inputs, in units of 1/S² (0: paper)."
        ),
    ] = 0.0,
    label_smoothing: Annotated[
        float, typer.Option("--label-smoothing", min=0.0, max=0.5, help="Real-label target 1 − this (0: paper).")
    ] = 0.0,
    r1: Annotated[
        float,
        typer.Option("--r1", min=0.0, help="R1 gradient-penalty weight on real kernels (in units of 1/S²; 0: paper)."),
    ] = 0.0,
    feature_matching: Annotated[
        float,
        typer.Option("--feature-matching", min=0.0, help="Weight of feature matching in the generator's loss (0: paper)."),
    ] = 0.0,
    steps: Annotated[
        int | None, typer.Option("--steps", min=1, help="Stop after this many steps in total (smoke runs).")
    ] = None,
    checkpoint_every: Annotated[
        int, typer.Option("--checkpoint-every", min=0, help="Checkpoint every N steps as well as every epoch (0: epochs only).")
    ] = 500,
    workdir: Annotated[
        Path | None,
        typer.Option("--workdir", help="Checkpoints and per-epoch sample grids; default OUTPUT without suffix + '.train/'."),
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the last checkpoint in --workdir.")] = False,
    threads: Annotated[
        int | None, typer.Option("--threads", min=1, help="CPU threads per process (default: torch's choice).")
    ] = None,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
    overwrite: OverwriteOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Train the DCGAN kernel generator (BCE, Adam 2e-4) on synthesised or given kernels."""
    if size not in SIZES:
        raise DeblurkitError(f"no kernel-generator architecture for size {size}; choose one of {', '.join(map(str, SIZES))}")
    if (kernels is None) == (synth is None):
        raise DeblurkitError("give exactly one of --kernels FILE.npz or --synth N")
    output, workdir = training_paths(output, f"weights/kernel_gan_{size}.safetensors", workdir, threads)

    with distributed(device) as dist:
        setup(quiet or not dist.is_main)
        if existing_outputs([output], overwrite):
            info(f"{output} exists; skipping (use --overwrite to redo)")
            return
        check_checkpoint(workdir / "checkpoint.pt", resume, overwrite)

        data, data_info = training_kernels(kernels, synth, family, seed, size, min_length, max_length)
        cfg = GANTrainConfig(
            size=size,
            epochs=epochs,
            batch=batch,
            lr=lr,
            seed=seed,
            checkpoint_every=checkpoint_every,
            max_steps=steps,
            instance_noise=instance_noise,
            label_smoothing=label_smoothing,
            r1=r1,
            feature_matching=feature_matching,
        )
        command = _command(size, output, kernels, synth, family, min_length, max_length, epochs, batch, lr, steps, seed,
                           instance_noise, label_smoothing, r1, feature_matching)
        if dist.world_size > 1:
            command = f"torchrun --nproc_per_node {dist.world_size} -m deblurkit " + command.removeprefix("deblurkit ")
        info(
            f"training {size}×{size} kernel GAN on {len(data)} kernels: {epochs} epochs, batch {batch}, "
            f"{dist.world_size} process(es) on {dist.device}"
        )
        started = time.perf_counter()
        log_lines = not console.is_terminal
        with progress_bar(f"kernel GAN {size}", total=planned_steps(len(data), cfg, dist.world_size)) as advance:

            def on_step(ev) -> None:  # noqa: ANN001
                advance(
                    completed=ev.step,
                    epoch=ev.epoch + 1,
                    loss_d=ev.loss_d,
                    loss_g=ev.loss_g,
                    D_real=ev.d_real,
                    D_fake=ev.d_fake,
                )
                if log_lines and (ev.step % 100 == 0 or ev.step == ev.total_steps):  # plain log lines when piped
                    info(
                        f"step {ev.step}/{ev.total_steps} epoch {ev.epoch + 1} loss_d={ev.loss_d:.4f} "
                        f"loss_g={ev.loss_g:.4f} D_real={ev.d_real:.3f} D_fake={ev.d_fake:.3f} "
                        f"t={time.perf_counter() - started:.0f}s"
                    )

            result = train_kernel_gan(data, cfg, workdir, dist=dist, resume=resume, progress=on_step)
        if dist.is_main:
            training = {
                "data": data_info,
                "num_kernels": int(len(data)),
                "epochs": epochs,
                "batch": batch,
                "lr": lr,
                "betas": [0.5, 0.999],
                "instance_noise": instance_noise,
                "label_smoothing": label_smoothing,
                "r1": r1,
                "feature_matching": feature_matching,
                "seed": seed,
                "steps": result.steps,
                "wall_s": round(result.wall_s, 1),
                "this_session_s": round(time.perf_counter() - started, 1),
                "world_size": dist.world_size,
                "device": str(dist.device),
                "threads_per_process": torch.get_num_threads(),
                "machine": f"{platform.machine()} {platform.system()}",
                "final_epoch": result.history[-1] if result.history else {},
            }
            protect = [kernels] if kernels is not None else []
            save_kernel_generator(output, result.generator, training_command=command, training=training, protect=protect)
            info(f"wrote {output} ({result.steps} steps, {result.wall_s:.0f} s of training); samples in {workdir}/samples")


def _command(
    size: int,
    output: Path,
    kernels: Path | None,
    synth: int | None,
    family: str,
    min_length: float,
    max_length: float | None,
    epochs: int,
    batch: int,
    lr: float,
    steps: int | None,
    seed: int,
    instance_noise: float = 0.0,
    label_smoothing: float = 0.0,
    r1: float = 0.0,
    feature_matching: float = 0.0,
) -> str:
    """The canonical command line of this training run (stored in the weights' metadata)."""
    args = ["deblurkit", "train-kernel-gan", "--size", str(size)]
    if kernels is not None:
        args += ["--kernels", str(kernels)]
    else:
        args += ["--synth", str(synth), "--family", family, "--min-length", f"{min_length:g}"]
        if max_length is not None:
            args += ["--max-length", f"{max_length:g}"]
    args += ["--epochs", str(epochs), "--batch", str(batch)]
    if lr != 2e-4:
        args += ["--lr", f"{lr:g}"]
    if instance_noise:
        args += ["--instance-noise", f"{instance_noise:g}"]
    if label_smoothing:
        args += ["--label-smoothing", f"{label_smoothing:g}"]
    if r1:
        args += ["--r1", f"{r1:g}"]
    if feature_matching:
        args += ["--feature-matching", f"{feature_matching:g}"]
    if steps is not None:
        args += ["--steps", str(steps)]
    args += ["--seed", str(seed), "-o", str(output)]
    return shlex.join(args)
