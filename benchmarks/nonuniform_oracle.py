"""Oracle-kernel ceiling of a synthetic non-uniform set (issue #7, analysis only).

For every image of a ``deblurkit synth-set`` camera-shake folder (``blurry/``, ``gt/``,
``kernels/<stem>_kernels.npy`` of shape ``(rows, cols, S, S)``), the blurry input is deconvolved
non-blindly with the **true** kernels, as the solver's last stage does with its estimates:

- ``patchwise``: every patch with its own true kernel, blended by the SVOLA windows
  (:func:`deblurkit.solvers.nonblind.deconvolve_patchwise`) — what ``deblur-nonuniform`` could
  reach with perfect patch kernels;
- ``uniform``: the whole image with the mean of the patch kernels
  (:func:`deblurkit.solvers.nonblind.deconvolve`) — what one global kernel could reach.

PSNR / SSIM by the Lai protocol (shift-aligned, Y channel, as ``deblurkit eval --protocol lai``).
The gap between the two columns bounds what the patch model can add over a uniform solver on the
set; the gap to the blurry column bounds the gain over the input. Ground truth only scores here;
nothing the product returns is chosen with it.

Usage::

    deblurkit synth-set ../shared/data/train/cbsd432 --count 20 --split val --crop 256 --seed 0 -o nu_set
    python benchmarks/nonuniform_oracle.py nu_set [--json oracle.json]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from deblurkit.io.images import read_image
from deblurkit.metrics.protocols import compare_upto_shift
from deblurkit.physics.svola import axis_grid
from deblurkit.solvers.nonblind import deconvolve, deconvolve_patchwise


def synth_set_items(
    folder: Path, skip: int = 0, limit: int = 0
) -> Iterator[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """The images of a ``deblurkit synth-set`` camera-shake folder, in name order (shared by the probes).

    Yields ``(stem, blurry, sharp, kernels)``: the images ``(H, W, C)`` float32 in ``[0, 1]``, the true
    patch kernels ``(rows, cols, S, S)`` as saved by the synthesis; the first ``skip`` images are left
    out and at most ``limit`` are given (0: all).
    """
    files = sorted((folder / "kernels").glob("*_kernels.npy"))[skip:]
    for kfile in files[: limit or None]:
        stem = kfile.name[: -len("_kernels.npy")]
        y, _ = read_image(folder / "blurry" / f"{stem}.png")
        gt, _ = read_image(folder / "gt" / f"{stem}.png")
        yield stem, y, gt, np.load(kfile)


def patch_windows(height: int, width: int, grid: tuple[int, int], side: int) -> Iterator[tuple[int, int]]:
    """Top-left corners ``(top, left)`` in pixels of the ``side × side`` windows centred on the SVOLA
    patch centres of ``grid`` (:func:`deblurkit.physics.svola.axis_grid`), row-major, each moved
    inside the ``height × width`` image (shared by the per-patch probes)."""
    for cr in axis_grid(height, grid[0]).centres:
        for cc in axis_grid(width, grid[1]).centres:
            yield min(max(0, cr - side // 2), height - side), min(max(0, cc - side // 2), width - side)


def _score(img: np.ndarray, gt: np.ndarray) -> tuple[float, float]:
    r = compare_upto_shift(img, gt, luma=True)
    return r.psnr, r.ssim


def _report_means(rows: list[dict], keys: tuple[str, ...], args: argparse.Namespace) -> None:
    """Print the mean of ``keys`` over the per-image ``rows`` and, with ``args.json``, save
    ``{"args", "per_image", "mean"}`` there (shared by the probes of this folder)."""
    means = {k: float(np.mean([r[k] for r in rows])) for k in keys}
    print("mean     " + "  ".join(f"{k} {v:.3f}" for k, v in means.items()))
    if args.json:
        record = {"args": {k: str(v) for k, v in vars(args).items()}, "per_image": rows, "mean": means}
        args.json.write_text(json.dumps(record, indent=2) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("set", type=Path, help="synth-set camera-shake folder")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    rows = []
    for stem, y, gt, K in synth_set_items(args.set):
        grid = K.shape[:2]
        yt = torch.from_numpy(y).permute(2, 0, 1).double()
        ks = torch.from_numpy(K.reshape(-1, *K.shape[2:])).double()
        patch = deconvolve_patchwise(yt, ks, grid).permute(1, 2, 0).numpy()
        unif = deconvolve(yt, ks.mean(0)).permute(1, 2, 0).numpy()
        row = {"image": stem, "grid": list(grid)}
        for name, img in (("blurry", y), ("uniform", unif), ("patchwise", patch)):
            row[name] = _score(np.clip(img, 0, 1).astype(np.float32), gt)
        rows.append(row)
        print(f"{stem:<8} " + "  ".join(f"{n} {row[n][0]:6.2f}/{row[n][1]:.3f}" for n in ("blurry", "uniform", "patchwise")), flush=True)
    means = {n: [float(np.mean([r[n][i] for r in rows])) for i in (0, 1)] for n in ("blurry", "uniform", "patchwise")}
    print("mean     " + "  ".join(f"{n} {means[n][0]:6.2f}/{means[n][1]:.3f}" for n in means))
    if args.json:
        args.json.write_text(json.dumps({"set": str(args.set), "per_image": rows, "mean": means}, indent=2) + "\n")


if __name__ == "__main__":
    main()
