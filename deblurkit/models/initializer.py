"""The kernel initializer ``E``: blurry luminance image → latent code of the kernel generator.

GLKM §IV-C and Algorithm 1; architecture facts in ``../shared/docs/reference-notes.md`` §3:
ResNet-18 (BasicBlock × [2, 2, 2, 2]) with a 1-channel 7×7 stride-2 stem, global average pooling
(so any input size works) and a linear head to the latent dimension, reshaped to ``(B, 100, 1, 1)``.
The ResNet body is torchvision's implementation (no pretrained weights are loaded).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import torch
from torch import nn

#: Bumped whenever a change makes old initializer weights incompatible.
ARCH_VERSION = "1"


@dataclass(frozen=True)
class InitializerConfig:
    """Architecture of a :class:`KernelInitializer` (saved with its weights).

    Attributes:
        size: side ``S`` (pixels) of the kernels of the generator it was trained for.
        latent_dim: length of the generator's latent code ``z``.
    """

    size: int = 31
    latent_dim: int = 100

    def to_json(self) -> str:
        """The config as a JSON string."""
        return json.dumps(asdict(self), sort_keys=True)


class KernelInitializer(nn.Module):
    """ResNet-18 encoder ``E(y) → z`` (GLKM §IV-C).

    Args:
        config: the architecture.

    Shape:
        - y: ``(B, 1, H, W)`` luminance (Y of BT.601, or the gray image) in ``[0, 1]``, not
          normalised, ``H, W ≥ 32`` pixels.
        - output: ``(B, latent_dim, 1, 1)`` float32 latent codes for the kernel generator.

    Example:
        >>> E = KernelInitializer(InitializerConfig())
        >>> E(torch.rand(2, 1, 64, 80)).shape
        torch.Size([2, 100, 1, 1])
    """

    def __init__(self, config: InitializerConfig) -> None:
        super().__init__()
        from torchvision.models import resnet18

        self.config = config
        net = resnet18(weights=None, num_classes=config.latent_dim)
        net.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.net = net

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """Encode blurry luminance images ``(B, 1, H, W)`` into latent codes ``(B, latent_dim, 1, 1)``.

        Raises:
            ValueError: if ``y`` is not ``(B, 1, H, W)`` with ``H, W ≥ 32``.
        """
        if y.ndim != 4 or y.shape[1] != 1 or min(y.shape[-2:]) < 32:
            raise ValueError(f"y must be (B, 1, H, W) with H, W ≥ 32, got {tuple(y.shape)}")
        return self.net(y).reshape(y.shape[0], self.config.latent_dim, 1, 1)
