"""The kernel initializer ``E``: blurry luminance image → latent code of the kernel generator.

GLKM §IV-C and Algorithm 1; architecture facts in ``../shared/docs/reference-notes.md`` §3:
ResNet-18 (BasicBlock × [2, 2, 2, 2]) with a 1-channel 7×7 stride-2 stem, global average pooling
(so any input size works) and a linear head to the latent dimension, reshaped to ``(B, 100, 1, 1)``.
The ResNet body is torchvision's implementation (no pretrained weights are loaded). The head may
instead give the generator's first-layer feature map ``w_k`` flattened (:attr:`InitializerConfig.code`
``"w"``, ``(B, 256·k1², 1, 1)``), the variable GLKM's Algorithm 2 optimises.

What the stem sees (:attr:`InitializerConfig.features`, a fixed, parameter-free transform of the
luminance):

- ``"luma"``: the luminance itself, standardised per image (zero mean, unit standard deviation), so
  the code does not depend on exposure or contrast.
- ``"autocorr"``: the autocorrelation of the luminance gradients over lags ``|d| ≤ S`` — a
  ``(2S+1) × (2S+1)`` map. Natural-image gradients are nearly white, so this map is close to the
  kernel's own autocorrelation ``k ⋆ k`` (the classic blur cue of Yitzhaky & Kopeika 1998 and
  Goldstein & Fattal 2012); it is averaged over the whole image, so larger images give a cleaner cue.
  It cannot tell ``k`` from its 180° rotation — a kernel and its flip blur differently only in phase.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

#: Bumped whenever a change makes old initializer weights incompatible.
ARCH_VERSION = "2"

#: The input transforms a :class:`KernelInitializer` can use (see the module doc).
FEATURES = ("luma", "autocorr")

#: The codes it can encode into: the generator's latent ``z``, or its first-layer feature map ``w_k``.
CODES = ("z", "w")


def standardize(y: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """Per-image standardisation ``(y − mean) / max(std, eps)``.

    Args:
        y: ``(B, C, H, W)`` float tensor (intensities in ``[0, 1]``).
        eps: floor of the standard deviation (flat images stay finite).

    Returns:
        ``(B, C, H, W)`` tensor with zero mean and unit standard deviation per image.
    """
    flat = y.flatten(1)
    mean = flat.mean(1).view(-1, 1, 1, 1)
    std = flat.std(1).clamp_min(eps).view(-1, 1, 1, 1)
    return (y - mean) / std


def gradient_autocorrelation(y: torch.Tensor, radius: int) -> torch.Tensor:
    """Autocorrelation of an image's forward-difference gradients, lags ``−radius … radius``.

    ``A(d) = Σ_p [g_x(p) g_x(p + d) + g_y(p) g_y(p + d)] / n(d)``, with ``n(d)`` the number of pixel
    pairs at lag ``d`` (unbiased for every lag), computed with zero-padded FFTs (no wrap-around) and
    divided by ``A(0)``. For ``y = k ⊛ x`` with white gradients of ``x`` this is ``k ⋆ k`` up to scale
    (Yitzhaky & Kopeika 1998; Goldstein & Fattal 2012, §3).

    Args:
        y: ``(B, 1, H, W)`` luminance in ``[0, 1]``, ``H, W > radius + 1`` pixels.
        radius: largest lag in pixels (the kernel side ``S`` covers all lags of ``k ⋆ k``).

    Returns:
        ``(B, 1, 2·radius + 1, 2·radius + 1)`` float32 map, ``1`` at the centre (zero lag).

    Raises:
        ValueError: if ``y`` is not ``(B, 1, H, W)`` or is too small for ``radius``.
    """
    if y.ndim != 4 or y.shape[1] != 1 or min(y.shape[-2:]) <= radius + 1:
        raise ValueError(f"y must be (B, 1, H, W) with H, W > {radius + 1}, got {tuple(y.shape)}")
    y = y.float()
    gx = y[..., :-1, 1:] - y[..., :-1, :-1]
    gy = y[..., 1:, :-1] - y[..., :-1, :-1]
    h, w = gx.shape[-2:]
    shape = (h + radius, w + radius)
    power = torch.fft.rfft2(gx, s=shape).abs().square() + torch.fft.rfft2(gy, s=shape).abs().square()
    ac = torch.fft.irfft2(power, s=shape)
    ac = torch.roll(ac, shifts=(radius, radius), dims=(-2, -1))[..., : 2 * radius + 1, : 2 * radius + 1]
    lags = torch.arange(-radius, radius + 1, device=y.device, dtype=y.dtype).abs()
    pairs = (h - lags)[:, None] * (w - lags)[None, :]
    ac = ac / pairs
    return ac / ac[..., radius : radius + 1, radius : radius + 1].clamp_min(1e-12)


@dataclass(frozen=True)
class InitializerConfig:
    """Architecture of a :class:`KernelInitializer` (saved with its weights).

    Attributes:
        size: side ``S`` (pixels) of the kernels of the generator it was trained for.
        latent_dim: length of the generator's latent code ``z``.
        features: what the stem sees, one of :data:`FEATURES` (module doc).
        code: what the head outputs, one of :data:`CODES`: ``"z"``, the generator's latent code
            (``latent_dim`` = 100, GLKM §IV-C), or ``"w"``, the generator's first-layer feature map
            ``w_k`` flattened (``latent_dim`` = ``256·k1²``, read through ``relu`` by
            :class:`deblurkit.models.kernel_gan.WCodeGenerator`) — the variable GLKM's Algorithm 2
            optimises. A weights file without this field loads with ``"z"``.
        stem_pool: keep torchvision's 3×3 stride-2 max-pool after the 7×7 stride-2 stem (ImageNet
            layout: a 63×63 autocorrelation map is 16×16 entering the first residual stage). ``False``
            drops it (32×32 there, as CIFAR-style ResNets do for small inputs; about 2× the cost).
            No parameters depend on it; a weights file without this field loads with ``True``.
    """

    size: int = 31
    latent_dim: int = 100
    features: str = "luma"
    stem_pool: bool = True
    code: str = "z"

    def __post_init__(self) -> None:
        """Check ``features`` and ``code``.

        Raises:
            ValueError: unknown ``features`` or ``code``.
        """
        if self.features not in FEATURES:
            raise ValueError(f"features must be one of {FEATURES}, got {self.features!r}")
        if self.code not in CODES:
            raise ValueError(f"code must be one of {CODES}, got {self.code!r}")

    @property
    def autocorr_pool(self) -> int:
        """Average-pooling factor of the ``(2S+1)²`` autocorrelation map: ``round((2S+1) / 64)``,
        at least 1 (31 → 1, 55 → 2, 75 → 2), so the ResNet's input stays about 64 px wide and its
        cost about that of size 31 whatever the kernel size."""
        return max(1, round((2 * self.size + 1) / 64))

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
        - output: ``(B, latent_dim, 1, 1)`` float32 codes for the kernel generator: ``z``, or flat
          ``w_k`` maps when ``config.code == "w"`` (decode with
          :func:`deblurkit.models.kernel_gan.code_generator`).

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
        if not config.stem_pool:
            net.maxpool = nn.Identity()
        self.net = net

    def features(self, y: torch.Tensor) -> torch.Tensor:
        """The stem's input: ``(B, 1, H, W)`` luminance → standardised luminance ``(B, 1, H, W)``
        (``"luma"``) or the gradient autocorrelation ``(B, 1, 2S+1, 2S+1)`` average-pooled by
        :attr:`InitializerConfig.autocorr_pool` (``"autocorr"``; 63 × 63 at S = 31, 56 × 56 at 55).

        Raises:
            ValueError: if ``y`` is not ``(B, 1, H, W)`` with ``H, W ≥ 32`` (and ``> S + 1``).
        """
        if y.ndim != 4 or y.shape[1] != 1 or min(y.shape[-2:]) < 32:
            raise ValueError(f"y must be (B, 1, H, W) with H, W ≥ 32, got {tuple(y.shape)}")
        if self.config.features == "autocorr":
            ac = gradient_autocorrelation(y, self.config.size)
            pool = self.config.autocorr_pool
            return F.avg_pool2d(ac, pool, ceil_mode=True) if pool > 1 else ac
        return standardize(y)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """Encode blurry luminance images ``(B, 1, H, W)`` into latent codes ``(B, latent_dim, 1, 1)``.

        Raises:
            ValueError: as :meth:`features`.
        """
        return self.net(self.features(y)).reshape(y.shape[0], self.config.latent_dim, 1, 1)
