"""The shift-aligned evaluation protocol of the Levin and Lai deblurring benchmarks.

Re-implemented (no code copied) from SelfDeblur's MATLAB evaluation scripts ``statistic/comp_upto_shift.m``
(after Anat Levin's original), ``statistic/statistic_levin.m`` and ``statistic/statistic_lai.m``, with
``psnr.m`` and Wang's ``ssim.m`` (:mod:`deblurkit.metrics.ssim`). ``comp_upto_shift(I1, I2, maxshift)``,
``I1`` the estimate and ``I2`` the ground truth, both ``[0, 1]`` (``im2double``) and of the same size:

1. crop 15 px from every border of the ground truth: ``I2 = I2(16:end-15, 16:end-15)``;
2. crop the estimate 15 − maxshift px from every border (the margin the shifts need);
3. for every shift ``(sx, sy)`` in ``[-maxshift : 0.25 : maxshift]²`` sample the cropped estimate at
   ``(x + sx, y + sy)`` by ``interp2`` (bilinear) — the *estimate* is interpolated, the ground truth
   never; every sample lies inside the estimate, so no border rule is ever used;
4. keep the shift with the smallest sum of squared differences (SSD) — MATLAB's
   ``find(ssdem == min)`` picks the first minimum in column-major order of ``ssdem(i, j)``
   (``i`` the x shift, ``j`` the y shift): ties go to the smallest ``sy``, then the smallest ``sx``;
5. PSNR and SSIM of the aligned estimate against the cropped truth on the 0–255 scale:
   ``psnr(255*tI1, 255*I2)``, ``ssim(255*tI1, 255*I2)``.

Lai (``statistic_lai.m``): colour images are reduced to the Y channel of MATLAB ``rgb2ycbcr``
(BT.601, Y in ``[16, 235]/255``) first, gray ones are used as they are; ``maxshift = 10``.

Levin (``statistic_levin.m``): ``maxshift = 10`` is set at the top of the script; the script's own
call for its method omits the argument (which MATLAB would reject: ``maxshift`` undefined), while
Levin's original ``comp_upto_shift.m`` hard-coded 5. We use 10, the value the script sets. The 0.25
grid of ±5 is a subset of that of ±10 and the samples at common shifts are identical, so 10 never
scores lower than 5 and the two agree whenever the best shift is within ±5 px.

The search here is coarse-to-fine and vectorised: the SSD of every *integer* shift at once by FFT
correlation and integral images, then the 0.25 px grid around the best few integer shifts by direct
bilinear evaluation, re-centred until the best quarter-pixel shift is inside the searched window.
On an SSD surface that is unimodal at 1 px scale this is the minimiser of the exhaustive 0.25 grid
search (``search="exhaustive"`` runs that search, for checking).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from deblurkit.color import rgb_to_ycbcr
from deblurkit.metrics.ssim import psnr_matlab, ssim_wang

#: Ground-truth border cropped by the scripts (pixels).
BORDER = 15
#: Shift grid step (pixels).
STEP = 0.25
_Q = 4  # quarter-pixel units per pixel

SearchMode = Literal["coarse-to-fine", "exhaustive"]


@dataclass(frozen=True)
class Protocol:
    """A benchmark evaluation protocol.

    Attributes:
        name: ``levin``, ``lai`` or ``plain``.
        aligned: whether the shift-aligned ``comp_upto_shift`` search is used.
        maxshift: largest shift searched, pixels (integer, ``0 ≤ maxshift ≤ 15``).
        luma: colour images are compared on their BT.601 Y channel (Lai).
    """

    name: str
    aligned: bool
    maxshift: int = 10
    luma: bool = False


PROTOCOLS = {
    "levin": Protocol("levin", aligned=True, maxshift=10, luma=False),
    "lai": Protocol("lai", aligned=True, maxshift=10, luma=True),
    "plain": Protocol("plain", aligned=False),
}


@dataclass(frozen=True)
class AlignedResult:
    """Outcome of :func:`compare_upto_shift`.

    Attributes:
        psnr: dB on the 0–255 scale (``psnr.m``); ``inf`` for a perfect match.
        ssim: mean SSIM of Wang's ``ssim.m``.
        shift: ``(sx, sy)`` in pixels, multiples of 0.25: the estimate was sampled at
            ``(x + sx, y + sy)`` to match the ground truth at ``(x, y)``.
        ssd: the minimum sum of squared differences on the ``[0, 1]`` scale.
        aligned: ``(H − 30, W − 30)`` float64 aligned estimate (``tI1`` of the script), ``[0, 1]``.
        reference: ``(H − 30, W − 30)`` float64 cropped ground truth.
    """

    psnr: float
    ssim: float
    shift: tuple[float, float]
    ssd: float
    aligned: np.ndarray
    reference: np.ndarray


def _interp(i1: np.ndarray, qy: int, qx: int, n1: int, n2: int) -> np.ndarray:
    """Bilinear sample of ``i1`` on the ``(n1, n2)`` grid offset by ``(qy, qx)`` quarter pixels."""
    ny, fy = divmod(qy, _Q)
    nx, fx = divmod(qx, _Q)
    a, b = fy / _Q, fx / _Q
    rows = i1[ny : ny + n1 + (1 if fy else 0)]
    if fy:
        rows = (1 - a) * rows[:-1] + a * rows[1:]
    cols = rows[:, nx : nx + n2 + (1 if fx else 0)]
    if fx:
        cols = (1 - b) * cols[:, :-1] + b * cols[:, 1:]
    return cols


def _ssd(i1: np.ndarray, i2: np.ndarray, qy: int, qx: int) -> float:
    d = _interp(i1, qy, qx, *i2.shape) - i2
    return float(np.einsum("ij,ij->", d, d))


def _integer_ssd(i1: np.ndarray, i2: np.ndarray, span: int) -> np.ndarray:
    """SSD of every integer offset ``(n, m) ∈ [0, span]²`` of ``i2`` inside ``i1`` (FFT + integral image)."""
    h, w = i1.shape
    n1, n2 = i2.shape
    corr = np.fft.irfft2(np.fft.rfft2(i1) * np.conj(np.fft.rfft2(i2, s=(h, w))), s=(h, w))[: span + 1, : span + 1]
    c = np.pad(np.cumsum(np.cumsum(i1 * i1, axis=0), axis=1), ((1, 0), (1, 0)))
    n = np.arange(span + 1)
    energy = c[n[:, None] + n1, n[None, :] + n2] - c[n[:, None], n[None, :] + n2] - c[n[:, None] + n1, n[None, :]] + c[
        n[:, None], n[None, :]
    ]
    return energy - 2 * corr + float(np.sum(i2 * i2))


def _search(i1: np.ndarray, i2: np.ndarray, maxshift: int, mode: SearchMode, candidates: int = 3) -> tuple[int, int, float]:
    """Best ``(qy, qx)`` (quarter-pixel offsets in ``[0, 8·maxshift]``) and its SSD."""
    top = 2 * maxshift * _Q
    cache: dict[tuple[int, int], float] = {}

    def ssd(qy: int, qx: int) -> float:
        if (qy, qx) not in cache:
            cache[(qy, qx)] = _ssd(i1, i2, qy, qx)
        return cache[(qy, qx)]

    def best(keys) -> tuple[int, int]:  # smallest SSD; ties: smallest y shift, then x shift (MATLAB find)
        return min(keys, key=lambda k: (cache[k], k[0], k[1]))

    if mode == "exhaustive":
        for qy in range(top + 1):
            for qx in range(top + 1):
                ssd(qy, qx)
        k = best(cache)
        return k[0], k[1], cache[k]

    coarse = _integer_ssd(i1, i2, 2 * maxshift)
    order = np.lexsort((np.arange(coarse.size) % coarse.shape[1], np.arange(coarse.size) // coarse.shape[1], coarse.ravel()))
    winners = []
    for flat in order[:candidates]:
        cy, cx = divmod(int(flat), coarse.shape[1])
        centre = (cy * _Q, cx * _Q)
        while True:  # refine on the 0.25 grid within ±1 px; re-centre until the best is inside
            ys = range(max(0, centre[0] - _Q), min(top, centre[0] + _Q) + 1)
            xs = range(max(0, centre[1] - _Q), min(top, centre[1] + _Q) + 1)
            for qy in ys:
                for qx in xs:
                    ssd(qy, qx)
            k = best([(qy, qx) for qy in ys for qx in xs])
            inside_y = k[0] not in (centre[0] - _Q, centre[0] + _Q) or k[0] in (0, top)
            inside_x = k[1] not in (centre[1] - _Q, centre[1] + _Q) or k[1] in (0, top)
            if (inside_y and inside_x) or k == centre:
                break
            centre = k
        winners.append(k)
    k = best(winners)
    return k[0], k[1], cache[k]


def _gray(img: np.ndarray, luma: bool, what: str) -> np.ndarray:
    a = np.asarray(img, dtype=np.float64)
    if a.ndim == 2:
        return a
    if a.ndim != 3 or a.shape[2] not in (1, 3):
        raise ValueError(f"{what}: expected an (H, W), (H, W, 1) or (H, W, 3) image, got shape {a.shape}")
    if a.shape[2] == 1:
        return a[:, :, 0]
    if luma:
        return rgb_to_ycbcr(a)[:, :, 0]
    if np.array_equal(a[:, :, 0], a[:, :, 1]) and np.array_equal(a[:, :, 0], a[:, :, 2]):
        return a[:, :, 0]
    raise ValueError(f"{what}: the levin protocol compares gray images; use --protocol lai for colour (Y channel)")


def compare_upto_shift(
    estimate,
    reference,
    maxshift: int = 10,
    search: SearchMode = "coarse-to-fine",
    luma: bool = False,
) -> AlignedResult:
    """Shift-aligned PSNR and SSIM of the Levin/Lai benchmarks (``comp_upto_shift.m``; module doc).

    Args:
        estimate: the deblurred image, ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)``, intensities in
            ``[0, 1]``.
        reference: the ground truth, same height and width.
        maxshift: largest shift searched in each axis, pixels, integer in ``[0, 15]``.
        search: ``coarse-to-fine`` (fast, default) or ``exhaustive`` (the scripts' full grid).
        luma: compare colour images on the BT.601 Y channel (Lai); otherwise colour images must
            have three equal channels.

    Returns:
        :class:`AlignedResult`.

    Raises:
        ValueError: different sizes, an image smaller than ``(41, 41)`` (15 px borders and an
            11×11 SSIM window), a bad ``maxshift``, or colour input without ``luma``.
    """
    if not (isinstance(maxshift, int) and 0 <= maxshift <= BORDER):
        raise ValueError(f"maxshift must be an integer in [0, {BORDER}] pixels, got {maxshift!r}")
    i1 = _gray(estimate, luma, "estimate")
    i2 = _gray(reference, luma, "ground truth")
    if i1.shape != i2.shape:
        raise ValueError(
            f"estimate is {i1.shape[0]}×{i1.shape[1]} but the ground truth is {i2.shape[0]}×{i2.shape[1]}"
        )
    h, w = i2.shape
    if h < 2 * BORDER + 11 or w < 2 * BORDER + 11:
        raise ValueError(f"images must be at least {2 * BORDER + 11}×{2 * BORDER + 11} pixels, got {h}×{w}")
    i2c = i2[BORDER : h - BORDER, BORDER : w - BORDER]
    m = BORDER - maxshift
    i1c = i1[m : h - m, m : w - m]
    qy, qx, ssd = _search(i1c, i2c, maxshift, search)
    aligned = _interp(i1c, qy, qx, *i2c.shape)
    return AlignedResult(
        psnr=psnr_matlab(aligned, i2c),
        ssim=ssim_wang(aligned, i2c),
        shift=(qx / _Q - maxshift, qy / _Q - maxshift),
        ssd=ssd,
        aligned=aligned,
        reference=i2c,
    )


def aligned_color(estimate: np.ndarray, result: AlignedResult) -> np.ndarray:
    """The aligned colour image that ``statistic_lai.m`` writes to ``aligned/``.

    The estimate is cropped by 15 px, converted to YCbCr, its Y replaced by the aligned Y
    (``result.aligned``) and converted back (no shift is applied to Cb, Cr, as in the script).

    Args:
        estimate: ``(H, W, 3)`` RGB estimate in ``[0, 1]``.
        result: the :func:`compare_upto_shift` result of that estimate (``luma=True``).

    Returns:
        ``(H − 30, W − 30, 3)`` float64 RGB, clipped to ``[0, 1]``.
    """
    from deblurkit.color import ycbcr_to_rgb

    e = np.asarray(estimate, dtype=np.float64)
    h, w = e.shape[:2]
    ycc = rgb_to_ycbcr(e[BORDER : h - BORDER, BORDER : w - BORDER])
    ycc[:, :, 0] = result.aligned
    return np.clip(ycbcr_to_rgb(ycc), 0.0, 1.0)


def crop_border(img: np.ndarray) -> np.ndarray:
    """The 15 px crop of the ground truth used by the aligned protocols: ``(H, W, ...)`` → ``(H−30, W−30, ...)``."""
    h, w = img.shape[:2]
    return img[BORDER : h - BORDER, BORDER : w - BORDER]


def finite_or_none(x: float) -> float | None:
    """``x`` or ``None`` for ``inf``/``nan`` (for JSON)."""
    return x if math.isfinite(x) else None
