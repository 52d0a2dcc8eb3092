"""The record of one uniform blind deblurring run (:class:`DeblurResult`), shared by both pipelines."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass
class DeblurResult:
    """Result of :func:`deblurkit.solvers.deblur.deblur_image` (JSON-friendly through :meth:`summary`).

    Attributes:
        image: ``(H, W, C)`` float32 restored image in ``[0, 1]`` (same ``C`` as the input).
        kernel: ``(S', S')`` float32 kernel used for the final image, true-convolution orientation
            (``y = k ⊛ x``), non-negative, summing to 1 (cleaned and recentred when the final
            image is a non-blind deconvolution; ``S' ≤ S``, odd).
        kernel_raw: ``(S, S)`` float32 kernel as estimated.
        kernel_size: ``S`` used for estimation (pixels).
        kernel_prior: ``"glkm"``, ``"free"`` or ``"fcn"``.
        preset: preset name.
        crop: ``(top, left, height, width)`` in pixels of the luminance window the kernel was
            estimated on.
        loss: summary of the loss history (:func:`loss_summary`).
        data_fit_mse: MSE of the final luminance re-blurred by the kernel against the input
            luminance (valid region) — a no-reference diagnostic.
        timings: seconds per stage (``estimate`` and ``restore`` summed over the kernel
            estimates, which may overlap in time; ``total`` wall time), and how the estimates
            ran: ``workers`` at once, ``threads_per_estimate`` CPU threads each.
        restarts: restarts after a detected divergence, plus re-estimates.
        fallback: ``None`` or what was used instead of a diverged or rejected result.
        notes: human-readable remarks (divergences, restarts, fall-backs).
        kernel_code: GLKM only: the optimised first-layer feature map ``w_k`` ``(1, 256, k1, k1)``
            float32 with ``kernel_raw = G_k^{(w)}(w_k)`` (``None`` otherwise).
        nonblind: the non-blind step's ``boundary``, data weight ``lam``, the estimated noise std
            ``noise_std`` of the input (``[0, 1]`` units) and the kept estimate's
            ``residual_ratio``.
        returned_input: ``True`` when ``image`` is the input unchanged (a fall-back: no kernel
            estimate explained the input, or every estimate diverged or collapsed).
        attempts: one record per kernel estimate (window ``crop``, ``seed``, skip-network
            ``width``, ``residual_ratio``, ``support`` = how many other estimates agree with it,
            ``fallback``, and the cleaned ``(S', S')`` kernel as nested lists), in the order they
            were made.
    """

    image: np.ndarray
    kernel: np.ndarray
    kernel_raw: np.ndarray
    kernel_size: int
    kernel_prior: str
    preset: str
    crop: tuple[int, int, int, int]
    loss: dict
    data_fit_mse: float
    timings: dict[str, float]
    restarts: int = 0
    fallback: str | None = None
    notes: list[str] = field(default_factory=list)
    kernel_code: torch.Tensor | None = None
    nonblind: dict = field(default_factory=dict)
    returned_input: bool = False
    attempts: list[dict] = field(default_factory=list)

    def summary(self) -> dict:
        """JSON-serialisable record (no arrays except the small kernels of ``attempts``)."""
        return {
            "kernel_prior": self.kernel_prior,
            "preset": self.preset,
            "kernel_size": self.kernel_size,
            "kernel_support": int(self.kernel.shape[0]),
            "crop": list(self.crop),
            "loss": self.loss,
            "data_fit_mse": self.data_fit_mse,
            "timings": self.timings,
            "restarts": self.restarts,
            "fallback": self.fallback,
            "diverged": bool(self.restarts or self.fallback),
            "returned_input": self.returned_input,
            "nonblind": dict(self.nonblind),
            "notes": list(self.notes),
            "attempts": list(self.attempts),
        }


def loss_summary(losses: list[float], samples: int = 20) -> dict:
    """A short record of a loss history: ``first``, ``last``, ``min`` and about ``samples`` ``[step, loss]`` pairs.

    Args:
        losses: the loss of every step (floats; non-finite values are reported as ``None``).
        samples: how many evenly spaced steps to keep.

    Returns:
        ``{"first", "last", "min", "samples"}`` (``None`` and ``[]`` for an empty history); steps
        are 1-based.
    """
    if not losses:
        return {"first": None, "last": None, "min": None, "samples": []}
    idx = sorted({round(i) for i in np.linspace(0, len(losses) - 1, min(samples, len(losses)))})
    fin = [v for v in losses if math.isfinite(v)]
    return {
        "first": losses[0] if math.isfinite(losses[0]) else None,
        "last": losses[-1] if math.isfinite(losses[-1]) else None,
        "min": min(fin) if fin else None,
        "samples": [[i + 1, losses[i] if math.isfinite(losses[i]) else None] for i in idx],
    }
