"""The kernel initialisation of GLKM: ``k⁰ = G(E(y))`` (Algorithm 2, line 1; §IV-C).

The initializer ``E`` reads the blurry image's luminance (BT.601 Y for colour images, the values
themselves for gray ones, in ``[0, 1]``) at full size and applies its own fixed input transform
(:attr:`deblurkit.models.initializer.InitializerConfig.features`); the kernel generator ``G`` turns
the code into a kernel in the true-convolution orientation of the training data. An encoder into
``z`` gives ``w_k⁰ = g1(E(y))``; one into ``w`` (``InitializerConfig.code == "w"``) gives
``w_k⁰ = relu(E(y))`` directly — the feature map GLKM's Algorithm 2 then optimises.
"""

from __future__ import annotations

import numpy as np
import torch

from deblurkit.color import rgb_to_luma
from deblurkit.models.initializer import KernelInitializer
from deblurkit.models.kernel_gan import KernelGenerator, code_generator


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
    """``E(y)``: ``(B, 1, H, W)`` luminance → ``(B, latent_dim, 1, 1)`` codes (eval mode): ``z⁰`` for an
    encoder into ``z``, flat ``w_k`` maps (before the ``relu``) for one into ``w``."""
    encoder.eval()
    return encoder(y)


def _check_pair(encoder: KernelInitializer, generator: KernelGenerator) -> torch.nn.Module:
    """The encoder's code → kernel map; ``ValueError`` if the two models do not belong together."""
    decode = code_generator(generator, encoder.config.code)
    if encoder.config.size != generator.config.size or encoder.config.latent_dim != decode.config.latent_dim:
        raise ValueError(
            f"initializer (size {encoder.config.size}, {encoder.config.code} code of {encoder.config.latent_dim}) and "
            f"generator (size {generator.config.size}, code of {decode.config.latent_dim}) do not match"
        )
    return decode


@torch.no_grad()
def initial_feature_map(encoder: KernelInitializer, generator: KernelGenerator, y: torch.Tensor) -> torch.Tensor:
    """``w_k⁰``, the starting first-layer feature map of GLKM Algorithm 2 (line 1): ``g1(E(y))`` for an
    encoder into ``z``, ``relu(E(y))`` reshaped for one into ``w``.

    Args:
        encoder: trained initializer.
        generator: the kernel generator it was trained with (same size).
        y: ``(B, 1, H, W)`` luminance in ``[0, 1]``, ``H, W ≥ 32``.

    Returns:
        ``(B, 256, k1, k1)`` non-negative feature maps (``generator.config.w_shape``).

    Raises:
        ValueError: if the two models do not match, or ``y`` has the wrong shape.
    """
    decode = _check_pair(encoder, generator)
    generator.eval()
    code = initial_latent(encoder, y)
    return decode.to_w(code) if encoder.config.code == "w" else generator.first_layer(code)


@torch.no_grad()
def initial_kernel(encoder: KernelInitializer, generator: KernelGenerator, y: torch.Tensor) -> torch.Tensor:
    """``k⁰ = G(E(y))`` (GLKM Algorithm 2, line 1), i.e. ``G_k^{(w)}(w_k⁰)``.

    Args:
        encoder: trained initializer.
        generator: the kernel generator it was trained with (same size).
        y: ``(B, 1, H, W)`` luminance in ``[0, 1]``, ``H, W ≥ 32``.

    Returns:
        ``(B, 1, S, S)`` kernels, positive, summing to 1, true-convolution orientation.

    Raises:
        ValueError: if the two models were built for different kernel sizes or code lengths, or
            ``y`` has the wrong shape.
    """
    decode = _check_pair(encoder, generator)
    generator.eval()
    return decode(initial_latent(encoder, y))
