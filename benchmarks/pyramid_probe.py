"""The global kernel estimated on a downsampled copy of the input (issue #7, analysis).

The classic coarse-to-fine remedy of blind deblurring (Fergus et al. 2006, Levin et al. 2011, Pan
et al. 2014): at half the resolution a camera-shake kernel has half the extent and the white noise
half the standard deviation (area averaging of 2 × 2 pixels), so the blind estimate is better posed.
For every image of a ``deblurkit synth-set`` camera-shake folder this probe

1. resizes the blurry input by ``--scale`` (OpenCV ``INTER_AREA``);
2. runs the non-uniform preset's global stage on it (:func:`deblurkit.solvers.deblur.deblur_image`,
   ``NONUNIFORM_PRESETS["fast"].global_``; GLKM started by the shipped initializer, or FCN);
3. resizes the estimated kernel back by ``1 / scale`` (bilinear), cleans it as the solver does
   (:func:`deblurkit.solvers.deblur.clean_kernel`, the preset's threshold) and deconvolves the
   full-resolution input with it (:func:`deblurkit.solvers.nonblind.deconvolve`, the preset's
   non-blind settings with the weight from the input's estimated noise).

It scores without choosing anything by the ground truth: PSNR / SSIM of the result (Lai protocol, Y,
shift-aligned), the full-resolution kernel's MNC against every true patch kernel (mean over the
patches), its support (taps ≥ 5 % of the maximum). Compare with ``global_stage_probe.py`` (the same
stage at full resolution).

Usage::

    python benchmarks/pyramid_probe.py SET [--scale 0.5] [--prior glkm|fcn] [--limit N] [--json out.json]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from deblurkit.io.images import read_image
from deblurkit.metrics.kernels import mnc
from deblurkit.models.serialization import load_initializer, load_kernel_generator
from deblurkit.solvers.deblur import clean_kernel, deblur_image
from deblurkit.solvers.nonblind import deconvolve
from deblurkit.solvers.presets import NONUNIFORM_PRESETS
from nonuniform_oracle import _report_means, _score  # benchmarks/ is on sys.path when run as a script


def _support(k: np.ndarray) -> int:
    return int((k >= 0.05 * k.max()).sum())


def upscale_kernel(k: np.ndarray, factor: float, size: int) -> np.ndarray:
    """``(s, s)`` kernel of the resized image → ``(size, size)`` kernel of the full image (sum 1).

    Bilinear resize by ``factor`` (the kernel's extent scales with the image), negative lobes
    clipped, centroid moved to the centre of a ``size × size`` window (taps outside it dropped).
    """
    n = int(round(k.shape[0] * factor)) | 1  # odd
    big = np.clip(cv2.resize(k.astype(np.float64), (n, n), interpolation=cv2.INTER_LINEAR), 0, None)
    big /= big.sum()
    r = np.arange(n)
    cy, cx = int(round((big.sum(1) * r).sum())), int(round((big.sum(0) * r).sum()))
    half = size // 2
    pad = np.pad(big, half)
    out = pad[cy : cy + size, cx : cx + size]
    return (out / out.sum()).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("set", type=Path, help="synth-set camera-shake folder")
    ap.add_argument("--scale", type=float, default=0.5, help="resize factor of the estimation copy (0 < s ≤ 1)")
    ap.add_argument("--prior", choices=("glkm", "fcn"), default="glkm")
    ap.add_argument("--fcn-size", type=int, default=17, help="kernel size of the FCN prior at the reduced scale")
    ap.add_argument("--generator", type=Path, default=Path("weights/kernel_gan_31.safetensors"))
    ap.add_argument("--initializer", type=Path, default=Path("weights/initializer_31.safetensors"))
    ap.add_argument("--limit", type=int, default=0, help="only the first N images (0: all)")
    ap.add_argument("--skip", type=int, default=0, help="leave out the first N images")
    ap.add_argument("--steps", type=int, default=None, help="override the preset's steps (smoke tests)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    if not 0 < args.scale <= 1:
        ap.error("--scale must be in (0, 1]")
    preset = NONUNIFORM_PRESETS["fast"].global_
    if args.steps is not None:
        preset = preset.with_(steps=args.steps)
    G, _ = load_kernel_generator(args.generator)
    E, _ = load_initializer(args.initializer, size=G.config.size)
    S = G.config.size
    rows = []
    for kfile in sorted((args.set / "kernels").glob("*_kernels.npy"))[args.skip :][: args.limit or None]:
        stem = kfile.name[: -len("_kernels.npy")]
        y, _ = read_image(args.set / "blurry" / f"{stem}.png")
        gt, _ = read_image(args.set / "gt" / f"{stem}.png")
        truth = np.load(kfile).reshape(-1, S, S)
        h, w = y.shape[:2]
        small = cv2.resize(y, (round(w * args.scale), round(h * args.scale)), interpolation=cv2.INTER_AREA)
        small = small.reshape(*small.shape[:2], y.shape[2])
        t = time.perf_counter()
        glkm = args.prior == "glkm"
        r = deblur_image(
            small, kernel_prior=args.prior, preset=preset, generator=G if glkm else None,
            initializer=E if glkm else None, kernel_size=S if glkm else args.fcn_size, seed=0,
        )
        k_full = upscale_kernel(r.kernel_raw, 1 / args.scale, S)
        k_used = clean_kernel(torch.from_numpy(k_full), preset.kernel_threshold)
        rgb = torch.from_numpy(y).permute(2, 0, 1)
        nb_cfg, _ = preset.nonblind.resolve_with_noise(rgb)
        out = deconvolve(rgb, k_used.float(), nb_cfg).clamp(0, 1).permute(1, 2, 0).numpy().astype(np.float32)
        seconds = time.perf_counter() - t
        psnr, ssim = _score(out, gt)
        row = {
            "image": stem,
            "blurry": _score(y, gt)[0],
            "small_result_fallback": r.fallback,
            "psnr": psnr,
            "ssim": ssim,
            "mnc": float(np.mean([mnc(k_full, k)[0] for k in truth])),
            "support": _support(k_full),
            "support_true": float(np.mean([_support(k) for k in truth])),
            "seconds": seconds,
        }
        rows.append(row)
        print(
            f"{stem:<8} blurry {row['blurry']:6.2f} out {row['psnr']:6.2f}  MNC {row['mnc']:.3f}  "
            f"support {row['support']} (true {row['support_true']:.0f})  {r.fallback or ''} {seconds:.0f}s",
            flush=True,
        )
    _report_means(rows, ("blurry", "psnr", "ssim", "mnc", "support", "support_true"), args)


if __name__ == "__main__":
    main()
