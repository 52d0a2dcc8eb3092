"""``deblurkit train-diffusion``: train the small unconditional DDPM of the diffusion priors.

Thin layer: reads the sharp photos (luminance, one split), calls
:func:`deblurkit.train.diffusion.train_diffusion`, writes the diffusers folder atomically (a
temporary sibling renamed into place) with a model card ``README.md`` that records the command, the
data, the seed, the wall time, the machine and the weights' sha256.
"""

from __future__ import annotations

import json
import platform
import shlex
import shutil
import time
from pathlib import Path
from typing import Annotated, Literal

import torch
import typer

from deblurkit.cli.common import DeviceOpt, OverwriteOpt, QuietOpt, SeedOpt, existing_outputs, info, progress_bar, setup
from deblurkit.datasets.blurry_patches import load_sharp_images
from deblurkit.errors import DeblurkitError
from deblurkit.models.diffusion import import_diffusers
from deblurkit.pipeline import sha256
from deblurkit.runtime import resolve_device
from deblurkit.io import write_image
from deblurkit.train.diffusion import DiffusionTrainConfig, sample_grid, train_diffusion


def train_diffusion_cmd(
    images: Annotated[Path, typer.Option("--images", help="Folder of sharp photos (searched recursively).")],
    size: Annotated[int, typer.Option("--size", help="Training crop side: 64 or 128 (pixels).")] = 64,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Output diffusers folder; default weights/diffusion_SIZE.")
    ] = None,
    split: Annotated[
        Literal["train", "val", "all"], typer.Option("--split", help="Which files of the folder (stable hash split).")
    ] = "train",
    steps: Annotated[int, typer.Option("--steps", min=1, help="Optimisation steps.")] = 10000,
    batch: Annotated[int, typer.Option("--batch", min=1, help="Crops per step.")] = 16,
    lr: Annotated[float, typer.Option("--lr", min=0.0, help="Adam learning rate.")] = 2e-4,
    sample_steps: Annotated[
        int, typer.Option("--sample-steps", min=1, help="DDIM steps of the 16 samples drawn into samples.png.")
    ] = 50,
    threads: Annotated[int | None, typer.Option("--threads", min=1, help="CPU threads (default: torch's choice).")] = None,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
    overwrite: OverwriteOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Train the small unconditional DDPM (luminance crops) used by --prior bird / blinddps."""
    setup(quiet)
    if size not in (64, 128):
        raise DeblurkitError(f"--size must be 64 or 128, got {size}")
    out = output or Path(f"weights/diffusion_{size}")
    if existing_outputs([out / "unet" / "diffusion_pytorch_model.safetensors"], overwrite):
        info(f"{out} exists; skipping (use --overwrite to redo)")
        return
    if threads:
        torch.set_num_threads(threads)
    data = load_sharp_images(images, None if split == "all" else split, min_side=size)
    cfg = DiffusionTrainConfig(size=size, steps=steps, batch=batch, lr=lr, seed=seed)
    dev = resolve_device(device)
    info(f"training a {size}×{size} DDPM on {len(data)} images ({split} split of {images}): {steps} steps, batch {batch}, {dev}")
    started = time.perf_counter()
    with progress_bar(f"diffusion {size}", total=steps) as advance:
        unet, scheduler, losses = train_diffusion(data, cfg, dev, progress=lambda s, n, loss: advance(completed=s, loss=loss))
    wall = time.perf_counter() - started
    DDPMPipeline = import_diffusers().DDPMPipeline
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    DDPMPipeline(unet=unet.cpu(), scheduler=scheduler).save_pretrained(tmp, safe_serialization=True)
    digest = sha256(tmp / "unet" / "diffusion_pytorch_model.safetensors")
    command = (
        f"deblurkit train-diffusion --images {shlex.quote(str(images))} --size {size} --split {split} --steps {steps} "
        f"--batch {batch} --lr {lr:g} --seed {seed} --sample-steps {sample_steps} -o {shlex.quote(str(out))}"
    )
    record = {
        "command": command,
        "data": {"folder": str(images), "split": split, "images": len(data)},
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.__dict__.items()},
        "seed": seed,
        "wall_s": round(wall, 1),
        "machine": f"{platform.machine()} {platform.system()}, {dev}, {torch.get_num_threads()} threads",
        "final_loss_mean_last_200": float(sum(losses[-200:]) / len(losses[-200:])),
        "sha256": {"unet/diffusion_pytorch_model.safetensors": digest},
    }
    write_image(tmp / "samples.png", sample_grid(unet, scheduler, steps=sample_steps, seed=seed), bit_depth=8)
    (tmp / "training.json").write_text(json.dumps(record, indent=2) + "\n")
    (tmp / "README.md").write_text(
        f"# Unconditional DDPM, {size}×{size} luminance crops\n\n"
        "Trained by deblurkit's own command (ε-prediction, linear β 1e-4…0.02, T = 1000, EMA 0.999):\n\n"
        f"```bash\n{command}\n```\n\n"
        f"- data: {len(data)} photos, {split} split of `{images}`\n- seed: {seed}\n- wall time: {wall:.0f} s\n"
        f"- machine: {record['machine']}\n- final loss (mean of the last 200 steps): {record['final_loss_mean_last_200']:.4f}\n"
        f"- sha256 of `unet/diffusion_pytorch_model.safetensors`: `{digest}`\n"
        f"- `samples.png`: 16 unconditional DDIM samples ({sample_steps} steps, η = 0, seed as above) of the saved weights\n"
    )
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    info(f"wrote {out} ({steps} steps, {wall:.0f} s)")
