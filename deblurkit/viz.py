"""Pictures for people: kernel grids (and, later, contact sheets)."""

from __future__ import annotations

import numpy as np


def kernel_grid(kernels: np.ndarray, cols: int = 8, pad: int = 2, zoom: int = 3) -> np.ndarray:
    """Tile kernels into one gray image, each scaled to its own peak (for viewing only).

    Args:
        kernels: ``(N, h, w)`` non-negative kernels.
        cols: kernels per row.
        pad: width in pixels (before zoom) of the gray gap between tiles.
        zoom: nearest-neighbour magnification factor (``≥ 1``).

    Returns:
        ``(H, W, 1)`` float32 image in ``[0, 1]``.

    Raises:
        ValueError: if ``kernels`` is not 3-D or empty, or ``cols``/``zoom`` < 1.
    """
    k = np.asarray(kernels, dtype=np.float32)
    if k.ndim != 3 or k.shape[0] == 0:
        raise ValueError(f"expected (N, h, w) kernels, got shape {k.shape}")
    if cols < 1 or zoom < 1:
        raise ValueError("cols and zoom must be at least 1")
    n, h, w = k.shape
    rows = (n + cols - 1) // cols
    cols = min(cols, n)
    grid = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad), 0.25, dtype=np.float32)
    peaks = np.maximum(k.reshape(n, -1).max(axis=1), 1e-12)
    for i in range(n):
        r, c = divmod(i, cols)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        grid[y : y + h, x : x + w] = k[i] / peaks[i]
    grid = np.kron(grid, np.ones((zoom, zoom), dtype=np.float32))
    return grid[:, :, None]
