"""``deblurkit blur``: make a uniformly blurred (and optionally noisy) test image."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import torch
import typer

from deblurkit.cli.common import (
    DeviceOpt,
    OverwriteOpt,
    QuietOpt,
    SeedOpt,
    existing_outputs,
    info,
    setup,
)
from deblurkit.errors import DeblurkitError
from deblurkit.io import image_to_tensor, read_image, read_kernel, tensor_to_image, write_image, write_kernel
from deblurkit.kernels import FAMILIES, SynthesisConfig, synthesize_kernels

FamilyName = Literal[tuple(sorted(FAMILIES))]  # the --family choices
from deblurkit.physics import add_gaussian_noise, blur as blur_op
from deblurkit.runtime import resolve_device, seed_everything


def kernel_paths(output: Path) -> tuple[Path, Path]:
    """Where ``blur --random-kernel`` saves the kernel it drew: ``<stem>_kernel.png`` and ``.npy``."""
    return output.with_name(f"{output.stem}_kernel.png"), output.with_name(f"{output.stem}_kernel.npy")


def blur(
    sharp: Annotated[Path, typer.Argument(help="Sharp input image.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Blurred output image (format from the extension).")],
    kernel: Annotated[Path | None, typer.Option("--kernel", "-k", help="Kernel file (.png, .npy, .npz).")] = None,
    kernel_index: Annotated[
        int | None, typer.Option("--kernel-index", help="Which kernel of an (N, h, w) .npz set.")
    ] = None,
    random_kernel: Annotated[
        bool, typer.Option("--random-kernel", help="Draw a kernel (saved as <stem>_kernel.png/.npy).")
    ] = False,
    size: Annotated[int, typer.Option("--size", min=5, help="Window of the random kernel (pixels).")] = 31,
    family: Annotated[
        FamilyName, typer.Option("--family", help="Random kernel family.")
    ] = "trajectory",
    noise: Annotated[float, typer.Option("--noise", min=0.0, help="Gaussian noise σ in [0, 1] intensity units.")] = 0.0,
    boundary: Annotated[
        Literal["same", "circular", "valid"], typer.Option("--boundary", help="Boundary handling.")
    ] = "same",
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
    overwrite: OverwriteOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Blur SHARP by a kernel (true convolution) and add noise: y = k ⊛ x + n."""
    setup(quiet)
    if (kernel is None) == (not random_kernel):
        raise DeblurkitError("give exactly one of --kernel FILE or --random-kernel")
    outputs = [output, *kernel_paths(output)] if random_kernel else [output]
    if existing_outputs(outputs, overwrite):
        info(f"{output} exists; skipping (use --overwrite to redo)")
        return
    generator = seed_everything(seed)
    img, meta = read_image(sharp)
    if random_kernel:
        k, _ = synthesize_kernels(SynthesisConfig(family=family, size=size, count=1, seed=seed))
        k = k[0]
    else:
        k = read_kernel(kernel, index=kernel_index)
    h, w = k.shape
    if boundary == "same" and (h // 2 >= img.shape[0] or w // 2 >= img.shape[1]):
        raise DeblurkitError(f"kernel {h}×{w} is too large for the {img.shape[0]}×{img.shape[1]} image")
    if boundary == "valid" and (h > img.shape[0] or w > img.shape[1]):
        raise DeblurkitError(f"kernel {h}×{w} is larger than the {img.shape[0]}×{img.shape[1]} image")
    dev = resolve_device(device)
    with torch.no_grad():
        x = image_to_tensor(img, dev)
        y = blur_op(x, torch.from_numpy(k).to(dev), mode=boundary)
        y = add_gaussian_noise(y, noise, generator)
    protect = [sharp] + ([kernel] if kernel else [])
    write_image(output, np.clip(tensor_to_image(y), 0, 1), bit_depth=meta.bit_depth, protect=protect)
    if random_kernel:
        for path in kernel_paths(output):
            write_kernel(path, k, protect=protect)
    info(f"wrote {output} (kernel {h}×{w}, noise σ={noise:g})")
