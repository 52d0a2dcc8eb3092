"""Deep-Image-Prior networks of SelfDeblur (Ren et al., CVPR 2020): the image net and the kernel FCN.

Re-implemented from the architecture description in ``../shared/docs/reference-notes.md`` §4 (no
code copied). The networks know nothing of how they are optimised (:mod:`deblurkit.solvers.joint`).

Image network :class:`SkipNet` — an encoder–decoder "skip" network (DIP, Ulyanov et al. 2018), as
configured by SelfDeblur: 5 scales, 128 channels down and up, 16 skip channels, 3×3 convolutions,
stride-2 downsampling, bilinear upsampling, reflection padding, BatchNorm, LeakyReLU(0.2), sigmoid
output, 8 noise input channels. One scale ``i`` (input ``c_in``)::

    skip_i  = [Conv1×1(c_in→skip) + BN + LReLU]                      (if skip > 0)
    deep_i  = Conv3×3/s2(c_in→down) + BN + LReLU
              Conv3×3(down→down) + BN + LReLU
              [scale i+1]                                               (if not the last scale)
              Upsample×2 (bilinear)
    out_i   = BN(concat(skip_i, deep_i))                                (centre-cropped to a common size)
              Conv3×3(skip + up_{i+1}→up) + BN + LReLU
              Conv1×1(up→up) + BN + LReLU

followed by ``Conv1×1(up_0→out) + sigmoid``. SelfDeblur's published code also has non-local blocks at
scales 2–4; they are omitted here (the notes' ~2.3 M parameters are matched without them:
:class:`SkipNet` with the default :class:`SkipConfig` has ≈2.3 M). Width and depth are configurable
so that the ``fast`` preset can use a lighter network (``SkipConfig.light()``).

Kernel network :class:`KernelFCN` — ``Linear(200→1000) → ReLU6 → Linear(1000→S²) → softmax`` on a
fixed noise input: a non-negative kernel summing to 1 (SelfDeblur's kernel prior).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class SkipConfig:
    """Architecture of a :class:`SkipNet`.

    Attributes:
        in_channels: channels of the noise input (8 in SelfDeblur).
        out_channels: image channels produced (1 for luminance, 3 for RGB).
        down: channels of each scale's downsampling branch (length = number of scales).
        up: channels of each scale's upsampling branch (same length as ``down``).
        skip: channels of each scale's skip branch (0 disables that skip).
        negative_slope: LeakyReLU slope.
    """

    in_channels: int = 8
    out_channels: int = 1
    down: tuple[int, ...] = (128,) * 5
    up: tuple[int, ...] = (128,) * 5
    skip: tuple[int, ...] = (16,) * 5
    negative_slope: float = 0.2

    def __post_init__(self) -> None:
        if not (len(self.down) == len(self.up) == len(self.skip) >= 1):
            raise ValueError(f"down/up/skip must have the same non-zero length, got {self.down}, {self.up}, {self.skip}")
        if min(self.down + self.up) < 1 or min(self.skip) < 0 or self.in_channels < 1 or self.out_channels < 1:
            raise ValueError("channel counts must be positive (skip channels non-negative)")

    @classmethod
    def selfdeblur(cls, out_channels: int = 1) -> SkipConfig:
        """SelfDeblur's configuration (notes §4): 5 scales × 128 channels, 16 skip channels."""
        return cls(out_channels=out_channels)

    @classmethod
    def light(cls, out_channels: int = 1, width: int = 64, scales: int = 5) -> SkipConfig:
        """A lighter net for the CPU presets: ``scales`` scales of ``width`` channels, 16 skip channels."""
        return cls(out_channels=out_channels, down=(width,) * scales, up=(width,) * scales, skip=(16,) * scales)

    @property
    def scales(self) -> int:
        """Number of scales (stride-2 downsamplings)."""
        return len(self.down)


def _conv(c_in: int, c_out: int, k: int, stride: int = 1) -> nn.Module:
    """Convolution with reflection padding ``(k − 1) / 2`` (with bias, as DIP's ``need_bias``)."""
    pad = (k - 1) // 2
    layers: list[nn.Module] = []
    if pad > 0:
        layers.append(nn.ReflectionPad2d(pad))
    layers.append(nn.Conv2d(c_in, c_out, k, stride=stride, padding=0, bias=True))
    return nn.Sequential(*layers)


def _cba(c_in: int, c_out: int, k: int, slope: float, stride: int = 1) -> nn.Module:
    """Conv + BatchNorm + LeakyReLU."""
    return nn.Sequential(_conv(c_in, c_out, k, stride), nn.BatchNorm2d(c_out), nn.LeakyReLU(slope, inplace=True))


def _centre_crop(t: torch.Tensor, h: int, w: int) -> torch.Tensor:
    dh, dw = (t.shape[-2] - h) // 2, (t.shape[-1] - w) // 2
    return t[..., dh : dh + h, dw : dw + w]


