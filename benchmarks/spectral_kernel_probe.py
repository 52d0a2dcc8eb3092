"""Kernel refined in GLKM's latent space by the Gaussian marginal likelihood (issue #7, analysis only).

Hypothesis: the joint DIP optimisation slides the initializer's kernel towards a dot because a
free image can explain a noisy, blurry input with little or no blur (the MAP_{x,k} failure of
Levin et al., CVPR 2009). Estimating the kernel alone, with the image integrated out (MAP_k),
does not prefer the dot. With a Gaussian prior on image gradients the marginal likelihood has a
closed form in the Fourier domain: for each gradient filter ``d`` (horizontal, vertical),
``Y_d(ω) = K(ω) X_d(ω) + D(ω) N(ω)`` with white ``X_d`` of variance ``s²`` and white noise of
variance ``σ²``, so

    −log p(y | k) = Σ_d Σ_ω |Y_d(ω)|² / v(ω) + log v(ω),   v(ω) = |K(ω)|² s² + |D(ω)|² σ²

(Levin et al., "Efficient marginal likelihood optimization in blind deconvolution", CVPR 2011,
§3, the Gaussian case). This fixes ``|K|`` only; the phase is left to the kernel GAN's latent
space (the kernel is ``G^{(w)}(w)`` with ``w`` started at the initializer's ``w_k⁰``) and the 180°
flip, which ``|K|`` cannot see, is chosen as in ``nonuniform_initializer_probe.py`` (smaller
hyper-Laplacian energy of the deconvolution). ``σ`` is the image's noise estimate
(:func:`deblurkit.physics.noise.estimate_noise_std`), ``s²`` is optimised with ``w``. Then the
solver's non-blind step. Ground truth only scores (Lai protocol, Y; kernel MNC) and places the
criterion: its value at the mean of the true patch kernels, the start, the refined kernel and the
no-blur kernel, ``s²`` fitted for each; nothing is chosen with it.

Usage::

    python benchmarks/spectral_kernel_probe.py dev_set [--steps 300] [--limit N] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from deblurkit.metrics.kernels import mnc
from deblurkit.models.serialization import load_initializer, load_kernel_generator
from deblurkit.physics.noise import estimate_noise_std
from deblurkit.solvers.initial_kernel import initial_feature_map, luminance_tensor
from deblurkit.solvers.nonblind import HyperLaplacianConfig, deconvolve, deconvolve_patchwise, psf2otf
from nonuniform_initializer_probe import _orient  # benchmarks/ is on sys.path when run as a script
from nonuniform_oracle import _score, patch_windows, synth_set_items


def _gradient_spectra(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(2, h, w)`` power spectra ``|Y_d|²`` of the Hann-windowed gradients of ``y`` ``(H, W)``,
    and ``(2, h, w)`` ``|D|²`` of the two difference filters on the same grid."""
    gx = y[:, 1:] - y[:, :-1]
    gy = y[1:, :] - y[:-1, :]
    h, w = (y.shape[0] - 1) // 2 * 2, (y.shape[1] - 1) // 2 * 2  # even, so the rFFT width gives w back
    gx, gy = gx[:h, :w], gy[:h, :w]
    hann = lambda n: torch.hann_window(n, periodic=False, dtype=y.dtype)  # noqa: E731
    win = hann(h)[:, None] * hann(w)[None]
    win = win / win.pow(2).mean().sqrt()
    # per-pixel variance units
    spec = torch.stack([torch.fft.rfft2(gx * win), torch.fft.rfft2(gy * win)]).abs() ** 2 / (h * w)
    dx = torch.zeros(h, w, dtype=y.dtype)
    dx[0, 0], dx[0, -1] = 1.0, -1.0
    dy = torch.zeros(h, w, dtype=y.dtype)
    dy[0, 0], dy[-1, 0] = 1.0, -1.0
    d2 = torch.stack([torch.fft.rfft2(dx), torch.fft.rfft2(dy)]).abs() ** 2
    return spec, d2


def _shape(spec: torch.Tensor) -> tuple[int, int]:
    """Spatial ``(h, w)`` of an rFFT spectrum stack ``(2, h, w//2+1)`` (``w`` even, as the Hann grid is here)."""
    return spec.shape[-2], 2 * (spec.shape[-1] - 1)


def neg_log_marginal(
    k: torch.Tensor, spec: torch.Tensor, d2: torch.Tensor, log_s2: torch.Tensor, sigma2: float
) -> torch.Tensor:
    """Mean over frequencies of the Gaussian ``−log p(y | k)`` above; ``k`` ``(S, S)``."""
    K2 = psf2otf(k, _shape(spec)).abs() ** 2
    v = K2[None] * log_s2.exp() + d2 * sigma2
    return (spec / v + v.log()).mean()


