"""Kernel accuracy metrics.

MNC — maximum of the normalised cross-correlation (Hu & Yang, "Good regions to deblur", ECCV 2012;
the kernel score of Kernel-Diff Table 2 and of ``../shared/docs/reference-notes.md`` §6)::

    MNC(k̂, k) = max_s  Σ_p k̂(p) k(p + s) / (‖k̂‖₂ ‖k‖₂)

over all integer shifts ``s`` (full cross-correlation, so kernels of different sizes compare).
Because a blind method can return the kernel rotated by 180° (the cross-correlation vs
convolution ambiguity, e.g. Levin's PNGs), the score is also taken against the rotated estimate
and the larger one wins; which orientation won is reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


def _as_batch(k) -> torch.Tensor:  # noqa: ANN001
    t = k if isinstance(k, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(k))
    t = t.to(torch.float64)
    if t.ndim == 2:
        t = t[None]
    if t.ndim == 4 and t.shape[1] == 1:
        t = t[:, 0]
    if t.ndim != 3:
        raise ValueError(f"kernels must be (h, w), (B, h, w) or (B, 1, h, w), got shape {tuple(t.shape)}")
    return t


def _max_xcorr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Max over shifts of the full cross-correlation of ``a`` (B,h1,w1) with ``b`` (B,h2,w2)."""
    h = a.shape[-2] + b.shape[-2] - 1
    w = a.shape[-1] + b.shape[-1] - 1
    fa = torch.fft.rfft2(a, s=(h, w))
    fb = torch.fft.rfft2(b, s=(h, w))
    return torch.fft.irfft2(fa * fb.conj(), s=(h, w)).flatten(1).max(dim=1).values


@dataclass(frozen=True)
class MNCResult:
    """Result of :func:`mnc_batch`.

    Attributes:
        mnc: ``(B,)`` float64 tensor of scores in ``[0, 1]`` for non-negative kernels (1 = identical
            up to shift and scale, and rotation when ``flipped``).
        flipped: ``(B,)`` bool tensor, True where the 180°-rotated estimate scored higher.
    """

    mnc: torch.Tensor
    flipped: torch.Tensor


def mnc_batch(estimate, reference, flip: bool = True) -> MNCResult:  # noqa: ANN001
    """Maximum normalised cross-correlation of kernel pairs, shift- and (optionally) flip-tolerant.

    Args:
        estimate: ``(h1, w1)``, ``(B, h1, w1)`` or ``(B, 1, h1, w1)`` kernels (tensor or array).
        reference: the true kernels, ``(h2, w2)`` or batched like ``estimate`` (sizes may differ).
        flip: also score the 180°-rotated estimate and keep the better orientation.

    Returns:
        :class:`MNCResult` with ``(B,)`` scores and orientation flags.

    Raises:
        ValueError: on bad shapes, batch sizes that do not broadcast, or an all-zero kernel.
    """
    a, b = _as_batch(estimate), _as_batch(reference)
    if a.shape[0] != b.shape[0] and 1 not in (a.shape[0], b.shape[0]):
        raise ValueError(f"batch sizes {a.shape[0]} and {b.shape[0]} do not broadcast")
    na, nb = a.flatten(1).norm(dim=1), b.flatten(1).norm(dim=1)
    if (na == 0).any() or (nb == 0).any():
        raise ValueError("MNC is undefined for an all-zero kernel")
    n = max(a.shape[0], b.shape[0])
    a, b = a.expand(n, *a.shape[1:]), b.expand(n, *b.shape[1:])
    denom = (na * nb).expand(n)
    straight = _max_xcorr(a, b) / denom
    if not flip:
        return MNCResult(straight, torch.zeros(n, dtype=torch.bool))
    rotated = _max_xcorr(torch.flip(a, dims=(-2, -1)), b) / denom
    return MNCResult(torch.maximum(straight, rotated), rotated > straight)


def mnc(estimate, reference, flip: bool = True) -> tuple[float, bool]:  # noqa: ANN001
    """MNC of one kernel pair; see :func:`mnc_batch`.

    Args:
        estimate: ``(h1, w1)`` kernel.
        reference: ``(h2, w2)`` true kernel.
        flip: allow a 180° rotation of the estimate.

    Returns:
        ``(score, flipped)``: score in ``[0, 1]`` for non-negative kernels and whether the rotated
        estimate won.

    Raises:
        ValueError: as :func:`mnc_batch`.
    """
    r = mnc_batch(estimate, reference, flip)
    return float(r.mnc[0]), bool(r.flipped[0])


@dataclass(frozen=True)
class KernelErrors:
    """Result of :func:`kernel_errors`.

    Attributes:
        l1: ``Σ |k̂ − k|`` after alignment, kernels normalised to sum 1 (range ``[0, 2]``).
        l2: ``sqrt(Σ (k̂ − k)²)`` after alignment, same normalisation.
        mnc: the MNC of the pair (:func:`mnc`).
        flipped: whether the 180°-rotated estimate was used.
        shift: ``(dy, dx)`` integer pixels: estimate pixel ``(i, j)`` was compared with reference
            pixel ``(i − dy, j − dx)``.
    """

    l1: float
    l2: float
    mnc: float
    flipped: bool
    shift: tuple[int, int]


def kernel_errors(estimate, reference, flip: bool = True) -> KernelErrors:  # noqa: ANN001
    """Kernel L1/L2 errors after alignment by the MNC maximiser (shift and, optionally, 180° flip).

    Both kernels are clipped at 0 and normalised to sum 1; the estimate is rotated if the rotated
    orientation has the higher MNC, moved to the integer shift of the cross-correlation maximum,
    and both are compared on a common zero-padded canvas (sizes may differ).

    Args:
        estimate: ``(h1, w1)`` estimated kernel (array or tensor), non-negative.
        reference: ``(h2, w2)`` true kernel.
        flip: allow the 180° rotation.

    Returns:
        :class:`KernelErrors`.

    Raises:
        ValueError: on bad shapes or an all-zero kernel.
    """
    a = _as_batch(estimate)[0].clamp(min=0)
    b = _as_batch(reference)[0].clamp(min=0)
    if a.sum() <= 0 or b.sum() <= 0:
        raise ValueError("kernel errors are undefined for an all-zero kernel")
    score, flipped = mnc(a, b, flip)
    if flipped:
        a = torch.flip(a, dims=(-2, -1))
    a, b = a / a.sum(), b / b.sum()
    (h1, w1), (h2, w2) = a.shape, b.shape
    h, w = h1 + h2 - 1, w1 + w2 - 1
    corr = torch.fft.irfft2(torch.fft.rfft2(a, s=(h, w)) * torch.fft.rfft2(b, s=(h, w)).conj(), s=(h, w))
    ty, tx = divmod(int(torch.argmax(corr)), w)  # corr[t] = Σ_p a(p + t) b(p), circular index
    ty, tx = (ty - h if ty >= h1 else ty), (tx - w if tx >= w1 else tx)
    canvas_b = torch.zeros(h2 + 2 * (h1 - 1), w2 + 2 * (w1 - 1), dtype=a.dtype)
    canvas_a = torch.zeros_like(canvas_b)
    canvas_b[h1 - 1 : h1 - 1 + h2, w1 - 1 : w1 - 1 + w2] = b
    oy, ox = h1 - 1 - ty, w1 - 1 - tx
    canvas_a[oy : oy + h1, ox : ox + w1] = a
    d = canvas_a - canvas_b
    return KernelErrors(float(d.abs().sum()), float(d.pow(2).sum().sqrt()), score, flipped, (ty, tx))
