"""Kernel parameterisations of the joint DIP solver, behind one small interface.

A kernel prior is an :class:`torch.nn.Module` with

- ``size`` — kernel side ``S`` (pixels);
- ``forward() → (1, 1, S, S)`` — the current kernel, positive, summing to 1, **true-convolution**
  orientation (the solver blurs with :func:`deblurkit.physics.blur`);
- ``param_groups() → list[dict]`` — Adam parameter groups with their learning rates;
- ``name`` — ``"glkm"`` or ``"fcn"``.

:class:`GLKMPrior` — GLKM Algorithm 2 / Eq. (6): the optimised variable is the first-layer feature
map ``w_k`` of a frozen, eval-mode kernel generator, initialised as ``g1(E(y))`` (or ``g1(z)`` for a
given latent ``z``, ``z = 0`` when neither an initializer nor a latent is available, or a given
``w``). Learning rate 5e-4 (notes §2).

:class:`FCNPrior` — SelfDeblur's kernel net (:class:`deblurkit.models.dip.KernelFCN`) on fixed
``U(0, 0.1)`` noise; learning rate 1e-4 (notes §4).

:func:`make_prior` builds either by name.
"""

from __future__ import annotations

import torch
from torch import nn

from deblurkit.models.dip import KernelFCN
from deblurkit.models.kernel_gan import KernelGenerator
from deblurkit.runtime import seeded_global_rng

#: Learning rates of the notes (§2 GLKM ``w_k``; §4 SelfDeblur kernel net).
GLKM_LR = 5e-4
FCN_LR = 1e-4


class KernelPrior(nn.Module):
    """Interface of the solver's kernel parameterisations (see the module docstring)."""

    name: str = "base"
    size: int

    def param_groups(self) -> list[dict]:  # pragma: no cover - interface
        """Adam parameter groups ``[{"params": [...], "lr": float}, ...]``."""
        raise NotImplementedError

    def forward(self) -> torch.Tensor:  # pragma: no cover - interface
        """The current kernel ``(1, 1, S, S)`` (positive, sums to 1, true convolution)."""
        raise NotImplementedError


class GLKMPrior(KernelPrior):
    """GLKM's latent kernel model: ``k = G_k^{(w)}(w_k)`` with ``w_k`` optimised (GLKM Eq. (6), Alg. 2).

    Args:
        generator: a kernel generator (trained, or randomly initialised in tests). It is put in
            eval mode and its parameters are frozen (``requires_grad = False``) — GLKM optimises
            ``w_k`` only. Note: this mutates the module passed in.
        w: initial feature map ``(N, 256, k1, k1)``; takes precedence over ``z``. ``N > 1`` gives
            one kernel per patch (GLKM Algorithm 4, the non-uniform solver).
        z: initial latent ``(1, latent_dim, 1, 1)`` or ``(1, latent_dim)``, e.g. ``E(y)`` from the
            kernel initializer (GLKM Alg. 2 line 1). ``None`` and no ``w``: ``z = 0``.
        lr: Adam learning rate of ``w_k`` (5e-4 in GLKM).

    Raises:
        ValueError: if ``w`` or ``z`` has the wrong shape.

    Example:
        >>> from deblurkit.models.kernel_gan import build_kernel_gan
        >>> prior = GLKMPrior(build_kernel_gan(31, seed=0)[0])
        >>> prior().shape
        torch.Size([1, 1, 31, 31])
    """

    name = "glkm"

    def __init__(
        self,
        generator: KernelGenerator,
        w: torch.Tensor | None = None,
        z: torch.Tensor | None = None,
        lr: float = GLKM_LR,
    ) -> None:
        super().__init__()
        generator.eval()
        for p in generator.parameters():
            p.requires_grad_(False)
        self.generator = generator
        self.size = generator.config.size
        self.lr = lr
        device = next(generator.parameters()).device
        if w is None:
            if z is None:
                z = torch.zeros(1, generator.config.latent_dim, 1, 1, device=device)
            with torch.no_grad():
                w = generator.first_layer(z.to(device))
        if w.ndim != 4 or w.shape[0] < 1 or tuple(w.shape[1:]) != generator.config.w_shape:
            raise ValueError(f"w must be (N, {', '.join(map(str, generator.config.w_shape))}), got {tuple(w.shape)}")
        self.w = nn.Parameter(w.detach().clone().to(device))

    def train(self, mode: bool = True) -> GLKMPrior:
        """Keep the generator in eval mode whatever ``mode`` is (``w_k`` uses running BN statistics)."""
        super().train(mode)
        self.generator.eval()
        return self

    def param_groups(self) -> list[dict]:
        """``[{"params": [w_k], "lr": lr}]``."""
        return [{"params": [self.w], "lr": self.lr}]

    def forward(self) -> torch.Tensor:
        """Kernels ``(N, 1, S, S)``: ``G_k^{(w)}(w_k)``, in the generator's (true-convolution) orientation."""
        return self.generator.from_w(self.w)


