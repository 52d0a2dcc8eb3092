"""Kernel-initializer commands (GLKM §IV-C): ``train-initializer``, ``estimate-kernel``,
``initializer-report``. Thin layers over :mod:`deblurkit.train.initializer`,
:mod:`deblurkit.solvers.initial_kernel` and :mod:`deblurkit.reports.initializer`.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Annotated, Literal

import torch
import typer

from deblurkit.cli.common import (
    DeviceOpt,
    OverwriteOpt,
    QuietOpt,
    SeedOpt,
    TrainingFamily,
    check_checkpoint,
    command_line,
    console,
    existing_outputs,
    info,
    progress_bar,
    setup,
    training_kernels,
    training_paths,
)
from deblurkit.datasets import load_sharp_images
from deblurkit.errors import DeblurkitError
from deblurkit.io import atomic_write_bytes, read_image, write_kernel
from deblurkit.kernels import synthesize_training_set
from deblurkit.models.initializer import CODES, FEATURES
from deblurkit.models.serialization import (
    load_initializer,
    load_kernel_generator,
    save_initializer,
)
from deblurkit.pipeline import collect_inputs
from deblurkit.reports.initializer import (
    initializer_report,
    levin_samples,
    validation_samples,
)
from deblurkit.runtime import resolve_device, seed_everything
from deblurkit.solvers import initial_kernel, luminance_tensor
from deblurkit.train.distributed import distributed
from deblurkit.train.initializer import RECIPES, TARGETS, recipe_by_name, train_initializer

Recipe = Literal[tuple(RECIPES)]
Features = Literal[FEATURES]
Target = Literal[TARGETS]
Code = Literal[CODES]

GanOpt = Annotated[
    Path | None, typer.Option("--gan", help="Kernel-generator weights; default weights/kernel_gan_S.safetensors.")
]
SizeOpt = Annotated[int, typer.Option("--size", help="Kernel side S of the generator (31, 45, 55, 65, 75).")]


def train_initializer_cmd(
    ctx: typer.Context,
    images: Annotated[Path, typer.Option("--images", help="Folder of sharp photos (its training split is used).")],
    size: SizeOpt = 31,
    gan: GanOpt = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Weights file; default weights/initializer_S.safetensors.")
    ] = None,
    kernels: Annotated[Path | None, typer.Option("--kernels", help="Training kernels .npz ('kernels': (N, S, S)).")] = None,
    synth: Annotated[int | None, typer.Option("--synth", min=1, help="Instead of --kernels: synthesise N kernels.")] = None,
    family: Annotated[TrainingFamily, typer.Option("--family", help="Family for --synth (mix = half trajectory, half gp).")] = "mix",
    recipe: Annotated[
        Recipe,
        typer.Option(
            "--recipe",
            help="cpu: Algorithm 1, cached inversions (default); direct: w code fitting k itself (shipped 31); "
            "paper: the paper's settings.",
        ),
    ] = "cpu",
    epochs: Annotated[int | None, typer.Option("--epochs", min=1, help="Override the recipe's epochs.")] = None,
    samples_per_epoch: Annotated[int | None, typer.Option("--samples-per-epoch", min=1, help="Override: patches per epoch.")] = None,
    batch: Annotated[int | None, typer.Option("--batch", min=1, help="Override: global batch size.")] = None,
    crop: Annotated[int | None, typer.Option("--crop", min=32, help="Override: patch side (pixels).")] = None,
    inner_steps: Annotated[int | None, typer.Option("--inner-steps", min=0, help="Override: inversion steps from E(y).")] = None,
    warm_steps: Annotated[int | None, typer.Option("--warm-steps", min=0, help="Override: inversion steps from the cache.")] = None,
    lr: Annotated[float | None, typer.Option("--lr", min=0.0, help="Override: the encoder's Adam learning rate.")] = None,
    inner_lr: Annotated[float | None, typer.Option("--inner-lr", min=0.0, help="Override: the inversion's Adam learning rate.")] = None,
    lam: Annotated[float | None, typer.Option("--lam", min=0.0, help="Override: λ of the latent term of Eq. (4).")] = None,
    features: Annotated[
        Features | None, typer.Option("--features", help="Override: encoder input, luminance or gradient autocorrelation.")
    ] = None,
    stem_pool: Annotated[
        bool | None,
        typer.Option("--stem-pool/--no-stem-pool", help="Override: keep the ResNet stem's max-pool (off: finer maps, ~2× cost)."),
    ] = None,
    code: Annotated[
        Code | None,
        typer.Option("--code", help="Override: encode into the latent z (paper) or the first-layer feature map w_k."),
    ] = None,
    target: Annotated[
        Target | None,
        typer.Option(
            "--target", help="Override: fit the inverted codes (inversion, Algorithm 1) or the true kernel directly."
        ),
    ] = None,
    flip_tolerant: Annotated[
        bool | None,
        typer.Option("--flip-tolerant/--no-flip-tolerant", help="Override: score E(y) against the better of k and its 180° rotation."),
    ] = None,
    init: Annotated[
        Path | None, typer.Option("--init", help="Start from these initializer weights (fine-tuning) instead of random ones.")
    ] = None,
    steps: Annotated[int | None, typer.Option("--steps", min=1, help="Stop after this many outer steps (smoke runs).")] = None,
    checkpoint_every: Annotated[int | None, typer.Option("--checkpoint-every", min=0, help="Checkpoint every N steps.")] = None,
    workdir: Annotated[Path | None, typer.Option("--workdir", help="Checkpoints; default OUTPUT with suffix .train/.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the checkpoint in --workdir.")] = False,
    threads: Annotated[int | None, typer.Option("--threads", min=1, help="CPU threads per process.")] = None,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
    overwrite: OverwriteOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Train the kernel initializer E (ResNet-18) by collaborative GAN inversion (GLKM Algorithm 1)."""
    output, workdir = training_paths(output, f"weights/initializer_{size}.safetensors", workdir, threads)
    gan = gan or Path(f"weights/kernel_gan_{size}.safetensors")
    with distributed(device) as dist:
        setup(quiet or not dist.is_main)
        if existing_outputs([output], overwrite):
            info(f"{output} exists; skipping (use --overwrite to redo)")
            return
        check_checkpoint(workdir / "checkpoint.pt", resume, overwrite)
        generator, gan_meta = load_kernel_generator(gan, size=size, device=dist.device)
        data, data_info = training_kernels(kernels, synth, family, seed, size)
        rec = recipe_by_name(
            recipe, epochs=epochs, samples_per_epoch=samples_per_epoch, batch=batch, crop=crop,
            inner_steps=inner_steps, warm_steps=warm_steps, lr=lr, inner_lr=inner_lr, lam=lam, features=features,
            stem_pool=stem_pool, code=code, target=target, flip_tolerant=flip_tolerant, max_steps=steps,
            checkpoint_every=checkpoint_every, seed=seed,
        )
        start = load_initializer(init, size=size, device=dist.device)[0] if init is not None else None
        sharp = load_sharp_images(images, split="train", min_side=rec.crop)  # smaller photos are skipped
        command = command_line(ctx)
        if dist.world_size > 1:
            command = f"torchrun --nproc_per_node {dist.world_size} -m " + command
        info(f"training {size}×{size} initializer ({rec.name} recipe) on {len(sharp)} photos × {len(data)} kernels, "
             f"{dist.world_size} process(es) on {dist.device}")
        started = time.perf_counter()
        per_epoch = rec.samples_per_epoch // rec.batch
        total = min(per_epoch * rec.epochs, rec.max_steps or per_epoch * rec.epochs)
        log_lines = not console.is_terminal
        with progress_bar(f"initializer {size}", total=total) as advance:

            def on_step(ev) -> None:  # noqa: ANN001
                advance(completed=ev.step, epoch=ev.epoch + 1, loss=ev.loss, inner_l1=ev.inner_l1)
                if log_lines and (ev.step % 50 == 0 or ev.step == ev.total_steps):
                    info(f"step {ev.step}/{ev.total_steps} epoch {ev.epoch + 1} loss={ev.loss:.4f} "
                         f"inner_l1={ev.inner_l1:.4f} t={time.perf_counter() - started:.0f}s")

            result = train_initializer(sharp, data, generator, rec, workdir, dist=dist, resume=resume, progress=on_step, init=start)
        if dist.is_main:
            from dataclasses import asdict

            training = {
                "data": data_info,
                "images": str(images),
                "num_images": len(sharp),
                "recipe": asdict(rec),
                "gan": str(gan),
                "init": str(init) if init is not None else None,
                "gan_training_command": gan_meta.get("training_command", ""),
                "steps": result.steps,
                "wall_s": round(result.wall_s, 1),
                "world_size": dist.world_size,
                "device": str(dist.device),
                "threads_per_process": torch.get_num_threads(),
                "machine": f"{platform.machine()} {platform.system()}",
                "history": result.history,
            }
            protect = [gan] + ([kernels] if kernels is not None else []) + ([init] if init is not None else [])
            save_initializer(output, result.encoder, training_command=command, training=training, protect=protect)
            info(f"wrote {output} ({result.steps} steps, {result.wall_s:.0f} s of training)")


