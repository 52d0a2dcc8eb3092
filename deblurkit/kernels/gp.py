"""Gaussian-process camera trajectories (the recipe of deepinv's ``MotionBlurGenerator``).

Each coordinate of the trajectory is an independent zero-mean Gaussian process over the exposure
``t ∈ [0, 1]`` with the Matérn-3/2 covariance
``c(τ) = σ² (1 + √3 τ / ℓ) exp(−√3 τ / ℓ)``. Smooth, jerky or curling paths come from the length
scale ``ℓ`` (drawn per kernel from a fixed grid); the speed varies along the path, so slow
turning points are brighter, as in real camera shake.
"""

from __future__ import annotations

import numpy as np

#: Length scales ℓ (fractions of the exposure) that kernels draw from.
LENGTH_SCALES = np.array([0.25, 0.35, 0.5, 0.7, 1.0, 1.4])
NUM_STEPS = 500


def _matern32_cholesky(num_steps: int, length_scale: float) -> np.ndarray:
    t = np.linspace(0.0, 1.0, num_steps)
    r = np.sqrt(3.0) * np.abs(t[:, None] - t[None, :]) / length_scale
    cov = (1.0 + r) * np.exp(-r) + 1e-8 * np.eye(num_steps)
    return np.linalg.cholesky(cov)


def gp_trajectories(rng: np.random.Generator, n: int, num_steps: int = NUM_STEPS) -> tuple[np.ndarray, dict]:
    """Sample ``n`` Gaussian-process trajectories (Matérn 3/2, unit variance).

    The overall scale is irrelevant: :func:`~deblurkit.kernels.render.fit_to_window` rescales
    every trajectory to its target length.

    Args:
        rng: NumPy random generator.
        n: number of trajectories.
        num_steps: time samples ``T ≥ 8``.

    Returns:
        ``(points, params)``: ``(n, T)`` complex positions and per-kernel ``length_scale`` ``(n,)``.

    Raises:
        ValueError: if ``n < 1`` or ``num_steps < 8``.
    """
    if n < 1 or num_steps < 8:
        raise ValueError("need n ≥ 1 trajectories of at least 8 steps")
    which = rng.integers(0, len(LENGTH_SCALES), n)
    points = np.empty((n, num_steps), dtype=np.complex128)
    noise = rng.standard_normal((2, n, num_steps))
    for i, ell in enumerate(LENGTH_SCALES):
        rows = np.flatnonzero(which == i)
        if rows.size:
            chol = _matern32_cholesky(num_steps, float(ell))
            points[rows] = noise[0, rows] @ chol.T + 1j * (noise[1, rows] @ chol.T)
    return points, {"length_scale": LENGTH_SCALES[which]}