class FCNPrior(KernelPrior):
    """SelfDeblur's kernel prior: a fully connected net on fixed noise (notes §4).

    Args:
        size: kernel side ``S`` in pixels.
        generator: ``torch.Generator`` used to draw the fixed ``U(0, 0.1)`` input and the net's
            initial weights (deterministic under a seed).
        lr: Adam learning rate (1e-4 in SelfDeblur).
        device: where to put the net.
    """

    name = "fcn"

    def __init__(
        self,
        size: int,
        generator: torch.Generator | None = None,
        lr: float = FCN_LR,
        device: torch.device | str = "cpu",
        n_in: int = 200,
    ) -> None:
        super().__init__()
        self.size, self.lr = size, lr
        if generator is not None:
            with seeded_global_rng(int(torch.randint(0, 2**31 - 1, (1,), generator=generator))):
                self.net = KernelFCN(size, n_in=n_in)
        else:
            self.net = KernelFCN(size, n_in=n_in)
        self.net.to(device)
        noise = torch.rand(1, n_in, generator=generator) * 0.1
        self.register_buffer("z", noise.to(device))

    def param_groups(self) -> list[dict]:
        """``[{"params": net parameters, "lr": lr}]``."""
        return [{"params": list(self.net.parameters()), "lr": self.lr}]

    def forward(self) -> torch.Tensor:
        """Kernel ``(1, 1, S, S)`` (softmax output of the FCN)."""
        return self.net(self.z)


def make_prior(
    kernel_prior: str,
    size: int,
    generator: KernelGenerator | None = None,
    latent: torch.Tensor | None = None,
    w: torch.Tensor | None = None,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> KernelPrior:
    """Build the kernel prior named ``"glkm"`` or ``"fcn"``.

    Args:
        kernel_prior: ``"glkm"`` (:class:`GLKMPrior`) or ``"fcn"`` (:class:`FCNPrior`).
        size: kernel side ``S`` in pixels (GLKM: must be the generator's).
        generator: the kernel generator (GLKM).
        latent: GLKM: initial latent ``(1, latent_dim, 1, 1)`` when ``w`` is not given.
        w: GLKM: initial feature map ``(N, 256, k1, k1)``.
        seed: FCN: seeds its weights and input noise (through ``seed + 7919``).
        device: where to put the prior.

    Returns:
        The prior, its kernel ``(N, 1, S, S)`` summing to 1.

    Raises:
        ValueError: unknown name; GLKM without a generator; GLKM with a ``size`` other than the
            generator's.
    """
    if kernel_prior == "fcn":
        return FCNPrior(size, generator=torch.Generator().manual_seed(seed + 7919), device=device)
    if kernel_prior == "glkm":
        if generator is None:
            raise ValueError("the GLKM kernel prior needs a kernel generator")
        if size != generator.config.size:
            raise ValueError(f"kernel size {size} differs from the generator's {generator.config.size}")
        return GLKMPrior(generator.to(device), w=w, z=latent)
    raise ValueError(f"unknown kernel prior {kernel_prior!r}; use 'glkm' or 'fcn'")
