"""Observation noise: the ``n`` of ``y = k ⊛ x + n`` (GLKM Eq. 1)."""

from __future__ import annotations

import math

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


def estimate_noise_std(y: torch.Tensor, edge_fraction: float = 0.1) -> float:
    """Standard deviation of additive white noise, estimated from the image itself.

    Immerkær, "Fast Noise Variance Estimation", CVIU 1996: the image is filtered with the 3×3
    mask ``[[1, −2, 1], [−2, 4, −2], [1, −2, 1]]`` (the difference of two Laplacians, blind to
    locally linear structure, gain 36 on white noise), and
    ``σ̂ = sqrt(π/2) · mean|y ∗ N| / 6``. Following Tai & Yang (ICASSP 2008) the pixels with the
    strongest Sobel gradient (the top ``edge_fraction``) are left out so that edges do not count
    as noise. Blurred images have little high-frequency content, which is what makes the estimate
    reliable on them.

    Args:
        y: ``(H, W)``, ``(C, H, W)`` or ``(B, C, H, W)`` image, ``[0, 1]`` intensities, ``H, W ≥ 3``.
            Several channels: the median of the per-channel estimates.
        edge_fraction: fraction of pixels excluded as edges, in ``[0, 1)``.

    Returns:
        The estimated noise std in ``[0, 1]`` intensity units (≥ 0).

    Raises:
        ValueError: an image smaller than 3×3 or a bad ``edge_fraction``.
    """
    if not 0 <= edge_fraction < 1:
        raise ValueError(f"edge_fraction must be in [0, 1), got {edge_fraction}")
    t = y.detach().double()
    if t.ndim < 2 or min(t.shape[-2:]) < 3:
        raise ValueError(f"need an (..., H, W) image of at least 3×3, got {tuple(t.shape)}")
    t = t.reshape(-1, 1, *t.shape[-2:]).cpu()
    lap = torch.tensor([[1.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 1.0]], dtype=t.dtype)
    sob = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=t.dtype)
    r = torch.nn.functional.conv2d(t, lap[None, None]).abs()
    g = torch.nn.functional.conv2d(t, sob[None, None]).abs() + torch.nn.functional.conv2d(t, sob.T[None, None]).abs()
    sigmas = []
    for rc, gc in zip(r, g):
        rc, gc = rc.flatten(), gc.flatten()
        if edge_fraction > 0:
            k = max(1, int((1 - edge_fraction) * gc.numel()))
            rc = rc[gc <= torch.kthvalue(gc, k).values]
        sigmas.append(float(math.sqrt(math.pi / 2) * rc.mean() / 6))
    return float(torch.tensor(sigmas).median())
