"""``deblurkit blur``: make a blurred (and optionally noisy) test image — uniform, or non-uniform camera shake."""

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
    progress_bar,
    setup,
)
from deblurkit.errors import DeblurkitError
from deblurkit.io import image_to_tensor, read_image, read_kernel, tensor_to_image, write_image, write_kernel
from deblurkit.kernels import FAMILIES, SynthesisConfig, synthesize_kernels

FamilyName = Literal[tuple(sorted(FAMILIES))]  # the --family choices
from deblurkit.physics import add_gaussian_noise, blur as blur_op
from deblurkit.runtime import resolve_device, seed_everything


def nonuniform_paths(output: Path) -> tuple[Path, Path, Path]:
    """Where ``blur --nonuniform`` saves its ground truth: ``<stem>_kernels.npy`` (rows, cols, S, S),
    ``<stem>_kernels.png`` (kernel field) and ``<stem>_shake.json`` (grid, centres, motion)."""
    return (
        output.with_name(f"{output.stem}_kernels.npy"),
        output.with_name(f"{output.stem}_kernels.png"),
        output.with_name(f"{output.stem}_shake.json"),
    )


def write_nonuniform_truth(output: Path, sample, protect: list[Path]) -> None:  # noqa: ANN001
    """Write the three ground-truth files of :func:`nonuniform_paths` for a ``NonUniformSample``."""
    import io
    import json

    from deblurkit.io import atomic_write_bytes
    from deblurkit.viz import kernel_field

    npy, png, js = nonuniform_paths(output)
    buf = io.BytesIO()
    np.save(buf, sample.kernels)
    atomic_write_bytes(npy, buf.getvalue(), protect)
    write_image(png, kernel_field(sample.blurry, sample.kernels, sample.centres), bit_depth=8, protect=protect)
    atomic_write_bytes(js, (json.dumps(sample.record(), indent=1) + "\n").encode(), protect)


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
    nonuniform: Annotated[
        bool,
        typer.Option(
            "--nonuniform",
            help="Random camera shake (roll, pitch, yaw, translation) rendered per pixel; saves <stem>_kernels.npy/.png and <stem>_shake.json.",
        ),
    ] = False,
    grid: Annotated[str, typer.Option("--grid", help="--nonuniform: grid of the saved patch kernels, ROWSxCOLS or auto.")] = "auto",
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
    if nonuniform:
        _blur_nonuniform(sharp, output, grid, size, noise, seed, overwrite)
        return
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


def _blur_nonuniform(sharp: Path, output: Path, grid: str, size: int, noise: float, seed: int, overwrite: bool) -> None:
    from deblurkit.kernels.camera_shake import synthesize_nonuniform
    from deblurkit.physics.svola import default_grid, parse_grid

    if existing_outputs([output, *nonuniform_paths(output)], overwrite):
        info(f"{output} exists; skipping (use --overwrite to redo)")
        return
    img, meta = read_image(sharp)
    try:
        g = default_grid(*img.shape[:2]) if grid == "auto" else parse_grid(grid)
        if size % 2 == 0:
            raise ValueError(f"--size must be odd, got {size}")
        sample = synthesize_nonuniform(img, np.random.default_rng(seed), g, size=size, noise=noise)
    except ValueError as e:
        raise DeblurkitError(str(e)) from None
    write_image(output, sample.blurry, bit_depth=meta.bit_depth, protect=[sharp])
    write_nonuniform_truth(output, sample, [sharp])
    info(f"wrote {output} (camera shake, grid {g[0]}x{g[1]}, kernels {sample.kernels.shape[-1]}×{sample.kernels.shape[-1]}, noise σ={noise:g})")


