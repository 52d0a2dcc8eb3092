"""The non-uniform solver's global (uniform) stage on a synthetic camera-shake set (issue #7, analysis).

Runs :func:`deblurkit.solvers.deblur.deblur_image` with the ``fast`` non-uniform preset's global
stage (``NONUNIFORM_PRESETS["fast"].global_``), optionally changed by ``--kernel-warmup`` (the
fraction of steps during which the kernel is held at its start while the DIP network fits the data),
``--denoise`` (``Preset.estimate_denoise``: the kernel estimated on a non-local-means denoised copy)
and ``--latent-anchor`` (weight of the GLKM prior's anchor term ``‖w_k − w_k⁰‖² / ‖w_k⁰‖²``),
on every image of a ``deblurkit synth-set`` folder, and scores without choosing anything by it:

- PSNR / SSIM of the restored image (Lai protocol, Y channel, shift-aligned);
- the estimated kernel's MNC against every true patch kernel (mean over the patches) and that
  of the start ``G(E(y))`` (GLKM with the initializer only);
- the kernel's support (taps ≥ 5 % of its maximum), to see a collapse towards a dot;
- GLKM: how far the optimised feature map moved from its start, ``‖w_k − w_k⁰‖² / ‖w_k⁰‖²``
  (the quantity the ``latent_anchor`` term penalises).

Usage::

    python benchmarks/global_stage_probe.py SET [--prior glkm] [--kernel-warmup 0.3] [--latent-anchor 0.1] \
        [--limit N] [--json out.json]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from deblurkit.metrics.kernels import mnc
from deblurkit.models.serialization import load_initializer, load_kernel_generator
from deblurkit.solvers.deblur import deblur_image
from deblurkit.solvers.initial_kernel import initial_feature_map, luminance_tensor
from deblurkit.solvers.presets import NONUNIFORM_PRESETS
from nonuniform_oracle import _report_means, _score, synth_set_items  # benchmarks/ is on sys.path when run as a script


def _support(k: np.ndarray) -> int:
    return int((k >= 0.05 * k.max()).sum())


def _w_shift(w: torch.Tensor, w0: torch.Tensor) -> float:
    return float((w.cpu() - w0.cpu()).pow(2).sum() / w0.cpu().pow(2).sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("set", type=Path, help="synth-set camera-shake folder")
    ap.add_argument("--prior", choices=("glkm", "fcn"), default="glkm")
    ap.add_argument("--kernel-warmup", type=float, default=None, help="override the global preset's kernel_warmup")
    ap.add_argument("--generator", type=Path, default=Path("weights/kernel_gan_31.safetensors"))
    ap.add_argument("--initializer", type=Path, default=Path("weights/initializer_31.safetensors"))
    ap.add_argument("--limit", type=int, default=0, help="only the first N images (0: all)")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--latent-anchor", type=float, default=None, help="override the global preset's latent_anchor")
    ap.add_argument("--denoise", type=float, default=None, help="override the global preset's estimate_denoise")
    args = ap.parse_args()
    preset = NONUNIFORM_PRESETS["fast"].global_
    if args.kernel_warmup is not None:
        preset = preset.with_(kernel_warmup=args.kernel_warmup)
    if args.latent_anchor is not None:
        preset = preset.with_(latent_anchor=args.latent_anchor)
    if args.denoise is not None:
        preset = preset.with_(estimate_denoise=args.denoise)
    G, _ = load_kernel_generator(args.generator)
    E, _ = load_initializer(args.initializer, size=G.config.size)
    rows = []
    for stem, y, gt, K in synth_set_items(args.set, limit=args.limit):
        truth = K.reshape(-1, G.config.size, G.config.size)
        w0 = initial_feature_map(E, G, luminance_tensor(y))  # the GLKM start w_k⁰ = g1(E(y))
        with torch.no_grad():
            k0 = G.from_w(w0)[0, 0].numpy()  # = initial_kernel(E, G, y)
        t = time.perf_counter()
        r = deblur_image(
            y, kernel_prior=args.prior, preset=preset, generator=G if args.prior == "glkm" else None,
            initializer=E if args.prior == "glkm" else None, kernel_size=G.config.size, seed=0,
        )
        seconds = time.perf_counter() - t
        psnr, ssim = _score(r.image, gt)
        row = {
            "image": stem,
            "blurry": _score(y, gt)[0],
            "psnr": psnr,
            "ssim": ssim,
            "mnc": float(np.mean([mnc(r.kernel_raw, k)[0] for k in truth])),
            "mnc_start": float(np.mean([mnc(k0, k)[0] for k in truth])),
            "support": _support(r.kernel_raw),
            "w_shift": None if r.kernel_code is None else _w_shift(r.kernel_code, w0),
            "support_true": float(np.mean([_support(k) for k in truth])),
            "ratio": r.nonblind.get("residual_ratio"),
            "fallback": r.fallback,
            "seconds": seconds,
        }
        rows.append(row)
        print(
            f"{stem:<8} blurry {row['blurry']:6.2f} out {row['psnr']:6.2f}  "
            f"MNC start {row['mnc_start']:.3f} end {row['mnc']:.3f}  "
            f"support {row['support']} (true {row['support_true']:.0f})  w shift {row['w_shift']}  "
            f"ratio {row['ratio']}  {row['fallback'] or ''} {seconds:.0f}s",
            flush=True,
        )
    _report_means(rows, ("blurry", "psnr", "ssim", "mnc_start", "mnc", "support", "support_true"), args)


if __name__ == "__main__":
    main()
