"""DCGAN kernel generator and discriminator — GLKM's kernel prior (GLKM §IV-B).

The generator ``G_k = G_k^{(w)} ∘ g1`` maps a latent ``z ~ N(0, I)`` of shape ``(B, 100, 1, 1)``
to a motion-blur kernel ``(B, 1, S, S)`` (non-negative, summing to 1). GLKM optimises the
*feature map* ``w_k = g1(z)`` of the first layer rather than ``z`` (GLKM Eq. (6)), so the
generator exposes the split :meth:`KernelGenerator.first_layer` / :meth:`KernelGenerator.from_w`.

Architecture (``../shared/docs/reference-notes.md`` §3, the ECCV predecessor's reference design;
DCGAN, Radford et al. 2016)::

    g1:  ConvT(100→256, k1, s1, p0) + BN + ReLU              1 → k1
         ConvT(256→128, 5,  s2, p_a) + BN + ReLU              k1 → …
         ConvT(128→64,  k2, s2, p_b) + BN + ReLU
         ConvT(64→1,    5,  s2, p_c)  → softmax over all S² pixels

+------+----+----+----------+--------------+------------------+
| size | k1 | k2 | paddings | spatial path | ``w_k`` shape    |
+======+====+====+==========+==============+==================+
| 31   | 3  | 5  | 1,1,1    | 3→7→15→31    | (B, 256, 3, 3)   |
| 45   | 5  | 4  | 1,1,1    | 5→11→22→45   | (B, 256, 5, 5)   |
| 55   | 5  | 5  | 0,1,1    | 5→13→27→55   | (B, 256, 5, 5)   |
| 65   | 7  | 6  | 1,1,1    | 7→15→32→65   | (B, 256, 7, 7)   |
| 75   | 7  | 4  | 0,0,0    | 7→17→36→75   | (B, 256, 7, 7)   |
+------+----+----+----------+--------------+------------------+

Every convolution has no bias. The generator's BatchNorm layers use ``eps = 0.8`` — a quirk of the
reference implementation (where ``BatchNorm2d(c, 0.8)`` passed 0.8 as ``eps``, probably meant as the
momentum); it is kept because it changes the function the weights compute (it damps the
normalisation of low-variance channels), and weights trained with it must be run with it.

The discriminator is not tabulated beyond its channel widths in the notes; we make it the
generator's mirror image (the same kernel sizes and paddings in reverse order), which brings every
size to exactly ``1 × 1``::

    Conv(1→64, 5, s2, p_c) + LeakyReLU(0.2)                 S → …
    Conv(64→128, k2, s2, p_b) + BN + LeakyReLU(0.2)
    Conv(128→256, 5, s2, p_a) + BN + LeakyReLU(0.2)          … → k1
    Conv(256→1, k1, s1, p0) + sigmoid                        k1 → 1

(discriminator BatchNorm uses PyTorch's default ``eps = 1e-5``). Initialisation for both
(:func:`init_weights`, DCGAN): conv weights ``N(0, 0.02)``, BN weights ``N(1, 0.02)``, BN bias 0.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

#: Version of the architecture code; stored in every weights file and checked on loading.
ARCH_VERSION = "1"
#: Kernel sizes with a tabulated architecture.
SIZES = (31, 45, 55, 65, 75)
_TABLE = {  # size: (k1, k2, (pad_a, pad_b, pad_c))
    31: (3, 5, (1, 1, 1)),
    45: (5, 4, (1, 1, 1)),
    55: (5, 5, (0, 1, 1)),
    65: (7, 6, (1, 1, 1)),
    75: (7, 4, (0, 0, 0)),
}


@dataclass(frozen=True)
class KernelGANConfig:
    """Everything that rebuilds a kernel generator/discriminator pair (saved with the weights).

    Attributes:
        size: kernel side ``S`` in pixels (one of :data:`SIZES`).
        k1: kernel size of g1's transposed convolution (= side of ``w_k``).
        k2: kernel size of the third transposed convolution.
        paddings: paddings of the 2nd, 3rd and 4th transposed convolutions.
        latent_dim: length of ``z`` (100 in the reference).
        channels: feature widths after g1, layer 2 and layer 3 (``(256, 128, 64)``).
        bn_eps: the generator's BatchNorm ``eps`` (0.8, the reference's quirk).

    Use :func:`config_for_size` rather than building one by hand.
    """

    size: int
    k1: int
    k2: int
    paddings: tuple[int, int, int]
    latent_dim: int = 100
    channels: tuple[int, int, int] = (256, 128, 64)
    bn_eps: float = 0.8

    def to_dict(self) -> dict:
        """JSON-friendly dict (tuples become lists)."""
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict) -> KernelGANConfig:
        """Inverse of :meth:`to_dict`.

        Raises:
            TypeError, ValueError: on unknown or missing fields.
        """
        d = dict(d)
        for key in ("paddings", "channels"):
            if key in d:
                d[key] = tuple(int(v) for v in d[key])
        return cls(**d)

    @property
    def w_shape(self) -> tuple[int, int, int]:
        """Shape ``(C, k1, k1)`` of one ``w_k`` feature map, e.g. ``(256, 3, 3)`` at size 31."""
        return (self.channels[0], self.k1, self.k1)

    def spatial_path(self) -> tuple[int, int, int, int]:
        """Feature-map sides through the generator, e.g. ``(3, 7, 15, 31)`` at size 31."""
        sides = [self.k1]
        for k, p in zip((5, self.k2, 5), self.paddings):
            sides.append((sides[-1] - 1) * 2 - 2 * p + k)
        return tuple(sides)


def config_for_size(size: int, latent_dim: int = 100) -> KernelGANConfig:
    """The tabulated architecture for kernel side ``size`` (notes §3).

    Args:
        size: 31, 45, 55, 65 or 75.
        latent_dim: length of ``z`` (100 in the reference).

    Raises:
        ValueError: for any other size.
    """
    if size not in _TABLE:
        raise ValueError(f"no kernel-generator architecture for size {size}; choose one of {', '.join(map(str, SIZES))}")
    k1, k2, pads = _TABLE[size]
    return KernelGANConfig(size=size, k1=k1, k2=k2, paddings=pads, latent_dim=latent_dim)


def init_weights(module: nn.Module) -> None:
    """DCGAN initialisation, applied with ``model.apply(init_weights)``.

    Conv / ConvTranspose weights ``~ N(0, 0.02)``; BatchNorm weights ``~ N(1, 0.02)``, biases 0.
    Uses torch's global RNG (seed it first for reproducibility).
    """
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class KernelGenerator(nn.Module):
    """DCGAN kernel generator ``G_k(z) = G_k^{(w)}(g1(z))`` (GLKM §IV-B, Eq. (6); notes §3).

    Args:
        config: the architecture (see :func:`config_for_size`).

    Shape:
        - ``z``: ``(B, latent_dim, 1, 1)`` or ``(B, latent_dim)``, float, ``N(0, 1)`` samples.
        - ``w``: ``(B, 256, k1, k1)`` — g1's output after BatchNorm and ReLU (so ``≥ 0`` when
          produced by :meth:`first_layer`; any real values are accepted by :meth:`from_w`).
        - kernel: ``(B, 1, S, S)``, same dtype as the input, every entry ``> 0``, each kernel
          summing to 1 (softmax over all ``S²`` pixels).

    The kernel is in the orientation of the training data (:mod:`deblurkit.kernels`: true
    convolution, ``y = k ⊛ x``). Call ``.eval()`` before using it as a prior: ``w_k`` is defined with
    BatchNorm's running statistics (notes §3).

    Example:
        >>> g = KernelGenerator(config_for_size(31)).eval()
        >>> w = g.first_layer(torch.randn(2, 100, 1, 1))
        >>> tuple(w.shape), tuple(g.from_w(w).shape)
        ((2, 256, 3, 3), (2, 1, 31, 31))
    """

    def __init__(self, config: KernelGANConfig) -> None:
        super().__init__()
        self.config = config
        c0, c1, c2 = config.channels
        pa, pb, pc = config.paddings
        eps = config.bn_eps
        self.g1 = nn.Sequential(
            nn.ConvTranspose2d(config.latent_dim, c0, config.k1, 1, 0, bias=False),
            nn.BatchNorm2d(c0, eps=eps),
            nn.ReLU(inplace=True),
        )
        self.body = nn.Sequential(
            nn.ConvTranspose2d(c0, c1, 5, 2, pa, bias=False),
            nn.BatchNorm2d(c1, eps=eps),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(c1, c2, config.k2, 2, pb, bias=False),
            nn.BatchNorm2d(c2, eps=eps),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(c2, 1, 5, 2, pc, bias=False),
        )

    def first_layer(self, z: torch.Tensor) -> torch.Tensor:
        """``w_k = g1(z)``: the first layer's feature map (GLKM Algorithm 2, line 1).

        Args:
            z: ``(B, latent_dim, 1, 1)`` or ``(B, latent_dim)`` latent codes.

        Returns:
            ``(B, 256, k1, k1)`` non-negative features (after BN and ReLU).

        Raises:
            ValueError: if ``z`` has the wrong shape.
        """
        if z.ndim == 2:
            z = z[:, :, None, None]
        if z.ndim != 4 or z.shape[1:] != (self.config.latent_dim, 1, 1):
            raise ValueError(f"z must be (B, {self.config.latent_dim}, 1, 1), got {tuple(z.shape)}")
        return self.g1(z)

    def from_w(self, w: torch.Tensor) -> torch.Tensor:
        """``G_k^{(w)}(w)``: the truncated generator, feature map → kernel (GLKM Eq. (6)).

        Args:
            w: ``(B, 256, k1, k1)`` feature maps.

        Returns:
            ``(B, 1, S, S)`` kernels, positive, each summing to 1.

        Raises:
            ValueError: if ``w`` has the wrong shape.
        """
        if w.ndim != 4 or tuple(w.shape[1:]) != self.config.w_shape:
            raise ValueError(f"w must be (B, {', '.join(map(str, self.config.w_shape))}), got {tuple(w.shape)}")
        logits = self.body(w)
        b, _, h, wd = logits.shape
        return torch.softmax(logits.reshape(b, -1), dim=1).reshape(b, 1, h, wd)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``G_k(z) = from_w(first_layer(z))``; ``z`` ``(B, 100[, 1, 1])`` → kernels ``(B, 1, S, S)``."""
        return self.from_w(self.first_layer(z))

    def sample_latent(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` latent codes ``(n, latent_dim, 1, 1)`` drawn from ``N(0, 1)`` on the CPU (float32)."""
        return torch.randn(n, self.config.latent_dim, 1, 1, generator=generator)


@dataclass(frozen=True)
class CodeSpace:
    """What a code-to-kernel map reads: kernel side ``size`` (pixels) and code length ``latent_dim``."""

    size: int
    latent_dim: int


class WCodeGenerator(nn.Module):
    """The truncated generator ``G_k^{(w)}`` (GLKM Eq. (6)) seen as a generator of flat ``w_k`` codes.

    A kernel initializer can encode into the first-layer feature map ``w_k`` (the variable GLKM's
    Algorithm 2 optimises) instead of ``z``; this wraps a :class:`KernelGenerator` so that such
    codes are used wherever a ``z`` generator is (trainer, report): ``config.size``,
    ``config.latent_dim`` (``256·k1²``), ``forward`` and ``sample_latent``.

    Args:
        generator: the kernel generator (frozen by its user; not copied).
        nonnegative: read ``relu(code)`` — the range of ``g1``, which ends in a ReLU (the product's
            setting). ``False`` reads the code as it is (an analysis of unconstrained codes).

    Shape:
        - code: ``(B, 256·k1², 1, 1)`` float32 (any real values).
        - output: ``(B, 1, S, S)`` kernels, positive, summing to 1.
    """

    def __init__(self, generator: KernelGenerator, nonnegative: bool = True) -> None:
        super().__init__()
        self.g = generator
        self.nonnegative = nonnegative
        self.config = CodeSpace(size=generator.config.size, latent_dim=math.prod(generator.config.w_shape))

    def to_w(self, code: torch.Tensor) -> torch.Tensor:
        """Flat codes ``(B, 256·k1², 1, 1)`` → feature maps ``w_k`` ``(B, 256, k1, k1)``, ``≥ 0`` if nonnegative."""
        w = torch.relu(code) if self.nonnegative else code
        return w.reshape(code.shape[0], *self.g.config.w_shape)

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        """``G_k^{(w)}(w)`` of flat codes: ``(B, 256·k1², 1, 1)`` → kernels ``(B, 1, S, S)``."""
        return self.g.from_w(self.to_w(code))

    @torch.no_grad()
    def sample_latent(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``g1(z)`` of ``n`` codes ``z ~ N(0, I)``, flattened to ``(n, 256·k1², 1, 1)``."""
        return self.g.first_layer(self.g.sample_latent(n, generator)).reshape(n, -1, 1, 1)


def code_generator(generator: KernelGenerator, code: str) -> nn.Module:
    """The code → kernel map of a kernel initializer that encodes into ``code``.

    Args:
        generator: the kernel generator.
        code: ``"z"`` (the generator itself) or ``"w"`` (:class:`WCodeGenerator`, non-negative).

    Returns:
        ``generator`` or ``WCodeGenerator(generator)``.

    Raises:
        ValueError: unknown ``code``.
    """
    if code == "z":
        return generator
    if code == "w":
        return WCodeGenerator(generator)
    raise ValueError(f"code must be 'z' or 'w', got {code!r}")


class KernelDiscriminator(nn.Module):
    """DCGAN discriminator for ``S × S`` kernels, the generator's mirror image (see module doc).

    Args:
        config: the same :class:`KernelGANConfig` as the generator.

    Shape:
        - input: ``(B, 1, S, S)`` kernels (non-negative, sum 1, as the generator outputs).
        - :meth:`logits` (or ``forward(k, logits=True)``): ``(B,)`` real-valued scores;
          :meth:`forward`: ``(B,)`` probabilities ``sigmoid(logits)`` in ``(0, 1)`` that the kernel is real.

    Training uses :meth:`logits` with ``binary_cross_entropy_with_logits`` — the same BCE as
    sigmoid + BCE, computed stably.
    """

    def __init__(self, config: KernelGANConfig) -> None:
        super().__init__()
        self.config = config
        c0, c1, c2 = config.channels
        pa, pb, pc = config.paddings
        self.net = nn.Sequential(
            nn.Conv2d(1, c2, 5, 2, pc, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(c2, c1, config.k2, 2, pb, bias=False),
            nn.BatchNorm2d(c1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(c1, c0, 5, 2, pa, bias=False),
            nn.BatchNorm2d(c0),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(c0, 1, config.k1, 1, 0, bias=False),
        )

    def logits(self, k: torch.Tensor) -> torch.Tensor:
        """Pre-sigmoid scores ``(B,)`` for kernels ``(B, 1, S, S)``.

        Raises:
            ValueError: if ``k`` is not ``(B, 1, S, S)``.
        """
        return self.forward(k, logits=True)

    #: Layers of :attr:`net` up to the feature-matching features (the second convolution's output,
    #: taken *before* its BatchNorm — batch statistics would normalise the batch means away).
    FEATURE_LAYERS = 3

    def features(self, k: torch.Tensor) -> torch.Tensor:
        """Hidden features ``(B, C1, h, h)`` for kernels ``(B, 1, S, S)``: the second convolution's output before its BatchNorm.

        Used by feature matching (Salimans et al. 2016 §3.1); ``h`` is the second layer's spatial size.
        """
        return self.net[: self.FEATURE_LAYERS](k)

    def forward(self, k: torch.Tensor, logits: bool = False, features: bool = False):
        """Probabilities ``(B,)`` in ``(0, 1)`` that each kernel ``(B, 1, S, S)`` is real.

        With ``logits=True`` the pre-sigmoid scores instead (the form trainers call through
        DistributedDataParallel, which only wraps ``forward``). With ``features=True`` the pair
        ``(scores, features)``, ``features`` as :meth:`features`, from one pass.
        """
        s = self.config.size
        if k.ndim != 4 or tuple(k.shape[1:]) != (1, s, s):
            raise ValueError(f"kernels must be (B, 1, {s}, {s}), got {tuple(k.shape)}")
        feats = self.net[: self.FEATURE_LAYERS](k)
        out = self.net[self.FEATURE_LAYERS :](feats).reshape(k.shape[0])
        out = out if logits else torch.sigmoid(out)
        return (out, feats) if features else out


def build_kernel_gan(size: int, seed: int | None = None) -> tuple[KernelGenerator, KernelDiscriminator]:
    """A freshly initialised (DCGAN init) generator/discriminator pair for kernel side ``size``.

    Args:
        size: one of :data:`SIZES`.
        seed: if given, seeds torch's global RNG first (same seed, same weights).

    Raises:
        ValueError: unknown size.
    """
    cfg = config_for_size(size)
    if seed is not None:
        torch.manual_seed(seed)
    g, d = KernelGenerator(cfg), KernelDiscriminator(cfg)
    g.apply(init_weights)
    d.apply(init_weights)
    return g, d
