"""SSIM exactly as Zhou Wang's reference MATLAB code, and the PSNR of the deblurring benchmarks.

Re-implemented (no code copied) from the behaviour of

- ``ssim.m`` — "SSIM Index with automatic downsampling, Version 1.0" (Z. Wang, 2009), the version
  shipped with SelfDeblur's ``statistic/`` scripts; paper: Wang, Bovik, Sheikh, Simoncelli, *Image
  quality assessment: from error visibility to structural similarity*, IEEE TIP 13(4), 2004;
- ``psnr.m`` of the same folder.

Wang's ``ssim.m`` with its default arguments:

1. ``f = max(1, round(min(M, N) / 256))`` (MATLAB ``round``: halves away from zero);
   when ``f > 1`` both images are filtered by an ``f×f`` box (``imfilter(..., 'symmetric', 'same')``,
   i.e. correlation, mirror padding that repeats the edge pixel, the kernel anchored at
   ``floor((f+1)/2)``) and subsampled as ``img(1:f:end, 1:f:end)``;
2. local statistics with the 11×11 Gaussian window (σ = 1.5, ``fspecial``), normalised to sum 1,
   ``filter2(..., 'valid')``: only windows fully inside the image;
3. ``C1 = (0.01 L)²``, ``C2 = (0.03 L)²``, ``L = 255``; ``σ² = E[x²] − μ²`` (biased);
4. the mean of the SSIM map (``mean2``).

The scripts call it as ``ssim(255*a, 255*b)``, so images in ``[0, 1]`` are compared on the 0–255
scale; :func:`ssim_wang` takes ``[0, 1]`` images and does that scaling itself.
"""

from __future__ import annotations

import math

import numpy as np

#: Wang's default constants and window.
K1, K2, WINDOW_SIZE, WINDOW_SIGMA = 0.01, 0.03, 11, 1.5


def matlab_round(x: float) -> int:
    """MATLAB ``round``: to the nearest integer, halves away from zero (Python rounds halves to even)."""
    return int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


def downsample_factor(height: int, width: int) -> int:
    """The automatic downsampling factor of Wang's ``ssim.m``: ``max(1, round(min(H, W) / 256))``.

    Args:
        height, width: image size in pixels.

    Returns:
        ``f ≥ 1`` (e.g. 1 up to 383 px, 2 from 384 px, 3 from 640 px, 4 from 896 px).
    """
    return max(1, matlab_round(min(height, width) / 256))


def gaussian_window(size: int = WINDOW_SIZE, sigma: float = WINDOW_SIGMA) -> np.ndarray:
    """MATLAB ``fspecial('gaussian', size, sigma)``: ``(size, size)`` float64 summing to 1.

    Values below ``eps · max`` are zeroed as ``fspecial`` does (none are for 11 / 1.5).
    """
    r = (size - 1) / 2
    x = np.arange(-r, r + 1)
    g = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * sigma**2))
    g[g < np.finfo(float).eps * g.max()] = 0
    return g / g.sum()


def _box_downsample(img: np.ndarray, f: int) -> np.ndarray:
    """``imfilter(img, ones(f)/f², 'symmetric', 'same')`` then ``img(1:f:end, 1:f:end)``."""
    before, after = (f - 1) // 2, f // 2  # MATLAB anchors an even kernel at floor((f+1)/2)
    padded = np.pad(img, ((before, after), (before, after)), mode="symmetric")
    c = np.cumsum(np.cumsum(padded, axis=0), axis=1)
    c = np.pad(c, ((1, 0), (1, 0)))
    h, w = img.shape
    box = c[f : f + h, f : f + w] - c[:h, f : f + w] - c[f : f + h, :w] + c[:h, :w]
    return (box / (f * f))[::f, ::f]


