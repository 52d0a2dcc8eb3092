"""Rendering continuous camera trajectories into kernel grids (shared by every synthesis family).

A trajectory is the image-plane position of a scene point over the exposure, sampled at equal
time steps; its PSF is the time spent at each place. We render it by **bilinear (sub-pixel)
splatting**: each sample spreads unit mass over its four neighbouring pixels. Splatting preserves
both the total mass and the centroid of the samples, so centring the samples' mean on the window
centre centres the kernel's centre of mass exactly (the flaw of the popular Boracchi–Foi port
that leaves PSFs off-centre is fixed here by construction).
"""

from __future__ import annotations

import numpy as np


def fit_to_window(
    points: np.ndarray, size: int, lengths: np.ndarray, weights: np.ndarray | None = None
) -> np.ndarray:
    """Scale each trajectory to a target extent and centre its centroid in the window.

    Args:
        points: ``(N, T)`` complex array, ``x + i·y`` positions in arbitrary units.
        size: window side ``S`` in pixels.
        lengths: ``(N,)`` target extent in pixels — the longer side of each trajectory's
            bounding box. Trajectories that would leave the window once centred on their
            centroid are shrunk about the centroid until they fit, so the result is
            ``≤ lengths`` and ``≤ S − 1``.
        weights: optional ``(N, T)`` non-negative time weights; samples of weight 0 are ignored
            (they may end outside the window).

    Returns:
        ``(N, T)`` complex positions in pixel units, with every sample of positive weight inside
        ``[0, S − 1]²`` and the weighted mean of the samples at ``((S − 1)/2, (S − 1)/2)``.
    """
    w = np.ones(points.shape) if weights is None else weights
    centroid = (points * w).sum(axis=1, keepdims=True) / w.sum(axis=1, keepdims=True)
    p = points - centroid
    seen = w > 0
    re_, im_ = np.where(seen, p.real, np.nan), np.where(seen, p.imag, np.nan)
    extent = np.maximum(np.nanmax(re_, axis=1) - np.nanmin(re_, axis=1), np.nanmax(im_, axis=1) - np.nanmin(im_, axis=1))
    scale = lengths / np.maximum(extent, 1e-12)
    # Largest deviation from the centroid along either axis, after scaling.
    reach = np.maximum(np.nanmax(np.abs(re_), axis=1), np.nanmax(np.abs(im_), axis=1)) * scale
    half = (size - 1) / 2.0
    scale = scale * np.minimum(1.0, half / np.maximum(reach, 1e-12))
    return p * scale[:, None] + complex(half, half)


def splat(points: np.ndarray, size: int, weights: np.ndarray | None = None) -> np.ndarray:
    """Bilinear splatting of trajectories into ``S × S`` grids, vectorised over kernels.

    Args:
        points: ``(N, T)`` complex pixel positions (``x + i·y``, x = column, y = row), inside
            ``[0, S − 1]²`` (see :func:`fit_to_window`; positions outside are clipped).
        size: window side ``S``.
        weights: optional ``(N, T)`` non-negative time weights (default 1 per sample).

    Returns:
        ``(N, S, S)`` float64 kernels, each normalised to sum 1.
    """
    n, t = points.shape
    x = np.clip(points.real, 0.0, size - 1.0)
    y = np.clip(points.imag, 0.0, size - 1.0)
    x0 = np.minimum(np.floor(x), size - 2).astype(np.int64)
    y0 = np.minimum(np.floor(y), size - 2).astype(np.int64)
    fx, fy = x - x0, y - y0
    w = np.ones((n, t)) if weights is None else weights
    base = (np.arange(n, dtype=np.int64) * size * size)[:, None] + y0 * size + x0
    out = np.zeros(n * size * size)
    for dy, dx, wt in ((0, 0, (1 - fy) * (1 - fx)), (0, 1, (1 - fy) * fx), (1, 0, fy * (1 - fx)), (1, 1, fy * fx)):
        out += np.bincount((base + dy * size + dx).ravel(), weights=(wt * w).ravel(), minlength=n * size * size)
    out = out.reshape(n, size, size)
    return out / out.sum(axis=(1, 2), keepdims=True)
