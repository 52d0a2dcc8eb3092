"""Observation noise: the ``n`` of ``y = k ⊛ x + n`` (GLKM Eq. 1)."""

from __future__ import annotations

import torch


def add_gaussian_noise(y: torch.Tensor, sigma: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Add white Gaussian noise of standard deviation ``sigma``.

    Args:
        y: ``(B, C, H, W)`` tensor of ``[0, 1]`` intensities.
        sigma: noise standard deviation in ``[0, 1]`` intensity units (e.g. ``0.01`` ≈ 2.55/255).
        generator: CPU ``torch.Generator`` for reproducible noise (drawn on the CPU, then moved).

    Returns:
        ``(B, C, H, W)`` noisy tensor (not clipped; clip/quantise when writing).

    Raises:
        ValueError: for a negative ``sigma``.
    """
    if sigma < 0:
        raise ValueError(f"noise sigma must be non-negative, got {sigma}")
    if sigma == 0:
        return y
    noise = torch.randn(y.shape, generator=generator, dtype=y.dtype)
    return y + sigma * noise.to(y.device)