def _filter_valid(x: np.ndarray) -> np.ndarray:
    """``filter2(fspecial('gaussian', 11, 1.5), x, 'valid')`` on each ``(H, W)`` slice of ``(B, H, W)``.

    The window is the outer product of a 1-D Gaussian with itself, so the 2-D correlation is done
    as two 1-D passes (same result up to float64 rounding).
    """
    g = np.exp(-((np.arange(WINDOW_SIZE) - (WINDOW_SIZE - 1) / 2) ** 2) / (2 * WINDOW_SIGMA**2))
    g /= g.sum()
    h, w = x.shape[-2] - WINDOW_SIZE + 1, x.shape[-1] - WINDOW_SIZE + 1
    rows = sum(g[k] * x[:, k : k + h, :] for k in range(WINDOW_SIZE))
    return sum(g[k] * rows[:, :, k : k + w] for k in range(WINDOW_SIZE))


def ssim_wang(img1, img2, data_range: float = 1.0) -> float:
    """Mean SSIM of two gray images, bit-for-bit the method of Wang's ``ssim.m`` (defaults).

    Args:
        img1: ``(H, W)`` array (any real dtype), intensities in ``[0, data_range]`` — e.g. the
            aligned estimate.
        img2: ``(H, W)`` array of the same size — e.g. the cropped ground truth.
        data_range: the white level of the inputs; they are rescaled to 0–255 (``L = 255``) as
            the benchmark scripts' ``ssim(255*a, 255*b)``.

    Returns:
        Mean SSIM (dimensionless, ≤ 1; 1 for identical images), computed in float64.

    Raises:
        ValueError: if the shapes differ, are not 2-D, or are smaller than 11×11 after the
            automatic downsampling (``ssim.m`` returns ``-Inf`` there).
    """
    a = np.asarray(img1, dtype=np.float64) * (255.0 / data_range)
    b = np.asarray(img2, dtype=np.float64) * (255.0 / data_range)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"SSIM needs two (H, W) images of the same size, got {a.shape} and {b.shape}")
    m, n = a.shape
    if m < WINDOW_SIZE or n < WINDOW_SIZE:
        raise ValueError(f"SSIM needs images of at least {WINDOW_SIZE}×{WINDOW_SIZE} pixels, got {m}×{n}")
    f = downsample_factor(m, n)
    if f > 1:
        a, b = _box_downsample(a, f), _box_downsample(b, f)
        if min(a.shape) < WINDOW_SIZE:
            raise ValueError(f"image too small for SSIM after downsampling by {f}: {a.shape}")
    c1, c2 = (K1 * 255.0) ** 2, (K2 * 255.0) ** 2
    stats = _filter_valid(np.stack([a, b, a * a, b * b, a * b]))
    mu1, mu2, e11, e22, e12 = stats
    mu1_sq, mu2_sq, mu12 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    s1, s2, s12 = e11 - mu1_sq, e22 - mu2_sq, e12 - mu12
    ssim_map = ((2 * mu12 + c1) * (2 * s12 + c2)) / ((mu1_sq + mu2_sq + c1) * (s1 + s2 + c2))
    return float(ssim_map.mean())


def psnr_matlab(estimate, reference, data_range: float = 1.0) -> float:
    """PSNR as the benchmark scripts' ``psnr(255*a, 255*b)`` (``statistic/psnr.m`` of SelfDeblur).

    ``psnr.m`` takes the peak as ``2^k − 1`` with ``k = 8`` when ``max(first argument) > 2`` and
    ``k = 1`` otherwise, and ``MSE = ΣΣ e² / (m n)``. So the peak is 255 except for an (almost)
    black estimate whose maximum is ≤ 2/255, where ``psnr.m`` uses a peak of 1 — reproduced here.

    Args:
        estimate: ``(H, W)`` array in ``[0, data_range]`` (the aligned estimate).
        reference: ``(H, W)`` array of the same size (the cropped ground truth).
        data_range: white level of the inputs (rescaled to 0–255).

    Returns:
        PSNR in dB (``inf`` for identical images, as MATLAB's ``10*log10(a/0)``).

    Raises:
        ValueError: if the shapes differ.
    """
    a = np.asarray(estimate, dtype=np.float64) * (255.0 / data_range)
    b = np.asarray(reference, dtype=np.float64) * (255.0 / data_range)
    if a.shape != b.shape:
        raise ValueError(f"PSNR needs images of the same size, got {a.shape} and {b.shape}")
    peak = 255.0 if a.max() > 2 else 1.0
    mse = float(np.mean((a - b) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(peak * peak / mse)
