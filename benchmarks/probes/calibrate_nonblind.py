"""Calibrate the noise rule ``λ = lam_noise / σ̂²`` of the non-blind deconvolution.

Data (never a benchmark): 256×256 crops of the *train* split of ``../shared/data/train/cbsd432``
(:func:`deblurkit.datasets.blurry_patches.split_of`; the non-uniform benchmark set is made from the
validation split), blurred (valid convolution, so the borders are real) by 31-px kernels of the
project's own ``trajectory`` synthesis, with white noise σ ∈ {0.0025, 0.005, 0.01, 0.02} and 8-bit
quantisation. Every case is deconvolved (default :class:`HyperLaplacianConfig`, ``boundary="unknown"``)
with the true kernel and with a perturbed one (a blind estimate is never exact: 20 % of the mass
moved to random taps near the support, then a one-pixel shift), for λ on a grid; the table gives the
mean PSNR (15-px border crop) per λ·σ̂² bucket.

Usage::

    python benchmarks/probes/calibrate_nonblind.py --images ../shared/data/train/cbsd432 --count 8
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import torch

from deblurkit.datasets.blurry_patches import load_sharp_images
from deblurkit.kernels.synth import SynthesisConfig, synthesize_kernels
from deblurkit.metrics.ssim import psnr_matlab
from deblurkit.physics.functional import blur
from deblurkit.physics.noise import estimate_noise_std
from deblurkit.solvers.nonblind import HyperLaplacianConfig, deconvolve


def perturb(k: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A plausible blind estimate: 20 % of the mass scattered near the support, shifted by 1 px."""
    support = torch.from_numpy((k > 0.05 * k.max()).astype(np.float64))[None, None]
    near = torch.nn.functional.max_pool2d(support, 7, 1, 3)[0, 0].numpy() > 0  # dilated by 3 px
    idx = np.flatnonzero(near)
    noise = np.zeros(k.size)
    noise[rng.choice(idx, size=max(1, idx.size // 5), replace=False)] = rng.random(max(1, idx.size // 5))
    out = 0.8 * k / k.sum() + 0.2 * noise.reshape(k.shape) / noise.sum()
    return np.roll(out, (1, 0), axis=(0, 1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", default="../shared/data/train/cbsd432")
    ap.add_argument("--count", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(args.seed)
    imgs = load_sharp_images(args.images, split="train")
    picks = rng.choice(len(imgs), size=args.count, replace=False)
    kernels, _ = synthesize_kernels(SynthesisConfig(family="trajectory", size=31, count=args.count, seed=args.seed, min_length=9))
    sigmas = (0.0025, 0.005, 0.01, 0.02)
    consts = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32)
    rows = []
    for n, i in enumerate(picks):
        img = imgs[i]
        t, l = rng.integers(0, img.shape[0] - 286 + 1), rng.integers(0, img.shape[1] - 286 + 1)
        x = torch.from_numpy(img[t : t + 286, l : l + 286]).double()[None, None]
        k = kernels[n]
        gt = x[0, 0, 15:-15, 15:-15].numpy()
        clean = blur(x, torch.from_numpy(k), mode="valid")[0, 0]  # 256×256
        for s in sigmas:
            y = torch.round((clean + s * torch.from_numpy(rng.standard_normal(clean.shape))).clamp(0, 1) * 255) / 255
            sig = estimate_noise_std(y)
            for kind, kk in (("true", k), ("perturbed", perturb(k, rng))):
                for c in consts:
                    cfg = HyperLaplacianConfig(lam=c / sig**2)
                    est = deconvolve(y[None].float(), torch.from_numpy(np.ascontiguousarray(kk)), cfg)[0].double().numpy()
                    rows.append((s, sig, kind, c, psnr_matlab(est[15:-15, 15:-15], gt[15:-15, 15:-15])))
        print(f"image {n + 1}/{args.count} done", flush=True)
    print("\n| kernel | σ | mean σ̂ | " + " | ".join(f"c={c}" for c in consts) + " |")
    print("|---" * (3 + len(consts)) + "|")
    for kind in ("true", "perturbed"):
        for s in sigmas:
            sel = [r for r in rows if r[0] == s and r[2] == kind]
            means = [np.mean([r[4] for r in sel if r[3] == c]) for c in consts]
            best = int(np.argmax(means))
            cells = [f"**{m:.2f}**" if j == best else f"{m:.2f}" for j, m in enumerate(means)]
            print(f"| {kind} | {s} | {np.mean([r[1] for r in sel]):.4f} | " + " | ".join(cells) + " |")
    for kind in ("true", "perturbed"):
        means = [np.mean([r[4] for r in rows if r[2] == kind and r[3] == c]) for c in consts]
        print(f"{kind}: mean over σ per c: " + ", ".join(f"{c}: {m:.2f}" for c, m in zip(consts, means)))


if __name__ == "__main__":
    main()
