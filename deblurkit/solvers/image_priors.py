"""Image priors of the joint DIP + kernel loop: DIP and the variational DIP (VDIP) family.

An image prior tells :func:`deblurkit.solvers.joint.joint_optimize` what generates the image (its
:meth:`ImagePrior.source`: a DIP network by default, a diffusion model's reverse chain for BIRD), how
many channels it outputs, which of them are the image, and the loss of a step; the kernel prior
(:mod:`deblurkit.solvers.kernel_priors`) and the forward operator stay independent of it, so every
prior runs with GLKM's latent kernel, SelfDeblur's FCN kernel and the non-uniform SVOLA operator.

- :class:`DIPPrior` — the deep image prior as SelfDeblur / GLKM Algorithm 2 use it: the network
  outputs the image; the loss is the MSE data term, then ``1 − SSIM``.
- :class:`VDIPPrior` — Huo, Masoumzadeh, Kushol & Yang, *Blind Image Deconvolution Using Variational
  Deep Image Prior*, TPAMI 2023 (arXiv:2202.00179; public code ``Dong-Huo/VDIP-Deconvolution``):
  the network outputs a per-pixel mean ``μ`` and standard deviation ``σ`` of a Gaussian posterior
  ``q(x) = N(μ, σ²)``; during the first (MSE) phase the loss is the negative ELBO

      − E_{x∼q}[log p(y | x, k)] + ρ · KL(q ‖ p(x)) + ρ · (ω/2) ‖k‖²

  with one reparameterised sample ``x = μ + σ ε`` per step, the expected log-likelihood written on
  the blurred sample and its first and second forward differences (weights 1/2, 1/4, 1/8, the
  code's ``get_sampling_expectation``), ``ρ = 0.1`` (the code's ``noise_sigma``) and ``ω = 10``;
  the SSIM phase fits the mean alone. The handcrafted prior ``p(x)`` selects the variant:

  - ``"std"`` — none (VDIP-Std: the ELBO's likelihood term only);
  - ``"sparse"`` — the sparse gradient prior, in the code's iteratively re-weighted form
    ``E_q[(∂x)²] / (4 (E_q[(∂x)²] + 10⁻⁶))`` with the weight held fixed, minus the entropy
    ``Σ log σ``;
  - ``"extreme"`` — the extreme channel prior (dark and bright channels over 35 × 35 × 3 windows,
    the code's ``get_negative_kl`` of ``VDIP_Extreme``), re-weighted the same way, minus the entropy.
- The diffusion priors ``"bird"`` and ``"blinddps"`` (:mod:`deblurkit.solvers.diffusion_priors`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from deblurkit.models.dip import SkipConfig, SkipNet
from deblurkit.physics.functional import centre_crop
from deblurkit.runtime import seeded_global_rng
from deblurkit.solvers.losses import data_fit_loss

#: ``operator(x, k) → y_hat`` as in :mod:`deblurkit.solvers.joint`.
Operator = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

#: The network priors (DIP family) accepted by :func:`make_image_prior`.
NETWORK_PRIOR_NAMES = ("dip", "vdip-std", "vdip-sparse", "vdip-extreme")
#: The diffusion priors (:mod:`deblurkit.solvers.diffusion_priors`; need a diffusion model).
DIFFUSION_PRIOR_NAMES = ("bird", "blinddps")
#: Every name accepted by :func:`make_image_prior` (and by ``deblurkit deblur --prior``).
IMAGE_PRIOR_NAMES = NETWORK_PRIOR_NAMES + DIFFUSION_PRIOR_NAMES


class ImageSource(nn.Module):
    """What generates the image estimate of the joint loop: ``forward(generator=None) → (1, C', H, W)``.

    ``generator`` given: a training step's output (a DIP adds its input noise from it); ``None``:
    the deterministic final output. :meth:`param_groups` are its Adam groups; :meth:`after_step`
    runs after every optimiser step (e.g. a projection).
    """

    def param_groups(self) -> list[dict]:  # pragma: no cover - interface
        """Adam parameter groups ``[{"params": [...], "lr": float}, ...]``."""
        raise NotImplementedError

    def after_step(self) -> None:
        """Called after every optimiser step (default: nothing)."""


class DIPSource(ImageSource):
    """The DIP image network of SelfDeblur / GLKM Algorithm 2 on fixed input noise.

    A :class:`deblurkit.models.dip.SkipNet` (initialised from the global RNG seeded with ``seed``
    under a lock, so concurrent estimates stay deterministic) maps ``z_x ~ U(0, 0.1)`` (8 channels,
    drawn from ``generator``) plus ``N(0, input_noise_std²)`` noise redrawn every training step to
    ``(1, out_channels, H, W)`` in ``(0, 1)``; Adam learning rate ``preset.lr_image``.

    Args:
        out_channels: network outputs; H, W: output size in pixels; preset: network widths, depth,
            ``lr_image`` and ``input_noise_std``; seed: initialisation seed; generator: draws ``z_x``;
            device: where to run.
    """

    def __init__(self, out_channels: int, H: int, W: int, preset, seed: int, generator: torch.Generator, device) -> None:
        super().__init__()
        cfg = SkipConfig(
            in_channels=8,
            out_channels=out_channels,
            down=(preset.width,) * preset.scales,
            up=(preset.width,) * preset.scales,
            skip=(preset.skip_channels,) * preset.scales,
        )
        with seeded_global_rng(seed):
            self.net = SkipNet(cfg).to(device)
        Hi, Wi = self.net.input_size(H, W)
        self.register_buffer("z", (torch.rand(1, 8, Hi, Wi, generator=generator) * 0.1).to(device))
        self.size, self.lr, self.noise_std = (H, W), preset.lr_image, preset.input_noise_std

    def param_groups(self) -> list[dict]:
        return [{"params": list(self.net.parameters()), "lr": self.lr}]

    def forward(self, generator: torch.Generator | None = None) -> torch.Tensor:
        z = self.z
        if generator is not None:
            z = z + torch.randn(z.shape, generator=generator).to(z.device) * self.noise_std
        return centre_crop(self.net(z), *self.size)


class ImagePrior:
    """Interface: ``source(...)``, ``channels(c)``, ``image(out)``, ``loss(out, k, operator, y, phase, generator)``.

    Shapes: the source's output ``out`` is ``(B, channels(c), H, W)`` float in ``[0, 1]``,
    ``H = h + S − 1``; ``k`` the kernel prior's ``(N, 1, S, S)``; ``y`` the ``(B, c, h, w)``
    observation in ``[0, 1]``; ``operator(x, k) → (B, c, h, w)``. Implementations keep no state
    between calls, so one instance serves concurrent estimates.

    Attributes:
        kernel_lr: ``None`` (the preset's kernel learning rates) or the absolute Adam learning rate
            of GLKM's ``w_k`` with this prior (GLKM Algorithm 3 sets one per diffusion prior).
        window: ``None`` or the largest side (pixels) of the observation the prior runs on; a larger
            uniform observation is centre-cropped first (the diffusion priors' cost).
    """

    name = "base"
    kernel_lr: float | None = None
    window: int | None = None

    def source(self, channels: int, H: int, W: int, preset, seed: int, generator: torch.Generator, device) -> ImageSource:
        """The image generator of one run (default :class:`DIPSource`)."""
        return DIPSource(channels, H, W, preset, seed, generator, device)

    def schedule(self, preset):
        """The joint loop's schedule (a :class:`~deblurkit.solvers.presets.Preset`) for this prior; default ``preset``."""
        return preset

    def channels(self, c: int) -> int:
        """Output channels of the image network for a ``c``-channel image."""
        raise NotImplementedError  # pragma: no cover - interface

    def image(self, out: torch.Tensor) -> torch.Tensor:
        """The image estimate ``(B, c, H, W)`` in ``[0, 1]`` from the network output."""
        raise NotImplementedError  # pragma: no cover - interface

    def loss(
        self, out: torch.Tensor, k: torch.Tensor, operator: Operator, y: torch.Tensor, phase: str, generator: torch.Generator
    ) -> torch.Tensor:
        """0-d loss of one step (``phase`` ``"mse"`` or ``"ssim"``)."""
        raise NotImplementedError  # pragma: no cover - interface


class DIPPrior(ImagePrior):
    """The deep image prior (Ulyanov et al. 2018) as in SelfDeblur and GLKM Algorithm 2.

    ``channels(c) = c``; the loss is :func:`deblurkit.solvers.losses.data_fit_loss` of
    ``operator(out, k)`` against ``y`` (MSE, then ``1 − SSIM``).
    """

    name = "dip"

    def channels(self, c: int) -> int:
        return c

    def image(self, out: torch.Tensor) -> torch.Tensor:
        return out

    def loss(self, out, k, operator, y, phase, generator):
        return data_fit_loss(operator(out, k), y, phase)


def _dv(t: torch.Tensor) -> torch.Tensor:
    """Vertical forward difference ``t[i+1] − t[i]`` ``(..., H−1, W)``."""
    return t[..., 1:, :] - t[..., :-1, :]


def _dh(t: torch.Tensor) -> torch.Tensor:
    """Horizontal forward difference ``t[j+1] − t[j]`` ``(..., H, W−1)``."""
    return t[..., :, 1:] - t[..., :, :-1]


def multiscale_fit(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """VDIP's expected negative log-likelihood of one sample, per pixel (Huo et al. 2023, code).

    ``[½‖r‖² + ¼(‖∂_v r‖² + ‖∂_h r‖²) + ⅛(‖∂_vv r‖² + ‖∂_vh r‖² + ‖∂_hh r‖² + ‖∂_hv r‖²)] / n``
    with ``r = pred − target`` and ``n`` the number of values of ``target``.

    Args:
        pred: ``(B, C, h, w)`` blurred sample ``k ⊛ x``; target: ``(B, C, h, w)`` observation.

    Returns:
        0-d tensor (``[0, 1]²`` intensity units).

    Raises:
        ValueError: mismatched shapes.
    """
    if pred.shape != target.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} and observation {tuple(target.shape)} differ in shape")
    r = pred - target
    rv, rh = _dv(r), _dh(r)
    total = 0.5 * r.pow(2).sum() + 0.25 * (rv.pow(2).sum() + rh.pow(2).sum())
    total = total + 0.125 * (_dv(rv).pow(2).sum() + _dh(rv).pow(2).sum() + _dh(rh).pow(2).sum() + _dv(rh).pow(2).sum())
    return total / target.numel()


def sparse_kl(mean: torch.Tensor, std: torch.Tensor, floor: float = 1e-45) -> torch.Tensor:
    """VDIP-Sparse's KL term (up to constants), per pixel (Huo et al. 2023; code ``get_negative_kl``).

    ``P_d = (∂_d μ)² + σ_i² + σ_j²`` is ``E_q[(∂_d x)²]`` for a forward difference between pixels
    ``i, j``; with the fixed weight ``ε_d = 1 / (P_d + 10⁻⁶)`` (held constant, as the code detaches it)

        KL = Σ_d Σ P_d ε_d / (4 n_g) − Σ log σ / n

    where ``n`` counts the values of ``mean`` and ``n_g = (H − 1)(W − 1) C``.

    Args:
        mean, std: ``(B, C, H, W)`` posterior mean and standard deviation.
        floor: lower clamp of ``σ`` inside the logarithm.

    Returns:
        0-d tensor.
    """
    pv = _dv(mean).pow(2) + std[..., 1:, :].pow(2) + std[..., :-1, :].pow(2)
    ph = _dh(mean).pow(2) + std[..., :, 1:].pow(2) + std[..., :, :-1].pow(2)
    b, c, h, w = mean.shape
    penalty = ((pv / (pv.detach() + 1e-6)).sum() + (ph / (ph.detach() + 1e-6)).sum()) / (4 * b * c * (h - 1) * (w - 1))
    entropy = torch.log(std.clamp(min=floor)).sum() / mean.numel()
    return penalty - entropy


def extreme_kl(
    mean: torch.Tensor, std: torch.Tensor, generator: torch.Generator, window: int = 35, floor: float = 1e-45
) -> torch.Tensor:
    """VDIP-Extreme's KL term (up to constants), per pixel (Huo et al. 2023; code of ``VDIP_Extreme``).

    The dark channel ``min_{window × window × 3} x²`` and the bright channel of ``1 − x`` are taken
    of a moment-matched sample (``E = μ² + σ²`` plus ``ε · √(4μ²σ² + 2σ⁴)`` for ``x²``, ``ε ~ N(0,1)``),
    each divided by its detached value (re-weighting, as the code), summed over the windows' positions
    and scaled by ``1 / (4 n_w)``, ``n_w = (H − window + 1)(W − window + 1)``; minus the entropy ``Σ log σ / n``.

    Args:
        mean, std: ``(B, C, H, W)`` posterior mean and standard deviation (``H, W ≥ window``).
        generator: draws ``ε``.
        window: side of the extreme-channel window in pixels (35 in the code).
        floor: lower clamp of ``σ`` inside the logarithm.

    Returns:
        0-d tensor.

    Raises:
        ValueError: an image smaller than ``window``.
    """
    b, c, h, w = mean.shape
    if min(h, w) < window:
        raise ValueError(f"the extreme channel prior needs an image of at least {window}×{window}, got {h}×{w}")
    m, s = mean.unsqueeze(1), std.unsqueeze(1)  # (B, 1, C, H, W): pool over channels and space
    depth = min(3, c)

    def channel(e2: torch.Tensor, spread: torch.Tensor) -> torch.Tensor:
        eps = torch.randn(e2.shape, generator=generator).to(e2.device)
        v = -F.max_pool3d(-(e2 + eps * spread), (depth, window, window), stride=1)
        return v / (v.detach() + 1e-45)

    dark = channel(m.pow(2) + s.pow(2), torch.sqrt(4 * m.pow(2) * s.pow(2) + 2 * s.pow(4) + 1e-32))
    one_m = 1 - m
    bright = channel(one_m.pow(2) + s.pow(2), torch.sqrt(4 * s.pow(2) + 4 * m.pow(2) * s.pow(2) + 2 * s.pow(4) + 1e-32))
    n_w = b * (h - window + 1) * (w - window + 1)
    penalty = (dark.sum() + bright.sum()) / (4 * n_w)
    entropy = torch.log(std.clamp(min=floor)).sum() / mean.numel()
    return penalty - entropy


class VDIPPrior(ImagePrior):
    """Variational DIP (Huo et al., TPAMI 2023): a Gaussian posterior per pixel, loss = −ELBO (module docstring).

    Args:
        kind: ``"std"``, ``"sparse"`` or ``"extreme"``.
        kl_weight: ``ρ``, the weight of the KL and kernel terms (0.1, the code's ``noise_sigma``).
        kernel_weight: ``ω`` of ``ρ (ω/2) ‖k‖²`` (10 in the code; not used by ``"std"``).

    Raises:
        ValueError: unknown ``kind`` or negative weights.
    """

    def __init__(self, kind: str = "sparse", kl_weight: float = 0.1, kernel_weight: float = 10.0) -> None:
        if kind not in ("std", "sparse", "extreme"):
            raise ValueError(f"unknown VDIP prior {kind!r}; use 'std', 'sparse' or 'extreme'")
        if kl_weight < 0 or kernel_weight < 0:
            raise ValueError("VDIP weights must be ≥ 0")
        self.kind, self.kl_weight, self.kernel_weight = kind, kl_weight, kernel_weight
        self.name = f"vdip-{kind}"

    def channels(self, c: int) -> int:
        """``2c``: the mean, then the standard deviation (both through the network's sigmoid, ``[0, 1]``)."""
        return 2 * c

    def image(self, out: torch.Tensor) -> torch.Tensor:
        """The posterior mean ``μ`` ``(B, c, H, W)``."""
        return out[:, : out.shape[1] // 2]

    def std(self, out: torch.Tensor) -> torch.Tensor:
        """The posterior standard deviation ``σ`` ``(B, c, H, W)``."""
        return out[:, out.shape[1] // 2 :]

    def kl(self, out: torch.Tensor, k: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """``KL(q ‖ p(x)) + (ω/2) ‖k‖²`` of the variant (0 for ``"std"``); ``k`` ``(N, 1, S, S)``."""
        if self.kind == "std":
            return out.new_zeros(())
        mean, std = self.image(out), self.std(out)
        kl = sparse_kl(mean, std) if self.kind == "sparse" else extreme_kl(mean, std, generator)
        return kl + self.kernel_weight * k.pow(2).sum() / 2

    def loss(self, out, k, operator, y, phase, generator):
        """``phase="mse"``: −ELBO = :func:`multiscale_fit` of one sample ``μ + σε`` + ``ρ`` :meth:`kl`;
        ``phase="ssim"``: ``1 − SSIM`` of the blurred mean."""
        mean = self.image(out)
        if phase != "mse":
            return data_fit_loss(operator(mean, k), y, phase)
        std = self.std(out)
        eps = torch.randn(mean.shape, generator=generator).to(mean.device)
        fit = multiscale_fit(operator(mean + std * eps, k), y)
        return fit + self.kl_weight * self.kl(out, k, generator)


def make_image_prior(name, diffusion=None, steps: int | None = None) -> ImagePrior:
    """The image prior called ``name`` (one of :data:`IMAGE_PRIOR_NAMES`), or ``name`` itself if it is one.

    Args:
        name: a prior name, or an :class:`ImagePrior` (returned unchanged).
        diffusion: the :class:`~deblurkit.models.diffusion.DiffusionModel` of ``"bird"`` / ``"blinddps"``.
        steps: ``"bird"``: its iterations ``N``; ``"blinddps"``: its reverse-diffusion steps
            (``None``: the priors' defaults, 100 each); ignored by the network priors.

    Raises:
        ValueError: an unknown name, or a diffusion prior without a diffusion model.
    """
    if isinstance(name, ImagePrior):
        return name
    if name in DIFFUSION_PRIOR_NAMES:
        from deblurkit.solvers.diffusion_priors import BIRDPrior, BlindDPSPrior

        if diffusion is None:
            raise ValueError(f"the {name} prior needs a diffusion model (--diffusion-model)")
        if name == "bird":
            return BIRDPrior(diffusion) if steps is None else BIRDPrior(diffusion, iterations=steps)
        return BlindDPSPrior(diffusion) if steps is None else BlindDPSPrior(diffusion, steps=steps)
    if name == "dip":
        return DIPPrior()
    if name in ("vdip-std", "vdip-sparse", "vdip-extreme"):
        return VDIPPrior(name.split("-", 1)[1])
    raise ValueError(f"unknown image prior {name!r}; use one of {', '.join(IMAGE_PRIOR_NAMES)}")
