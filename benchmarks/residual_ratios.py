"""Residual ratios of a finished Levin run, beside its scores (the evidence for
``Preset.accept_residual_ratio``, issue #5).

For every ``<stem>_kernel.npy`` of a ``deblurkit deblur`` output folder: the restored luminance is
re-blurred by the saved kernel (valid region) and compared with the blurry input; the MSE over the
noise budget ``σ̂² + τ²`` (τ = 0.008, the λ rule's) is the ratio that the solver's residual check
uses. Runs written by session-4 code also store it in their JSON (``result.nonblind.residual_ratio``);
this recomputes it for older runs. The PSNR column is read from a ``deblurkit eval`` Markdown report.

Usage::

    python benchmarks/residual_ratios.py runs/bench3/levin runs/bench3/levin_eval2.md [--blurry ../shared/data/levin]
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from deblurkit.io.images import read_image
from deblurkit.physics.blur import UniformBlur
from deblurkit.physics.noise import estimate_noise_std
from deblurkit.solvers.initial_kernel import luminance_tensor
from deblurkit.solvers.nonblind import HyperLaplacianConfig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run", type=Path, help="deblurkit deblur output folder")
    ap.add_argument("report", type=Path, help="deblurkit eval Markdown report of that folder")
    ap.add_argument("--blurry", type=Path, default=Path("../shared/data/levin"))
    args = ap.parse_args()
    text = args.report.read_text()
    psnr = {m[1]: float(m[2]) for m in re.finditer(r"\| (\S+)_deblurred \| \S+ \| ([\d.]+)", text)}
    tau = HyperLaplacianConfig().lam_tau
    print("| image | PSNR (dB) | residual ratio |\n| --- | --- | --- |")
    for path in sorted(args.run.glob("*_kernel.npy")):
        stem = path.name[: -len("_kernel.npy")]
        y = luminance_tensor(read_image(args.blurry / f"{stem}.png")[0], "cpu")
        x = luminance_tensor(read_image(args.run / f"{stem}_deblurred.png")[0], "cpu")
        k = torch.from_numpy(np.load(path)).float()
        k = k / k.sum()
        H, W = y.shape[-2:]
        s = k.shape[0]
        c = (s - 1) // 2
        fit = float(F.mse_loss(UniformBlur(mode="valid").A(x, k), y[..., c : c + H - s + 1, c : c + W - s + 1]))
        ratio = fit / (float(estimate_noise_std(y)) ** 2 + tau**2)
        print(f"| {stem} | {psnr.get(stem, float('nan')):.2f} | {ratio:.3f} |")


if __name__ == "__main__":
    main()