def synth_set(
    sharp_dir: Annotated[Path, typer.Argument(help="Folder of sharp photos (searched recursively).")],
    output_dir: Annotated[Path, typer.Option("--output", "-o", help="Destination folder.")],
    blur_kind: Annotated[
        Literal["camera-shake", "uniform"],
        typer.Option(
            "--blur",
            help="camera-shake: non-uniform, per-patch kernels on a grid (kernels/<stem>_kernels.npy); "
            "uniform: one random trajectory kernel per image (kernels/<stem>.npy).",
        ),
    ] = "camera-shake",
    count: Annotated[int, typer.Option("--count", "-n", min=1, help="Number of images.")] = 20,
    split: Annotated[
        Literal["val", "train", "all"],
        typer.Option("--split", help="Which images: the fixed validation split (never trained on), train, or all."),
    ] = "val",
    crop: Annotated[
        int | None, typer.Option("--crop", min=64, help="Centre crop to at most CROP×CROP pixels (default: whole images).")
    ] = None,
    grid: Annotated[str, typer.Option("--grid", help="camera-shake: grid of the saved patch kernels, ROWSxCOLS or auto.")] = "auto",
    size: Annotated[int, typer.Option("--size", min=5, help="Side of the saved kernels (odd).")] = 31,
    sizes: Annotated[
        str | None,
        typer.Option("--sizes", help="uniform: comma-separated odd kernel sides used in turn (image i gets the (i mod n)-th), e.g. 31,51,55,75; overrides --size."),
    ] = None,
    min_extent: Annotated[
        float, typer.Option("--min-extent", min=0.0, max=0.9, help="uniform: smallest kernel extent as a fraction of its side (0: 3 px).")
    ] = 0.0,
    noise: Annotated[float, typer.Option("--noise", min=0.0, help="Gaussian noise σ in [0, 1] intensity units.")] = 0.01,
    seed: SeedOpt = 0,
    overwrite: OverwriteOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Make a reproducible synthetic benchmark set (camera shake or uniform blur): blurry/, gt/, kernels/, manifest.json."""
    import json

    from deblurkit.datasets.blurry_patches import split_of
    from deblurkit.io import IMAGE_EXTENSIONS, atomic_write_bytes
    from deblurkit.kernels import synthesize_uniform
    from deblurkit.kernels.camera_shake import synthesize_nonuniform
    from deblurkit.physics.svola import default_grid, parse_grid

    setup(quiet)
    if size % 2 == 0:
        raise DeblurkitError(f"--size must be odd, got {size}")
    try:
        side_list = [int(v) for v in sizes.split(",")] if sizes else [size]
    except ValueError:
        side_list = []
    if not side_list or any(v < 5 or v % 2 == 0 for v in side_list):
        raise DeblurkitError(f"--sizes must be comma-separated odd kernel sides ≥ 5, not {sizes!r}")
    if sizes and not blur_kind == "uniform":
        raise DeblurkitError("--sizes is for --blur uniform")
    if not sharp_dir.is_dir():
        raise DeblurkitError(f"no such folder: {sharp_dir}")
    files = sorted(p for p in sharp_dir.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
    if split != "all":
        files = [p for p in files if split_of(p.name) == split]
    if len(files) < count:
        raise DeblurkitError(f"{sharp_dir} has {len(files)} images in split {split!r}; --count is {count}")
    files = files[:count]  # sorted by name: the set depends only on the folder and the split
    try:
        fixed = None if grid == "auto" else parse_grid(grid)
    except ValueError as e:
        raise DeblurkitError(str(e)) from None
    manifest = {
        "source": str(sharp_dir), "blur": blur_kind, "split": split, "count": count, "crop": crop, "size": size,
        "sizes": side_list, "min_extent": min_extent, "noise": noise, "seed": seed, "images": [],
    }  # fmt: skip
    uniform = blur_kind == "uniform"
    with progress_bar(f"{blur_kind} set", total=len(files)) as advance:
        for i, path in enumerate(files):
            stem = path.stem
            out = output_dir / "blurry" / f"{stem}.png"
            gt = output_dir / "gt" / f"{stem}.png"
            truth_at = output_dir / "kernels" / f"{stem}.png"
            truth = [truth_at, truth_at.with_suffix(".npy")] if uniform else list(nonuniform_paths(truth_at))
            if not existing_outputs([out, gt, *truth], overwrite):
                img, _ = read_image(path)
                if crop is not None:
                    h, w = img.shape[:2]
                    ch, cw = min(crop, h), min(crop, w)
                    img = img[(h - ch) // 2 : (h - ch) // 2 + ch, (w - cw) // 2 : (w - cw) // 2 + cw]
                rng = np.random.default_rng([seed, i])
                try:
                    if uniform:
                        side = side_list[i % len(side_list)]
                        sample = synthesize_uniform(img, rng, size=side, noise=noise, min_length=max(3.0, min_extent * side))
                    else:
                        sample = synthesize_nonuniform(img, rng, fixed or default_grid(*img.shape[:2]), size=size, noise=noise)
                except ValueError as e:
                    raise DeblurkitError(f"{path}: {e}") from None
                write_image(gt, img, bit_depth=8, protect=[path])
                if uniform:
                    for p in truth:
                        write_kernel(p, sample.kernel, protect=[path])
                else:
                    write_nonuniform_truth(truth_at, sample, [path])
                write_image(out, sample.blurry, bit_depth=8, protect=[path])  # last: marks the image done
            manifest["images"].append({"name": stem, "source": str(path), "kernel_size": side_list[i % len(side_list)] if uniform else size})
            advance(completed=i + 1, image=path.name)
    atomic_write_bytes(output_dir / "manifest.json", (json.dumps(manifest, indent=1) + "\n").encode())
    info(f"wrote {len(files)} {blur_kind} images to {output_dir}/blurry (ground truth in gt/ and kernels/)")
