"""What the kernel initializer alone gives on a synthetic non-uniform set (issue #7, analysis only).

For every image of a ``deblurkit synth-set`` camera-shake folder, kernels are read off the
blurry luminance by the shipped initializer (``k = G(E(y))``, no optimisation) and the input is
deconvolved non-blindly, as the solver's last stage does:

- ``global``: one kernel from the whole luminance, :func:`deblurkit.solvers.nonblind.deconvolve`;
- ``patch``: one kernel per patch of the set's grid, each read from a ``--window``-pixel square
  centred on the patch centre (clamped inside the image), blended by the SVOLA windows
  (:func:`deblurkit.solvers.nonblind.deconvolve_patchwise`).

The encoder was trained flip-tolerant: its kernel may be the 180° rotation of the true one, which
deconvolution cannot ignore. ``--orient`` picks each kernel's orientation without ground truth
(``prior``: the smaller hyper-Laplacian energy ``Σ|∇x|^0.8`` of the deconvolved window; ``none``:
as decoded); the kernel MNC columns are flip-tolerant, as in ``initializer-report``. Ground truth
only scores (Lai protocol, Y channel); nothing is chosen with it.

Usage::

    deblurkit synth-set ../shared/data/train/cbsd432 --count 20 --split val --crop 256 --seed 0 -o nu_set
    python benchmarks/nonuniform_initializer_probe.py nu_set [--window 128] [--orient prior] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from deblurkit.metrics.kernels import mnc
from deblurkit.models.serialization import load_initializer, load_kernel_generator
from deblurkit.solvers.initial_kernel import initial_kernel, luminance_tensor
from deblurkit.solvers.nonblind import HyperLaplacianConfig, deconvolve, deconvolve_patchwise
from nonuniform_oracle import _score, patch_windows, synth_set_items  # benchmarks/ is on sys.path when run as a script


def _prior_energy(x: torch.Tensor, border: int) -> float:
    """``Σ|∇x|^0.8`` of a deconvolved ``(1, H, W)`` window, ``border`` pixels left out."""
    x = x[..., border:-border, border:-border].double()
    return float((x.diff(dim=-1).abs() ** 0.8).sum() + (x.diff(dim=-2).abs() ** 0.8).sum())


def _orient(k: torch.Tensor, y: torch.Tensor, cfg: HyperLaplacianConfig) -> torch.Tensor:
    """``k`` ``(S, S)`` or its 180° rotation, whichever deconvolves the luminance window ``y``
    ``(1, h, w)`` in ``[0, 1]`` to the smaller hyper-Laplacian energy."""
    S = k.shape[-1]
    e0 = _prior_energy(deconvolve(y, k, cfg), S)
    kf = torch.flip(k, dims=(-2, -1))
    e1 = _prior_energy(deconvolve(y, kf, cfg), S)
    return kf if e1 < e0 else k


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("set", type=Path, help="synth-set camera-shake folder")
    ap.add_argument("--window", type=int, default=128, help="side of the window each patch kernel is read from (px)")
    ap.add_argument("--orient", choices=("prior", "none"), default="prior")
    ap.add_argument("--generator", type=Path, default=Path("weights/kernel_gan_31.safetensors"))
    ap.add_argument("--initializer", type=Path, default=Path("weights/initializer_31.safetensors"))
    ap.add_argument("--limit", type=int, default=0, help="only the first N images (0: all)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    G, _ = load_kernel_generator(args.generator)
    E, _ = load_initializer(args.initializer, size=G.config.size)
    rows = []
    for stem, y, gt, K in synth_set_items(args.set, limit=args.limit):
        grid = K.shape[:2]
        H, W = y.shape[:2]
        lum = luminance_tensor(y)
        rgb = torch.from_numpy(y).permute(2, 0, 1).double()
        cfg = HyperLaplacianConfig().resolve(rgb)
        kg = initial_kernel(E, G, lum)[0, 0].double()
        if args.orient == "prior":
            kg = _orient(kg, lum[0].double(), cfg)
        ks = []
        for t, l_ in patch_windows(H, W, grid, args.window):
            win = lum[..., t : t + args.window, l_ : l_ + args.window]
            k = initial_kernel(E, G, win)[0, 0].double()
            if args.orient == "prior":
                k = _orient(k, win[0].double(), cfg)
            ks.append(k)
        ks = torch.stack(ks)
        truth = torch.from_numpy(K.reshape(-1, *K.shape[2:])).double()
        row = {
            "image": stem,
            "grid": list(grid),
            "mnc_global": float(np.mean([mnc(kg, t)[0] for t in truth])),
            "mnc_patch": float(np.mean([mnc(k, t)[0] for k, t in zip(ks, truth)])),
        }
        outs = {
            "blurry": y,
            "global": deconvolve(rgb, kg, cfg).permute(1, 2, 0).numpy(),
            "patch": deconvolve_patchwise(rgb, ks, grid, cfg).permute(1, 2, 0).numpy(),
        }
        for name, img in outs.items():
            row[name] = _score(np.clip(img, 0, 1).astype(np.float32), gt)
        rows.append(row)
        print(
            f"{stem:<8} MNC g {row['mnc_global']:.3f} p {row['mnc_patch']:.3f}  "
            + "  ".join(f"{n} {row[n][0]:6.2f}/{row[n][1]:.3f}" for n in outs),
            flush=True,
        )
    keys = ("blurry", "global", "patch")
    means = {n: [float(np.mean([r[n][i] for r in rows])) for i in (0, 1)] for n in keys}
    means.update({m: float(np.mean([r[m] for r in rows])) for m in ("mnc_global", "mnc_patch")})
    print(
        f"mean     MNC g {means['mnc_global']:.3f} p {means['mnc_patch']:.3f}  "
        + "  ".join(f"{n} {means[n][0]:6.2f}/{means[n][1]:.3f}" for n in keys)
    )
    if args.json:
        record = {"set": str(args.set), "args": {k: str(v) for k, v in vars(args).items()}, "per_image": rows, "mean": means}
        args.json.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
