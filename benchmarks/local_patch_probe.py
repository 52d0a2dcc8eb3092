"""Every patch kernel estimated on its own window by the uniform solver (issue #7, analysis only).

GLKM Algorithm 4 estimates one global kernel and then moves every patch's code from it jointly
under the SVOLA model. On the synthetic camera-shake set one kernel explains the spatially
varying blur badly (the mean of the true patch kernels, used for the whole image, is below the
input: docs/benchmarks.md, session 21), and the joint stage starts there. Here instead every patch
of the set's grid gets the uniform solver's own estimate from a ``--window``-pixel square centred
on the patch centre (clamped inside the image) — the global stage of the non-uniform ``fast``
preset (``NONUNIFORM_PRESETS["fast"].global_``: GLKM started by the initializer read from that
window, or FCN), run on the window — and the whole input is deconvolved patch-wise with these
kernels blended by the SVOLA windows (:func:`deblurkit.solvers.nonblind.deconvolve_patchwise`).
The kernels are the solver's cleaned ones (small taps zeroed, centroid at the centre tap). A
window whose estimate fails the solver's residual check (input returned) gets the no-blur kernel.
Ground truth only scores (Lai protocol, Y channel; kernel MNC against the true kernel of the same
patch); nothing is chosen with it.

Usage::

    python benchmarks/local_patch_probe.py SET [--prior glkm|fcn] [--window 128] [--denoise 1.2]
        [--limit N] [--skip N] [--json out.json]
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
from deblurkit.solvers.nonblind import deconvolve_patchwise
from deblurkit.solvers.presets import NONUNIFORM_PRESETS
from nonuniform_oracle import _report_means, _score, patch_windows, synth_set_items  # benchmarks/ is on sys.path when run as a script


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("set", type=Path, help="synth-set camera-shake folder")
    ap.add_argument("--prior", choices=("glkm", "fcn"), default="glkm")
    ap.add_argument("--window", type=int, default=128, help="side of each patch's estimation window (px)")
    ap.add_argument("--denoise", type=float, default=None, help="override the preset's estimate_denoise")
    ap.add_argument("--generator", type=Path, default=Path("weights/kernel_gan_31.safetensors"))
    ap.add_argument("--initializer", type=Path, default=Path("weights/initializer_31.safetensors"))
    ap.add_argument("--limit", type=int, default=0, help="only the first N images (0: all)")
    ap.add_argument("--skip", type=int, default=0, help="leave out the first N images")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    preset = NONUNIFORM_PRESETS["fast"].global_
    if args.denoise is not None:
        preset = preset.with_(estimate_denoise=args.denoise)
    G, _ = load_kernel_generator(args.generator)
    E, _ = load_initializer(args.initializer, size=G.config.size)
    S = G.config.size
    glkm = args.prior == "glkm"
    rows = []
    for stem, y, gt, K in synth_set_items(args.set, args.skip, args.limit):
        grid = K.shape[:2]
        truth = torch.from_numpy(K.reshape(-1, S, S)).double()
        H, W = y.shape[:2]
        side = min(args.window, H, W)
        t0 = time.perf_counter()
        ks, rejected = [], 0
        for t, l_ in patch_windows(H, W, grid, side):
            r = deblur_image(
                y[t : t + side, l_ : l_ + side], kernel_prior=args.prior, preset=preset, kernel_size=S,
                generator=G if glkm else None, initializer=E if glkm else None, seed=0,
            )
            k = torch.from_numpy(r.kernel).double()  # cleaned, centred on its centroid, trimmed: pad back to S
            pad = (S - k.shape[-1]) // 2
            k = torch.nn.functional.pad(k, (pad, pad, pad, pad))
            if r.returned_input:
                rejected += 1
                k = torch.zeros(S, S, dtype=torch.float64)
                k[S // 2, S // 2] = 1.0
            ks.append(k)
        ks = torch.stack(ks)
        rgb = torch.from_numpy(y).permute(2, 0, 1).double()
        out = deconvolve_patchwise(rgb, ks, grid, preset.nonblind.resolve(rgb)).permute(1, 2, 0).numpy()
        psnr, ssim = _score(np.clip(out, 0, 1).astype(np.float32), gt)
        row = {
            "image": stem,
            "blurry": _score(y, gt)[0],
            "psnr": psnr,
            "ssim": ssim,
            "mnc": float(np.mean([mnc(k, tk)[0] for k, tk in zip(ks, truth)])),
            "rejected": rejected,
            "seconds": time.perf_counter() - t0,
        }
        rows.append(row)
        print(
            f"{stem:<8} blurry {row['blurry']:6.2f} out {psnr:6.2f}/{ssim:.3f}  patch MNC {row['mnc']:.3f}  "
            f"rejected {rejected}  {row['seconds']:.0f}s",
            flush=True,
        )
    _report_means(rows, ("blurry", "psnr", "ssim", "mnc", "rejected"), args)


if __name__ == "__main__":
    main()
