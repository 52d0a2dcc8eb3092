"""The non-uniform solver with variants of its ``fast`` preset (issue #7, analysis).

Runs :func:`deblurkit.solvers.nonuniform.deblur_image_nonuniform` (the ``fast`` preset on the set's
grid; GLKM global stage started by the shipped initializer unless ``--global-prior fcn``) on every
image of a ``deblurkit synth-set`` camera-shake folder, with, from the command line:

- ``--anchor-global`` / ``--anchor-joint``: the anchor weight ``Preset.latent_anchor`` of either stage
  (:meth:`deblurkit.solvers.kernel_priors.GLKMPrior.anchor_penalty`: ``‖w_k − w_k⁰‖² / ‖w_k⁰‖²``);
- ``--global-preset uniform``: the global stage run with the uniform ``deblur`` command's own
  ``fast`` preset (cross-checked estimates, 32-channel network) instead of the non-uniform
  preset's single-estimate one;
- ``--global-prior fcn``: SelfDeblur's kernel net in the global stage (the uniform command's
  ``auto``);
- ``--denoise-global`` / ``--denoise-joint``: ``Preset.estimate_denoise`` of either stage (kernels
  estimated on a non-local-means denoised copy, :mod:`deblurkit.solvers.denoise`);
- ``--pyramid-scale s``: ``NonUniformPreset.global_scale``, the global stage estimated on a copy
  of the input resized by ``s``, its kernel brought back to full resolution as the joint stage's
  start (:func:`deblurkit.solvers.multiscale.deblur_image_at_scale`).

It scores without choosing anything by the ground truth:

- PSNR / SSIM of the result (Lai protocol, Y channel, shift-aligned; ``benchmarks/nonuniform_oracle.py``);
- mean MNC of the estimated patch kernels against the true ones of the same patches;
- the support of the patch kernels (taps ≥ 5 % of the maximum, mean over patches), to see a
  collapse towards a dot;
- the residual ratio and the fall-back of the result.

Usage::

    python benchmarks/nonuniform_preset_probe.py SET [--anchor-global 1 --anchor-joint 1] [--global-preset uniform]
        [--global-prior fcn] [--denoise-global 1.2 --denoise-joint 1.2] [--pyramid-scale 0.5] [--limit N]
        [--json out.json]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from deblurkit.metrics.kernels import mnc
from deblurkit.models.serialization import load_initializer, load_kernel_generator
from deblurkit.solvers.nonuniform import deblur_image_nonuniform
from deblurkit.solvers.presets import FAST, NONUNIFORM_PRESETS
from nonuniform_oracle import _report_means, _score, synth_set_items  # benchmarks/ is on sys.path when run as a script


def _support(k: np.ndarray) -> float:
    return float((k >= 0.05 * k.max(axis=(-2, -1), keepdims=True)).sum(axis=(-2, -1)).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("set", type=Path, help="synth-set camera-shake folder")
    ap.add_argument("--anchor-global", type=float, default=None, help="latent_anchor, global stage")
    ap.add_argument("--anchor-joint", type=float, default=None, help="latent_anchor, joint stage")
    ap.add_argument("--global-preset", choices=("nonuniform", "uniform"), default="nonuniform")
    ap.add_argument("--global-prior", choices=("glkm", "fcn"), default="glkm")
    ap.add_argument("--generator", type=Path, default=Path("weights/kernel_gan_31.safetensors"))
    ap.add_argument("--initializer", type=Path, default=Path("weights/initializer_31.safetensors"))
    ap.add_argument("--limit", type=int, default=0, help="only the first N images (0: all)")
    ap.add_argument("--skip", type=int, default=0, help="leave out the first N images")
    ap.add_argument("--denoise-global", type=float, default=None, help="estimate_denoise, global stage")
    ap.add_argument("--denoise-joint", type=float, default=None, help="estimate_denoise, joint stage")
    ap.add_argument("--pyramid-scale", type=float, default=None, help="global_scale (0 < s ≤ 1)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    p = NONUNIFORM_PRESETS["fast"]
    glob = FAST if args.global_preset == "uniform" else p.global_
    if args.anchor_global is not None:
        glob = glob.with_(latent_anchor=args.anchor_global)
    joint = p.joint if args.anchor_joint is None else p.joint.with_(latent_anchor=args.anchor_joint)
    if args.denoise_global is not None:
        glob = glob.with_(estimate_denoise=args.denoise_global)
    if args.denoise_joint is not None:
        joint = joint.with_(estimate_denoise=args.denoise_joint)
    p = replace(p, global_=glob, joint=joint, global_scale=args.pyramid_scale or p.global_scale)
    G, _ = load_kernel_generator(args.generator)
    E, _ = load_initializer(args.initializer, size=G.config.size)
    rows = []
    for stem, y, gt, truth in synth_set_items(args.set, args.skip, args.limit):  # truth: (rows, cols, S, S)
        t = time.perf_counter()
        r = deblur_image_nonuniform(
            y, G, grid=truth.shape[:2], preset=p, global_prior=args.global_prior, initializer=E, seed=0
        )
        seconds = time.perf_counter() - t
        psnr, ssim = _score(r.image, gt)
        est = r.kernels.reshape(-1, *r.kernels.shape[-2:])
        row = {
            "image": stem,
            "blurry": _score(y, gt)[0],
            "psnr": psnr,
            "ssim": ssim,
            "mnc": float(np.mean([mnc(e, k)[0] for e, k in zip(est, truth.reshape(est.shape))])),
            "support": _support(est),
            "support_true": _support(truth.reshape(est.shape)),
            "ratio": r.residual_ratio,
            "fallback": r.fallback,
            "seconds": seconds,
        }
        rows.append(row)
        print(
            f"{stem:<8} blurry {row['blurry']:6.2f} out {row['psnr']:6.2f}  MNC {row['mnc']:.3f}  "
            f"support {row['support']:.0f} (true {row['support_true']:.0f})  ratio {row['ratio']}  "
            f"{row['fallback'] or ''} {seconds:.0f}s",
            flush=True,
        )
    _report_means(rows, ("blurry", "psnr", "ssim", "mnc", "support", "support_true"), args)


if __name__ == "__main__":
    main()
