"""Data-fit losses of the DIP deblurring solvers (differentiable, PyTorch).

SelfDeblur (Ren et al., CVPR 2020) and the GLKM reference code fit the blurred estimate to the
observation with the mean squared error first and ``1 − SSIM`` afterwards (notes §3–§4); GLKM
Algorithm 2 writes the squared ℓ2 data term.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: SSIM constants (Wang et al. 2004) for a data range of 1.
_C1, _C2 = 0.01**2, 0.03**2


def gaussian_window_1d(size: int = 11, sigma: float = 1.5, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Normalised 1-D Gaussian window ``(size,)`` (sums to 1; ``sigma`` in pixels)."""
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(r**2) / (2 * sigma**2))
    return (g / g.sum()).to(dtype)


def gaussian_window(size: int = 11, sigma: float = 1.5, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Normalised 2-D Gaussian window ``(size, size)`` (sums to 1), the outer product of
    :func:`gaussian_window_1d` with itself."""
    g = gaussian_window_1d(size, sigma, torch.float64)
    return torch.outer(g, g).to(dtype)


def ssim(x: torch.Tensor, y: torch.Tensor, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Mean SSIM (Wang et al. 2004) of two images, Gaussian window, 'valid' filtering, data range 1.

    Args:
        x, y: ``(B, C, H, W)`` float images with intensities in ``[0, 1]``, ``H, W ≥ window``.
        window: side of the Gaussian window (11 as in SelfDeblur / pytorch-ssim).
        sigma: its standard deviation in pixels (1.5).

    Returns:
        0-d tensor, the SSIM averaged over all pixels and channels (1 for identical images).

    Raises:
        ValueError: if the shapes differ or the images are smaller than the window.
    """
    if x.shape != y.shape or x.ndim != 4:
        raise ValueError(f"ssim needs two (B, C, H, W) tensors of the same shape, got {tuple(x.shape)}, {tuple(y.shape)}")
    if min(x.shape[-2:]) < window:
        raise ValueError(f"images of {tuple(x.shape[-2:])} are smaller than the {window}×{window} SSIM window")
    b, c, h, wd = x.shape
    # The Gaussian window is separable: filter the five maps (x, y, x², y², xy) of every channel
    # with one grouped 1-D convolution along each axis (22 instead of 121 taps per pixel).
    g = gaussian_window_1d(window, sigma, x.dtype).to(x.device)
    maps = torch.stack([x, y, x * x, y * y, x * y], dim=2).reshape(b, 5 * c, h, wd)
    maps = F.conv2d(maps, g.view(1, 1, 1, window).expand(5 * c, 1, 1, window), groups=5 * c)
    maps = F.conv2d(maps, g.view(1, 1, window, 1).expand(5 * c, 1, window, 1), groups=5 * c)
    mx, my, exx, eyy, exy = maps.reshape(b, c, 5, h - window + 1, wd - window + 1).unbind(dim=2)
    sxx = exx - mx * mx
    syy = eyy - my * my
    sxy = exy - mx * my
    num = (2 * mx * my + _C1) * (2 * sxy + _C2)
    den = (mx * mx + my * my + _C1) * (sxx + syy + _C2)
    return (num / den).mean()


def data_fit_loss(pred: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    """The solvers' data term: ``"mse"`` (mean squared error) or ``"ssim"`` (``1 − SSIM``).

    Args:
        pred: ``(B, C, H, W)`` blurred estimate ``k ⊛ x``.
        target: ``(B, C, H, W)`` observation ``y``.
        kind: ``"mse"`` or ``"ssim"``.

    Raises:
        ValueError: unknown ``kind`` or mismatched shapes.
    """
    if pred.shape != target.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} and observation {tuple(target.shape)} differ in shape")
    if kind == "mse":
        return F.mse_loss(pred, target)
    if kind == "ssim":
        return 1.0 - ssim(pred, target)
    raise ValueError(f"unknown loss {kind!r}; use 'mse' or 'ssim'")
