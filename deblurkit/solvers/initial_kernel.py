"""The kernel initialisation of GLKM: ``k⁰ = G(E(y))`` (Algorithm 2, line 1; §IV-C).

The initializer ``E`` reads the blurry image's luminance (BT.601 Y for colour images, the values
themselves for gray ones, in ``[0, 1]``) at full size and applies its own fixed input transform
(:attr:`deblurkit.models.initializer.InitializerConfig.features`); the kernel generator ``G`` turns
the code into a kernel in the true-convolution orientation of the training data.
"""

from __future__ import annotations

import numpy as np
import torch

from deblurkit.color import rgb_to_luma
from deblurkit.models.initializer import KernelInitializer
from deblurkit.models.kernel_gan import KernelGenerator


def luminance_tensor(img: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """Image ``(H, W, C)`` float32 in ``[0, 1]`` → luminance tensor ``(1, 1, H, W)``.

    ``C = 1``: the gray values; ``C = 3``: BT.601 Y (``[16, 235]/255``, as MATLAB ``rgb2ycbcr``).

    Raises:
        ValueError: if ``img`` is not ``(H, W, 1)`` or ``(H, W, 3)``.
    """
    if img.ndim != 3 or img.shape[2] not in (1, 3):
        raise ValueError(f"expected an (H, W, 1|3) image, got shape {img.shape}")
    y = img if img.shape[2] == 1 else rgb_to_luma(img)
    return torch.from_numpy(np.ascontiguousarray(y[:, :, 0], dtype=np.float32))[None, None].to(device)


@torch.no_grad()
def initial_latent(encoder: KernelInitializer, y: torch.Tensor) -> torch.Tensor:
    """``z⁰ = E(y)``: ``(B, 1, H, W)`` luminance → ``(B, latent_dim, 1, 1)`` codes (eval mode)."""
    encoder.eval()
    return encoder(y)


@torch.no_grad()
def initial_kernel(encoder: KernelInitializer, generator: KernelGenerator, y: torch.Tensor) -> torch.Tensor:
    """``k⁰ = G(E(y))`` (GLKM Algorithm 2, line 1).

    Args:
        encoder: trained initializer.
        generator: the kernel generator it was trained with (same size).
        y: ``(B, 1, H, W)`` luminance in ``[0, 1]``, ``H, W ≥ 32``.

    Returns:
        ``(B, 1, S, S)`` kernels, positive, summing to 1, true-convolution orientation.

    Raises:
        ValueError: if the two models were built for different kernel sizes or latent sizes, or
            ``y`` has the wrong shape.
    """
    if encoder.config.size != generator.config.size or encoder.config.latent_dim != generator.config.latent_dim:
        raise ValueError(
            f"initializer (size {encoder.config.size}) and generator (size {generator.config.size}) do not match"
        )
    generator.eval()
    return generator(initial_latent(encoder, y))