class _Scale(nn.Module):
    """One scale of the skip network (see the module docstring)."""

    def __init__(self, cfg: SkipConfig, i: int, c_in: int) -> None:
        super().__init__()
        s, d, u = cfg.skip[i], cfg.down[i], cfg.up[i]
        slope = cfg.negative_slope
        self.skip = _cba(c_in, s, 1, slope) if s > 0 else None
        self.down = nn.Sequential(_cba(c_in, d, 3, slope, stride=2), _cba(d, d, 3, slope))
        self.deeper = _Scale(cfg, i + 1, d) if i + 1 < cfg.scales else None
        c_deep = cfg.up[i + 1] if self.deeper is not None else d
        self.bn = nn.BatchNorm2d(s + c_deep)
        self.merge = nn.Sequential(_cba(s + c_deep, u, 3, slope), _cba(u, u, 1, slope))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        deep = self.down(x)
        if self.deeper is not None:
            deep = self.deeper(deep)
        deep = F.interpolate(deep, scale_factor=2.0, mode="bilinear", align_corners=False)
        parts = [deep] if self.skip is None else [self.skip(x), deep]
        h = min(p.shape[-2] for p in parts)
        w = min(p.shape[-1] for p in parts)
        return self.merge(self.bn(torch.cat([_centre_crop(p, h, w) for p in parts], dim=1)))


class SkipNet(nn.Module):
    """SelfDeblur's image generator ``G_x(z_x; θ_x)`` (DIP skip network; notes §4).

    Args:
        config: architecture (default: SelfDeblur's, 1 output channel).

    Shape:
        - input: ``(B, in_channels, H, W)`` float32 noise (SelfDeblur: ``U(0, 0.1)``).
        - output: ``(B, out_channels, H', W')`` in ``(0, 1)`` (sigmoid). ``H' = H`` when ``H`` is a
          multiple of ``2**scales``; otherwise the concatenations centre-crop and ``H'`` may be
          smaller by a few pixels — use :meth:`input_size` to pick an input size that yields a
          wanted output size exactly.

    Example:
        >>> net = SkipNet(SkipConfig.light(width=8, scales=3))
        >>> net(torch.rand(1, 8, 40, 48)).shape
        torch.Size([1, 1, 40, 48])
    """

    def __init__(self, config: SkipConfig | None = None) -> None:
        super().__init__()
        self.config = config or SkipConfig()
        self.body = _Scale(self.config, 0, self.config.in_channels)
        self.head = _conv(self.config.up[0], self.config.out_channels, 1)
        # channels-last (NHWC) weights and activations: faster convolutions on the CPU (oneDNN)
        self.to(memory_format=torch.channels_last)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``(B, in_channels, H, W)`` noise → ``(B, out_channels, H', W')`` image in ``(0, 1)``."""
        h = self.body(z.contiguous(memory_format=torch.channels_last))
        return torch.sigmoid(self.head(h)).contiguous()

    def output_size(self, h: int, w: int) -> tuple[int, int]:
        """Output side lengths for an input of ``(h, w)`` pixels (computed arithmetically)."""

        def side(n: int, depth: int) -> int:
            if depth == self.config.scales:
                return n
            m = (n + 1) // 2  # stride-2 conv on a reflection-padded input (pad 1, kernel 3)
            deep = 2 * side(m, depth + 1)
            return min(n, deep) if self.config.skip[depth] > 0 else deep

        return side(h, 0), side(w, 0)

    def input_size(self, h: int, w: int) -> tuple[int, int]:
        """Smallest input size ``≥ (h, w)`` whose output is at least ``(h, w)`` (crop the rest)."""
        hi, wi = h, w
        while self.output_size(hi, w)[0] < h:
            hi += 1
        while self.output_size(h, wi)[1] < w:
            wi += 1
        return hi, wi


class KernelFCN(nn.Module):
    """SelfDeblur's kernel prior: ``Linear(n_in→hidden) → ReLU6 → Linear(hidden→S²) → softmax``.

    Args:
        size: kernel side ``S`` in pixels (odd recommended).
        n_in: length of the fixed input noise (200 in SelfDeblur).
        hidden: hidden width (1000 in SelfDeblur).

    Shape:
        - input: ``(B, n_in)`` fixed noise.
        - output: ``(B, 1, S, S)`` kernel, positive, each summing to 1. Used as a true-convolution
          kernel by :mod:`deblurkit.solvers` (the orientation is whatever the data fit makes it).

    Raises:
        ValueError: for ``size < 1``.
    """

    def __init__(self, size: int, n_in: int = 200, hidden: int = 1000) -> None:
        super().__init__()
        if size < 1:
            raise ValueError(f"kernel size must be positive, got {size}")
        self.size, self.n_in = size, n_in
        self.net = nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU6(inplace=True), nn.Linear(hidden, size * size))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``(B, n_in)`` noise → ``(B, 1, S, S)`` kernels (softmax over the ``S²`` taps)."""
        b = z.shape[0]
        return torch.softmax(self.net(z), dim=1).reshape(b, 1, self.size, self.size)