def fitted_loss(k: torch.Tensor, y: torch.Tensor, steps: int = 200) -> float:
    """``neg_log_marginal`` of a fixed kernel ``k`` ``(S, S)`` on the luminance ``y`` ``(H, W)``, ``s²`` optimised
    (diagnosis only: where the criterion puts the true kernel and the no-blur kernel)."""
    spec, d2 = _gradient_spectra(y.double())
    sigma2 = max(estimate_noise_std(y[None]), 1e-3) ** 2
    log_s2 = torch.tensor(-4.0, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([log_s2], lr=0.1)
    for _ in range(steps):
        opt.zero_grad()
        loss = neg_log_marginal(k.double(), spec, d2, log_s2, sigma2)
        loss.backward()
        opt.step()
    return loss.item()


def refine(G, w0: torch.Tensor, y: torch.Tensor, steps: int, lr: float) -> tuple[torch.Tensor, list[float]]:
    """``w`` started at ``w0`` ``(1, 256, k1, k1)``, moved by Adam to lower ``neg_log_marginal`` of
    the luminance ``y`` ``(H, W)``; returns the kernel ``(S, S)`` and the loss curve."""
    spec, d2 = _gradient_spectra(y.double())
    sigma2 = max(estimate_noise_std(y[None]), 1e-3) ** 2
    w = w0.clone().requires_grad_(True)
    with torch.no_grad():
        K2 = psf2otf(G.from_w(w0)[0, 0].double(), _shape(spec)).abs() ** 2
        s2 = ((spec - d2 * sigma2).clamp_min(0).sum() / (K2[None].expand_as(spec).sum())).item()
    log_s2 = torch.tensor(np.log(max(s2, 1e-6)), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([{"params": [w], "lr": lr}, {"params": [log_s2], "lr": 0.05}])
    curve = []
    for _ in range(steps):
        opt.zero_grad()
        loss = neg_log_marginal(G.from_w(w)[0, 0].double(), spec, d2, log_s2, sigma2)
        loss.backward()
        opt.step()
        w.data.clamp_(min=0)
        curve.append(loss.item())
    with torch.no_grad():
        return G.from_w(w)[0, 0].double(), curve


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("set", type=Path, help="synth-set camera-shake folder")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--window", type=int, default=128, help="side of the window each patch kernel is read from (px)")
    ap.add_argument("--generator", type=Path, default=Path("weights/kernel_gan_31.safetensors"))
    ap.add_argument("--initializer", type=Path, default=Path("weights/initializer_31.safetensors"))
    ap.add_argument("--limit", type=int, default=0, help="only the first N images (0: all)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    G, _ = load_kernel_generator(args.generator)
    E, _ = load_initializer(args.initializer, size=G.config.size)
    G.eval()
    for p in G.parameters():
        p.requires_grad_(False)
    rows = []
    for stem, y, gt, K in synth_set_items(args.set, limit=args.limit):
        grid = K.shape[:2]
        H, W = y.shape[:2]
        lum = luminance_tensor(y)
        rgb = torch.from_numpy(y).permute(2, 0, 1).double()
        cfg = HyperLaplacianConfig().resolve(rgb)
        truth = torch.from_numpy(K.reshape(-1, *K.shape[2:])).double()
        with torch.no_grad():
            w0 = initial_feature_map(E, G, lum)
            k0 = _orient(G.from_w(w0)[0, 0].double(), lum[0].double(), cfg)
        kg, curve = refine(G, w0, lum[0, 0], args.steps, args.lr)
        kg = _orient(kg, lum[0].double(), cfg)
        ks = []
        for t, l_ in patch_windows(H, W, grid, args.window):
            win = lum[..., t : t + args.window, l_ : l_ + args.window]
            with torch.no_grad():
                wp = initial_feature_map(E, G, win)
            k, _ = refine(G, wp, win[0, 0], args.steps, args.lr)
            ks.append(_orient(k, win[0].double(), cfg))
        ks = torch.stack(ks)
        delta = torch.zeros_like(k0)
        delta[delta.shape[0] // 2, delta.shape[1] // 2] = 1.0
        named = (("truth", truth.mean(0)), ("start", k0), ("refined", kg), ("delta", delta))
        crit = {name: fitted_loss(k, lum[0, 0]) for name, k in named}
        row = {
            "image": stem,
            "mnc_start": float(np.mean([mnc(k0, t)[0] for t in truth])),
            "mnc_global": float(np.mean([mnc(kg, t)[0] for t in truth])),
            "mnc_patch": float(np.mean([mnc(k, t)[0] for k, t in zip(ks, truth)])),
            "loss": [curve[0], curve[-1]],
            "criterion": crit,
        }
        outs = {
            "blurry": y,
            "start": deconvolve(rgb, k0, cfg).permute(1, 2, 0).numpy(),
            "global": deconvolve(rgb, kg, cfg).permute(1, 2, 0).numpy(),
            "patch": deconvolve_patchwise(rgb, ks, grid, cfg).permute(1, 2, 0).numpy(),
        }
        for name, img in outs.items():
            row[name] = _score(np.clip(img, 0, 1).astype(np.float32), gt)
        rows.append(row)
        print(
            f"{stem:<8} MNC start {row['mnc_start']:.3f} g {row['mnc_global']:.3f} p {row['mnc_patch']:.3f}  "
            + "  ".join(f"{n} {row[n][0]:6.2f}/{row[n][1]:.3f}" for n in outs)
            + "  −log p(y|k): " + " ".join(f"{n} {v:.3f}" for n, v in crit.items()),
            flush=True,
        )
    keys = ("blurry", "start", "global", "patch")
    means = {n: [float(np.mean([r[n][i] for r in rows])) for i in (0, 1)] for n in keys}
    means.update({m: float(np.mean([r[m] for r in rows])) for m in ("mnc_start", "mnc_global", "mnc_patch")})
    print(
        f"mean     MNC start {means['mnc_start']:.3f} g {means['mnc_global']:.3f} p {means['mnc_patch']:.3f}  "
        + "  ".join(f"{n} {means[n][0]:6.2f}/{means[n][1]:.3f}" for n in keys)
    )
    if args.json:
        record = {"set": str(args.set), "args": {k: str(v) for k, v in vars(args).items()}}
        record.update(per_image=rows, mean=means)
        args.json.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
