"""BT.601 YCbCr conversion, matching MATLAB's ``rgb2ycbcr`` / ``ycbcr2rgb`` for double images.

MATLAB (ITU-R BT.601, studio swing) maps RGB in ``[0, 1]`` to Y in ``[16, 235]/255`` and Cb, Cr in
``[16, 240]/255``::

    Y  = (16  + 65.481 R + 128.553 G +  24.966 B) / 255
    Cb = (128 - 37.797 R -  74.203 G + 112.000 B) / 255
    Cr = (128 + 112.000 R - 93.786 G -  18.214 B) / 255

The Lai et al. benchmark evaluates on this Y channel (``../shared/docs/reference-notes.md`` §6).
Both functions accept a torch tensor with channels at ``dim=-3`` (``(..., 3, H, W)``) or a NumPy
array with channels last (``(..., H, W, 3)``) and return the same kind.
"""

from __future__ import annotations

import numpy as np
import torch

_RGB_TO_YCBCR = np.array(
    [[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]]
) / 255.0
_YCBCR_OFFSET = np.array([16.0, 128.0, 128.0]) / 255.0
_YCBCR_TO_RGB = np.linalg.inv(_RGB_TO_YCBCR)


def _apply(x, matrix: np.ndarray, pre: np.ndarray, post: np.ndarray):
    if isinstance(x, torch.Tensor):
        if x.ndim < 3 or x.shape[-3] != 3:
            raise ValueError(f"expected a tensor of shape (..., 3, H, W), got {tuple(x.shape)}")
        m = torch.as_tensor(matrix, dtype=x.dtype, device=x.device)
        a = torch.as_tensor(pre, dtype=x.dtype, device=x.device).view(3, 1, 1)
        b = torch.as_tensor(post, dtype=x.dtype, device=x.device).view(3, 1, 1)
        return torch.einsum("ij,...jhw->...ihw", m, x - a) + b
    arr = np.asarray(x)
    if arr.ndim < 3 or arr.shape[-1] != 3:
        raise ValueError(f"expected an array of shape (..., H, W, 3), got {arr.shape}")
    dtype = arr.dtype if np.issubdtype(arr.dtype, np.floating) else np.float64
    out = (arr.astype(np.float64) - pre) @ matrix.T + post
    return out.astype(dtype)


def rgb_to_ycbcr(rgb):
    """RGB → YCbCr (BT.601, MATLAB ``rgb2ycbcr`` for double input).

    Args:
        rgb: RGB intensities in ``[0, 1]``; tensor ``(..., 3, H, W)`` or array ``(..., H, W, 3)``.

    Returns:
        YCbCr of the same shape and kind: Y in ``[16, 235]/255``, Cb and Cr in ``[16, 240]/255``.

    Raises:
        ValueError: if the channel axis does not have 3 entries.
    """
    return _apply(rgb, _RGB_TO_YCBCR, np.zeros(3), _YCBCR_OFFSET)


def ycbcr_to_rgb(ycbcr):
    """YCbCr → RGB, the exact inverse of :func:`rgb_to_ycbcr` (MATLAB ``ycbcr2rgb``; no clipping).

    Args:
        ycbcr: tensor ``(..., 3, H, W)`` or array ``(..., H, W, 3)`` as returned by :func:`rgb_to_ycbcr`.

    Returns:
        RGB of the same shape and kind, ``[0, 1]`` for in-gamut input.

    Raises:
        ValueError: if the channel axis does not have 3 entries.
    """
    return _apply(ycbcr, _YCBCR_TO_RGB, _YCBCR_OFFSET, np.zeros(3))


def rgb_to_luma(rgb):
    """Y channel of :func:`rgb_to_ycbcr` (``[16, 235]/255``), keeping a channel axis of size 1.

    Args:
        rgb: tensor ``(..., 3, H, W)`` or array ``(..., H, W, 3)`` in ``[0, 1]``.

    Returns:
        tensor ``(..., 1, H, W)`` or array ``(..., H, W, 1)``.
    """
    ycc = rgb_to_ycbcr(rgb)
    return ycc[..., :1, :, :] if isinstance(ycc, torch.Tensor) else ycc[..., :1]
