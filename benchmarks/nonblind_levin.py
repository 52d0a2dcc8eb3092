"""The non-blind step's ceiling on Levin: deconvolve the 32 blurry images with the *true* kernels.

This measures the final stage of ``deblurkit deblur`` alone (how far a perfect kernel estimate
would take it); nothing here selects anything by the ground truth. The stored kernel PNGs hold the
cross-correlation kernel for kernels 1, 2, 3, 5, 6, 7 and the convolution kernel for 4 and 8
(``../shared/README.md``), so the former are rotated by 180°.

Usage::

    python benchmarks/nonblind_levin.py [--levin ../shared/data/levin] [--lam auto|NUMBER]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from deblurkit.io.images import read_image
from deblurkit.io.kernels import read_kernel
from deblurkit.metrics.protocols import compare_upto_shift
from deblurkit.solvers.nonblind import HyperLaplacianConfig, deconvolve

CONVOLUTION_ORIENTED = (4, 8)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--levin", default="../shared/data/levin")
    ap.add_argument("--lam", default="auto")
    args = ap.parse_args()
    torch.set_num_threads(1)
    lam = args.lam if args.lam == "auto" else float(args.lam)
    print("| boundary | λ | " + " | ".join(f"kernel{j}" for j in range(1, 9)) + " | mean PSNR | mean SSIM | s/image |")
    print("|---" * 13 + "|")
    for boundary in ("taper", "unknown"):
        cfg = HyperLaplacianConfig(lam=lam, boundary=boundary)
        psnr, ssim, t0 = np.zeros((4, 8)), np.zeros((4, 8)), time.perf_counter()
        lams = []
        for i in range(1, 5):
            gt, _ = read_image(f"{args.levin}/gt/im{i}.png")
            for j in range(1, 9):
                y, _ = read_image(f"{args.levin}/im{i}_kernel{j}_img.png")
                k = read_kernel(f"{args.levin}/gt/kernel{j}.png")
                if j not in CONVOLUTION_ORIENTED:
                    k = k[::-1, ::-1].copy()
                yt = torch.from_numpy(y).permute(2, 0, 1)
                c = cfg.resolve(yt)
                lams.append(c.lam)
                x = deconvolve(yt, torch.from_numpy(k), c)[0].numpy()
                r = compare_upto_shift(x, gt[..., 0])
                psnr[i - 1, j - 1], ssim[i - 1, j - 1] = r.psnr, r.ssim
        per = (time.perf_counter() - t0) / 32
        lam_txt = f"auto ({min(lams):.0f}–{max(lams):.0f})" if lam == "auto" else f"{lam:g}"
        print(f"| {boundary} | {lam_txt} | " + " | ".join(f"{v:.2f}" for v in psnr.mean(0)) + f" | **{psnr.mean():.2f}** | {ssim.mean():.4f} | {per:.2f} |")


if __name__ == "__main__":
    main()