def estimate_kernel_cmd(
    inputs: Annotated[list[Path], typer.Argument(help="Blurry images or folders.")],
    output_dir: Annotated[Path, typer.Option("--output", "-o", help="Folder for <stem>_kernel.png and .npy.")],
    size: SizeOpt = 31,
    gan: GanOpt = None,
    initializer: Annotated[
        Path | None, typer.Option("--initializer", help="Initializer weights; default weights/initializer_S.safetensors.")
    ] = None,
    device: DeviceOpt = "auto",
    overwrite: OverwriteOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Write the initial kernel G(E(y)) of each blurry image (GLKM Algorithm 2, line 1) without deblurring."""
    setup(quiet)
    dev = resolve_device(device)
    generator, _ = load_kernel_generator(gan or Path(f"weights/kernel_gan_{size}.safetensors"), size=size, device=dev)
    encoder, _ = load_initializer(initializer or Path(f"weights/initializer_{size}.safetensors"), size=size, device=dev)
    files = collect_inputs(inputs)
    failures = 0
    with progress_bar("estimating kernels", total=len(files)) as advance:
        for path in files:
            outs = [output_dir / f"{path.stem}_kernel.png", output_dir / f"{path.stem}_kernel.npy"]
            if not existing_outputs(outs, overwrite):
                try:
                    img, _ = read_image(path)
                    if min(img.shape[:2]) < 32:
                        raise DeblurkitError(f"{path}: image smaller than 32×32 pixels")
                    k = initial_kernel(encoder, generator, luminance_tensor(img, dev))[0, 0].cpu().numpy()
                    for out in outs:
                        write_kernel(out, k, protect=files)
                except DeblurkitError as e:
                    failures += 1
                    console.print(f"error: {e}", markup=False, highlight=False, soft_wrap=True)
            advance(1)
    info(f"{len(files) - failures} of {len(files)} kernels in {output_dir}")
    if failures:
        raise typer.Exit(1)


def initializer_report_cmd(
    images: Annotated[Path, typer.Option("--images", help="Folder of sharp photos (its validation split is used).")],
    json_out: Annotated[Path, typer.Option("--json", help="Write the report here (.json).")],
    size: SizeOpt = 31,
    gan: GanOpt = None,
    initializer: Annotated[Path | None, typer.Option("--initializer", help="Initializer weights.")] = None,
    kernels: Annotated[Path | None, typer.Option("--kernels", help="Training kernels .npz (for the mean-kernel baseline).")] = None,
    synth: Annotated[int | None, typer.Option("--synth", min=1, help="Instead of --kernels: the training synthesis size N.")] = None,
    family: Annotated[TrainingFamily, typer.Option("--family", help="Family of the training synthesis.")] = "mix",
    count: Annotated[int, typer.Option("--count", min=1, help="Validation samples (fresh kernels).")] = 200,
    levin: Annotated[Path | None, typer.Option("--levin", help="Levin folder (imM_kernelN_img.png, gt/kernelN.png).")] = None,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
    overwrite: OverwriteOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Mean MNC of G(E(y)) vs the true kernel on held-out data and Levin, with two baselines."""
    setup(quiet)
    if json_out.suffix.lower() != ".json":
        raise DeblurkitError(f"--json must name a .json file, got {json_out}")
    if existing_outputs([json_out], overwrite):
        info(f"{json_out} exists; skipping (use --overwrite to redo)")
        return
    seed_everything(seed)
    dev = resolve_device(device)
    gan = gan or Path(f"weights/kernel_gan_{size}.safetensors")
    initializer = initializer or Path(f"weights/initializer_{size}.safetensors")
    generator, _ = load_kernel_generator(gan, size=size, device=dev)
    encoder, _ = load_initializer(initializer, size=size, device=dev)
    train_kernels, _ = training_kernels(kernels, synth, family, seed, size)
    # Fresh validation kernels: same recipe, a seed the training set never used.
    fresh, _ = synthesize_training_set(size, count, family, seed + 10_000)
    val = validation_samples(load_sharp_images(images, split="val", min_side=256), fresh, count, seed=seed)
    lev = levin_samples(levin) if levin is not None else []
    with progress_bar("initializer report", total=len(val) + len(lev)) as advance:
        report = initializer_report(encoder, generator, train_kernels, val, lev, seed=seed, progress=lambda n: advance(completed=n))
    report = {"gan": str(gan), "initializer": str(initializer), "size": size, "seed": seed, **report}
    for name, part in report.items():
        if isinstance(part, dict) and "mean_mnc_init" in part:
            typer.echo(
                f"{name:<11} n={len(part['per_image']):<4} init {part['mean_mnc_init']:.4f}  "
                f"random latent {part['mean_mnc_random_latent']:.4f}  mean kernel {part['mean_mnc_mean_kernel']:.4f}"
            )
    atomic_write_bytes(json_out, (json.dumps(report, indent=2) + "\n").encode(), protect=[gan, initializer])
    info(f"wrote {json_out}")
