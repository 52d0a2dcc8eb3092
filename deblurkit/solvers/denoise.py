"""The image the kernel is estimated on: the input, or a denoised copy of it when it is noisy.

A free image prior (DIP) explains a noisy blurred photo almost as well with a smaller kernel as
with the true one — the no-blur bias of joint MAP estimation (Levin et al., "Understanding and
evaluating blind deconvolution algorithms", CVPR 2009) grows with the noise, and on camera-shake
inputs with σ = 0.01 the kernel of GLKM's joint optimisation collapses towards a few taps
(docs/benchmarks.md, issue #7). Estimating the kernel on a denoised copy and
restoring the *original* input with it is the standard remedy for noisy blind deblurring (e.g.
Tai & Lin, "Motion-aware noise filtering for deblurring of noisy and blurry images", CVPR 2012;
Zhong et al., "Handling noise in single image deblurring using directional filters", CVPR 2013).
A blurred image has little high-frequency content of its own, so a non-local-means filter
(Buades et al., CVPR 2005; OpenCV's implementation) removes the noise while keeping the blur.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from deblurkit.physics.noise import estimate_noise_std


def estimation_image(img: np.ndarray, strength: float, min_noise: float) -> tuple[np.ndarray, float | None]:
    """The copy of ``img`` the kernel is estimated on.

    When the estimated noise std ``σ̂`` of ``img`` (median over its channels,
    :func:`deblurkit.physics.noise.estimate_noise_std`) is at least ``min_noise`` and ``strength > 0``,
    ``img`` is filtered by OpenCV's non-local means (``fastNlMeansDenoisingColored`` for colour,
    ``fastNlMeansDenoising`` for grey; 7×7 patches, 21×21 search window) with filter strength
    ``h = strength · σ̂ · 255`` on its 8-bit quantisation; otherwise it is returned unchanged.

    Args:
        img: ``(H, W, C)`` float32 image in ``[0, 1]``, ``C ∈ {1, 3}``.
        strength: ``h`` in units of the estimated noise std (0 disables the filter).
        min_noise: ``σ̂`` (``[0, 1]`` intensity units) below which the input is used as it is.

    Returns:
        ``(image, h)``: the ``(H, W, C)`` float32 image in ``[0, 1]`` to estimate on, and the filter
        strength used (8-bit units), or ``None`` when the input was returned unchanged.

    Raises:
        ValueError: a bad shape, or a negative ``strength`` / ``min_noise``.
    """
    if strength < 0 or min_noise < 0:
        raise ValueError(f"need strength ≥ 0 and min_noise ≥ 0, got {strength} and {min_noise}")
    if img.ndim != 3 or img.shape[2] not in (1, 3):
        raise ValueError(f"expected an (H, W, 1|3) image, got shape {img.shape}")
    if strength == 0:
        return img, None
    sigma = estimate_noise_std(torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1))
    if sigma < min_noise:
        return img, None
    h = float(strength * sigma * 255)
    u8 = np.round(np.clip(img, 0.0, 1.0) * 255).astype(np.uint8)
    if img.shape[2] == 3:
        out = cv2.fastNlMeansDenoisingColored(u8, None, h, h, 7, 21)
    else:
        out = cv2.fastNlMeansDenoising(u8[:, :, 0], None, h, 7, 21)[:, :, None]
    return out.astype(np.float32) / 255, h
