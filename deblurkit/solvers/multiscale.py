"""Kernel estimation on a reduced-scale copy of the input: the coarse level of a coarse-to-fine scheme.

At a scale ``s < 1`` a camera-shake kernel has ``s`` times its extent and area averaging lowers the
standard deviation of white noise by about ``s`` (``1/2`` for 2 × 2 pixels), so the blind estimate
is better posed there; the estimate is then brought back to full resolution and refined. This is
the multi-scale scheme of blind deconvolution (Fergus et al., "Removing camera shake from a single
photograph", SIGGRAPH 2006, §4; Levin et al., "Efficient marginal likelihood optimization in blind
deconvolution", CVPR 2011; Pan et al., "Deblurring text images via L0-regularized intensity and
gradient prior", CVPR 2014), used here for the global stage of GLKM Algorithm 4: the non-uniform
solver's joint stage (:mod:`deblurkit.solvers.nonuniform`) refines the resized global kernel per
patch at full resolution (``NonUniformPreset.global_scale``).
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import torch

from deblurkit.solvers.deblur import DeblurResult, clean_kernel, deblur_image
from deblurkit.solvers.nonblind import deconvolve
from deblurkit.solvers.presets import Preset, get_preset


def resize_kernel(k: np.ndarray, factor: float, size: int) -> np.ndarray:
    """A kernel estimated on an image resized by ``1 / factor``, as the kernel of the full image.

    Bilinear resize by ``factor`` (a blur's extent scales with the image; OpenCV ``INTER_LINEAR``) to
    the odd side ``round(S · factor)``, negative values clipped, the centroid moved to the centre of a
    ``size × size`` window (taps that fall outside it are dropped), normalised to sum 1.

    Args:
        k: ``(S, S)`` non-negative kernel, any float dtype, true-convolution orientation.
        factor: resize factor ``> 0`` (2 for a kernel estimated at half resolution).
        size: odd side of the returned window in pixels.

    Returns:
        ``(size, size)`` float32 kernel summing to 1.

    Raises:
        ValueError: a non-square or all-zero kernel, ``factor ≤ 0`` or an even ``size``.
    """
    if k.ndim != 2 or k.shape[0] != k.shape[1] or not np.any(k > 0):
        raise ValueError(f"expected a square kernel with positive mass, got shape {k.shape}")
    if factor <= 0 or size % 2 == 0:
        raise ValueError(f"need factor > 0 and an odd size, got {factor} and {size}")
    n = max(int(round(k.shape[0] * factor)), 1) | 1  # odd
    big = np.clip(cv2.resize(k.astype(np.float64), (n, n), interpolation=cv2.INTER_LINEAR), 0, None)
    big /= big.sum()
    r = np.arange(n)
    cy, cx = int(round((big.sum(1) * r).sum())), int(round((big.sum(0) * r).sum()))
    half = size // 2
    out = np.pad(big, half)[cy : cy + size, cx : cx + size]
    return (out / out.sum()).astype(np.float32)


def deblur_image_at_scale(
    img: np.ndarray, scale: float, *, preset: str | Preset, kernel_size: int, **kwargs
) -> DeblurResult:
    """:func:`deblurkit.solvers.deblur.deblur_image` with the kernel estimated on a resized copy.

    The copy is ``img`` resized by ``scale`` with OpenCV ``INTER_AREA``; ``deblur_image`` runs on it
    with ``preset``, ``kernel_size`` and ``kwargs``; its kernel is brought back by
    :func:`resize_kernel` (factor ``1 / scale``, the ``kernel_size`` window), cleaned as the solver
    cleans (:func:`deblurkit.solvers.deblur.clean_kernel`, ``preset.kernel_threshold``) and the
    full-resolution input is deconvolved with it (:func:`deblurkit.solvers.nonblind.deconvolve`,
    ``preset.nonblind`` with the weight from the full image's estimated noise). When the
    reduced-scale run returned its input, the input is returned. Images for which the copy would be
    narrower than ``4 · kernel_size`` pixels are estimated at full resolution (a note says so).

    Args:
        img: ``(H, W, C)`` float32 blurry image in ``[0, 1]``, ``C ∈ {1, 3}``.
        scale: resize factor of the estimation copy, ``0 < scale ≤ 1`` (1: plain ``deblur_image``).
        preset: the estimation's preset, a name or a :class:`~deblurkit.solvers.presets.Preset`.
        kernel_size: kernel side ``S`` in pixels, the same at both scales (the generator's size).
        **kwargs: the other arguments of ``deblur_image``.

    Returns:
        :class:`~deblurkit.solvers.deblur.DeblurResult` at full resolution: ``image`` ``(H, W, C)``,
        ``kernel`` (cleaned) and ``kernel_raw`` ``(S, S)`` resized, ``kernel_code`` ``None`` (the
        reduced-scale code generates the small kernel, not this one), ``crop`` in full-resolution
        pixels, ``nonblind`` with the full image's weight and noise; the loss, residual ratio,
        ``data_fit_mse`` and ``attempts`` are those of the reduced-scale estimation.

    Raises:
        ValueError: ``scale`` outside ``(0, 1]``; as ``deblur_image``.
    """
    preset = get_preset(preset)
    if not 0 < scale <= 1:
        raise ValueError(f"scale must be in (0, 1], got {scale}")
    img = np.clip(np.asarray(img, dtype=np.float32), 0.0, 1.0)
    if img.ndim != 3 or img.shape[2] not in (1, 3):
        raise ValueError(f"expected an (H, W, 1|3) image, got shape {img.shape}")
    H, W, C = img.shape
    if scale == 1 or min(H, W) * scale < 4 * kernel_size:
        r = deblur_image(img, preset=preset, kernel_size=kernel_size, **kwargs)
        if scale < 1:
            r.notes.insert(0, f"image too small to estimate the kernel at scale {scale:g}: full resolution used")
        return r
    h, w = round(H * scale), round(W * scale)
    small = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA).reshape(h, w, C)
    r = deblur_image(small, preset=preset, kernel_size=kernel_size, **kwargs)
    rgb = torch.from_numpy(img).permute(2, 0, 1)
    nb_cfg, noise_std = preset.nonblind.resolve_with_noise(rgb)
    k_raw = resize_kernel(r.kernel_raw, 1 / scale, kernel_size)
    k_used = clean_kernel(torch.from_numpy(k_raw), preset.kernel_threshold).float()
    out = img if r.returned_input else deconvolve(rgb, k_used, nb_cfg).clamp(0, 1).permute(1, 2, 0).numpy()
    t, l, ch, cw = r.crop
    return replace(
        r,
        image=np.asarray(out, dtype=np.float32),
        kernel=k_used.numpy(),
        kernel_raw=k_raw,
        kernel_code=None,
        crop=tuple(int(round(v / scale)) for v in (t, l, ch, cw)),
        nonblind={**r.nonblind, "lam": float(nb_cfg.lam), "noise_std": noise_std},
        notes=[f"kernel estimated on a {w}×{h} copy (scale {scale:g}) and resized ×{1 / scale:g}", *r.notes],
    )
