"""How well a trained kernel generator represents real kernels (GLKM §IV-B/§V-A, Eq. (6)).

For each reference kernel ``k`` (placed in the generator's ``S × S`` window by
:func:`place_in_window`) we fit the frozen generator (eval mode) to it by Adam on the L1 error
``‖G(·) − k‖₁``:

(a) in ``w`` space — the first layer's feature map ``w_k = g1(z)``, GLKM's optimisation variable
    (Eq. (6)), started from ``g1(z₀)`` for random ``z₀``;
(b) in ``z`` space — the latent itself (the constrained space GLKM argues against, Eq. (5)).

Both use several random starts, Adam with a cosine learning-rate decay (to 1 % of the initial
rate), and keep the start with the smallest final L1 error (the reference is never consulted
except through the fitted L1 objective). The score is the
MNC (:func:`deblurkit.metrics.mnc_batch`: shift- and 180°-flip-tolerant). Diversity is the mean
pairwise MNC of random samples ``G(z)``, ``z ~ N(0, I)`` (1 = all alike: mode collapse).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from deblurkit.errors import DeblurkitError
from deblurkit.metrics import mnc_batch
from deblurkit.models.kernel_gan import KernelGenerator
from deblurkit.solvers.inversion import FitConfig, fit_generator

KERNEL_FILE_EXTENSIONS = (".png", ".npy", ".tif", ".tiff", ".bmp", ".jpg", ".jpeg")


def place_in_window(k: np.ndarray, size: int) -> np.ndarray:
    """Put a kernel into an ``S × S`` window, centred on its centre of mass.

    The kernel is moved by the integer shift that brings its centre of mass (rounded) to the
    window centre ``(⌊S/2⌋, ⌊S/2⌋)`` — the generator's training kernels are centred the same way
    (:mod:`deblurkit.kernels`) — then zero-padded or cropped (mass outside the window is lost)
    and renormalised to sum 1.

    Args:
        k: ``(h, w)`` non-negative kernel with positive sum (any size).
        size: window side ``S``.

    Returns:
        ``(S, S)`` float32 kernel, non-negative, summing to 1.

    Raises:
        DeblurkitError: if ``k`` is not 2-D or has no mass inside the window.
    """
    k = np.asarray(k, dtype=np.float64)
    if k.ndim != 2 or k.sum() <= 0:
        raise DeblurkitError(f"a reference kernel must be 2-D with positive sum, got shape {k.shape}")
    h, w = k.shape
    yy, xx = np.mgrid[:h, :w]
    cy, cx = int(round((k * yy).sum() / k.sum())), int(round((k * xx).sum() / k.sum()))
    out = np.zeros((size, size))
    c = size // 2
    # window pixel (i, j) takes kernel pixel (i - c + cy, j - c + cx)
    y0, x0 = cy - c, cx - c
    ys, xs = max(0, y0), max(0, x0)
    ye, xe = min(h, y0 + size), min(w, x0 + size)
    if ys >= ye or xs >= xe:
        raise DeblurkitError("reference kernel has no mass inside the generator window")
    out[ys - y0 : ye - y0, xs - x0 : xe - x0] = k[ys:ye, xs:xe]
    if out.sum() <= 0:
        raise DeblurkitError("reference kernel has no mass inside the generator window")
    return (out / out.sum()).astype(np.float32)


def _natural_key(p: Path) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)]


def load_reference_kernels(path: Path | str) -> list[tuple[str, np.ndarray]]:
    """Reference kernels from a folder of kernel files, a glob pattern, a ``.npz`` set, or one file.

    Args:
        path: a folder (every ``.png``/``.npy``/image file in it, in natural order; other files are
            ignored), a glob pattern such as ``levin/gt/kernel*.png`` (matches in natural order), a
            ``.npz`` with ``kernels`` ``(N, h, w)`` (named ``kernel_000``, …), or one kernel file.

    Returns:
        ``[(name, (h, w) float32 kernel summing to 1), ...]``.

    Raises:
        DeblurkitError: missing path, an empty folder or pattern, an unreadable file.
    """
    from deblurkit.io import read_kernel, read_kernel_set

    path = Path(path)
    if not path.exists() and any(c in path.name for c in "*?["):
        files = sorted(path.parent.glob(path.name), key=_natural_key)
        if not files:
            raise DeblurkitError(f"no kernel files match {path}")
        return [(p.stem, read_kernel(p)) for p in files]
    if path.is_dir():
        files = sorted((p for p in path.iterdir() if p.suffix.lower() in KERNEL_FILE_EXTENSIONS), key=_natural_key)
        if not files:
            raise DeblurkitError(f"{path}: no kernel files ({', '.join(KERNEL_FILE_EXTENSIONS)})")
        return [(p.stem, read_kernel(p)) for p in files]
    if not path.exists():
        raise DeblurkitError(f"no such file or folder: {path}")
    if path.suffix.lower() == ".npz":
        try:
            ks, _ = read_kernel_set(path)
        except DeblurkitError:
            return [(path.stem, read_kernel(path))]
        return [(f"kernel_{i:03d}", k) for i, k in enumerate(ks)]
    return [(path.stem, read_kernel(path))]


def sample_diversity(generator: KernelGenerator, n: int = 64, seed: int = 0) -> float:
    """Mean pairwise MNC of ``n`` random samples ``G(z)``, ``z ~ N(0, I)`` (eval mode).

    Args:
        generator: the generator.
        n: number of samples (``≥ 2``); ``n(n−1)/2`` pairs are scored.
        seed: seeds the latents.

    Returns:
        A score in ``[0, 1]``; lower is more diverse (1: every sample the same up to shift/flip).

    Raises:
        ValueError: if ``n < 2``.
    """
    return _diversity(_random_samples(generator, n, seed))


def sample_peak(generator: KernelGenerator, n: int = 64, seed: int = 0) -> float:
    """Mean largest tap of ``n`` random samples ``G(z)`` (the same latents as :func:`sample_diversity`).

    A saturation check: a softmax generator driven into saturation puts nearly all the mass in a
    few pixels, so its samples' peak rises far above that of real kernels of the same extent
    (compare the report's ``reference_peak``). A flat ``S × S`` kernel has ``1/S²``, a delta 1.

    Returns:
        A value in ``(0, 1]``.
    """
    return _peak(_random_samples(generator, n, seed))


def _diversity(k: torch.Tensor) -> float:
    """Mean pairwise MNC of samples ``(n, S, S)``; raises ``ValueError`` if ``n < 2``."""
    if len(k) < 2:
        raise ValueError("diversity needs at least 2 samples")
    i, j = torch.triu_indices(len(k), len(k), offset=1)
    return float(mnc_batch(k[i], k[j]).mnc.mean())


def _peak(k: torch.Tensor) -> float:
    """Mean largest tap of samples ``(n, S, S)``."""
    return float(k.flatten(1).amax(dim=1).mean())


def _random_samples(generator: KernelGenerator, n: int, seed: int) -> torch.Tensor:
    """``(n, S, S)`` float64 CPU samples ``G(z)``, ``z ~ N(0, I)`` seeded by ``seed`` (eval mode)."""
    generator.eval()
    device = next(generator.parameters()).device
    z = generator.sample_latent(n, generator=torch.Generator().manual_seed(seed + 7919)).to(device)
    with torch.no_grad():
        return generator(z)[:, 0].cpu().double()


def kernel_prior_report(
    generator: KernelGenerator,
    references: list[tuple[str, np.ndarray]],
    cfg: FitConfig = FitConfig(),
    progress: Callable[[int], None] | None = None,
) -> dict:
    """The kernel-prior quality report (``deblurkit kernel-prior-report``).

    Args:
        generator: trained kernel generator (any device).
        references: ``[(name, (h, w) kernel)]``, e.g. from :func:`load_reference_kernels`.
        cfg: fit settings.
        progress: called with ``1`` after every Adam step (``steps_w + steps_z`` in all).

    Returns:
        JSON-ready dict: ``per_kernel`` — list of ``{name, shape, mnc_w, mnc_z, l1_w, l1_z}``
        (MNC against the reference as placed in the window; flip- and shift-tolerant);
        ``mean_mnc_w``, ``mean_mnc_z``, ``sample_diversity``, ``sample_peak`` (:func:`sample_peak`)
        and ``reference_peak`` (the references' mean largest tap, as placed), ``size`` and ``fit``
        (the settings).

    Raises:
        DeblurkitError: no references, or a reference with no mass inside the window.
        ValueError: ``cfg.num_samples < 2``.
    """
    if not references:
        raise DeblurkitError("no reference kernels")
    s = generator.config.size
    placed = torch.from_numpy(np.stack([place_in_window(k, s) for _, k in references]))
    fit_w, l1_w = fit_generator(generator, placed, "w", cfg, progress)
    fit_z, l1_z = fit_generator(generator, placed, "z", cfg, progress)
    mnc_w = mnc_batch(fit_w, placed).mnc
    mnc_z = mnc_batch(fit_z, placed).mnc
    samples = _random_samples(generator, cfg.num_samples, cfg.seed)  # drawn once, for both scores
    per = [
        {
            "name": name,
            "shape": list(np.shape(k)),
            "mnc_w": round(float(mnc_w[i]), 4),
            "mnc_z": round(float(mnc_z[i]), 4),
            "l1_w": round(float(l1_w[i]), 4),
            "l1_z": round(float(l1_z[i]), 4),
        }
        for i, (name, k) in enumerate(references)
    ]
    return {
        "size": s,
        "per_kernel": per,
        "mean_mnc_w": round(float(mnc_w.mean()), 4),
        "mean_mnc_z": round(float(mnc_z.mean()), 4),
        "sample_diversity": round(_diversity(samples), 4),
        "sample_peak": round(_peak(samples), 4),
        "reference_peak": round(float(placed.flatten(1).amax(dim=1).mean()), 4),
        "fit": asdict(cfg),
    }
