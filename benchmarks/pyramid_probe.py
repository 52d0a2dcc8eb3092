"""The global kernel estimated on a downsampled copy of the input (issue #7, analysis).

The classic coarse-to-fine remedy of blind deblurring (Fergus et al. 2006, Levin et al. 2011, Pan
et al. 2014): at half the resolution a camera-shake kernel has half the extent and the white noise
half the standard deviation (area averaging of 2 × 2 pixels), so the blind estimate is better posed.
For every image of a ``deblurkit synth-set`` camera-shake folder this probe

1. resizes the blurry input by ``--scale`` (OpenCV ``INTER_AREA``);
2. runs the non-uniform preset's global stage on it (:func:`deblurkit.solvers.deblur.deblur_image`,
   ``NONUNIFORM_PRESETS["fast"].global_``; GLKM started by the shipped initializer);
3. resizes the estimated kernel back by ``1 / scale`` (bilinear), cleans it as the solver does
   (:func:`deblurkit.solvers.deblur.clean_kernel`, the preset's threshold) and deconvolves the
   full-resolution input with it (:func:`deblurkit.solvers.nonblind.deconvolve`, the preset's
   non-blind settings with the weight from the input's estimated noise; the input itself when the
   reduced-scale run returned its input) — :func:`deblurkit.solvers.multiscale.deblur_image_at_scale`,
   the global stage of the non-uniform solver with ``NonUniformPreset.global_scale`` (its joint
   stage then refines the kernel per patch: ``nonuniform_preset_probe.py --pyramid-scale``).

It scores without choosing anything by the ground truth: PSNR / SSIM of the result (Lai protocol, Y,
shift-aligned), the full-resolution kernel's MNC against every true patch kernel (mean over the
patches), its support (taps ≥ 5 % of the maximum). Compare with ``global_stage_probe.py`` (the same
stage at full resolution).

Usage::

    python benchmarks/pyramid_probe.py SET [--scale 0.5] [--skip N] [--limit N] [--json out.json]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from deblurkit.metrics.kernels import mnc
from deblurkit.models.serialization import load_initializer, load_kernel_generator
from deblurkit.solvers.multiscale import deblur_image_at_scale
from deblurkit.solvers.presets import NONUNIFORM_PRESETS
from nonuniform_oracle import _report_means, _score, synth_set_items  # benchmarks/ is on sys.path when run as a script


def _support(k: np.ndarray) -> int:
    return int((k >= 0.05 * k.max()).sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("set", type=Path, help="synth-set camera-shake folder")
    ap.add_argument("--scale", type=float, default=0.5, help="resize factor of the estimation copy (0 < s ≤ 1)")
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
    for stem, y, gt, K in synth_set_items(args.set, args.skip, args.limit):
        truth = K.reshape(-1, S, S)
        t = time.perf_counter()
        r = deblur_image_at_scale(y, args.scale, preset=preset, kernel_size=S, generator=G, initializer=E, seed=0)
        k_full = r.kernel_raw
        seconds = time.perf_counter() - t
        psnr, ssim = _score(r.image, gt)
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
