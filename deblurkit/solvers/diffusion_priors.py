"""Diffusion image priors of the joint loop: BIRD and BlindDPS, with any kernel prior (GLKM §V, Algorithm 3).

Both use an unconditional ε-prediction diffusion model (:class:`deblurkit.models.diffusion.DiffusionModel`,
images in ``[−1, 1]``, ``ᾱ_t`` its noise schedule) and the deterministic / stochastic DDIM update
(Song, Meng & Ermon, *Denoising Diffusion Implicit Models*, ICLR 2021, Eq. (12))

    x̂₀ = (x_t − √(1 − ᾱ_t) ε_θ(x_t, t)) / √ᾱ_t,
    x_{t'} = √ᾱ_{t'} x̂₀ + √(1 − ᾱ_{t'} − σ²) ε_θ(x_t, t) + σ ξ,   σ = η √((1 − ᾱ_{t'})/(1 − ᾱ_t)) √(1 − ᾱ_t/ᾱ_{t'}),

on the time grid ``T−1, T−1−δt, …`` (:func:`ddim_timesteps`). The image of the data term is
``(x̂₀ + 1) / 2`` (its BT.601 luminance for an RGB model), generated at the padded size
``(h + S − 1, w + S − 1)`` of the valid blur (rounded up to the UNet's down-sampling factor and
centre-cropped).

- :class:`BIRDPrior` — Chihaoui, Lemkhenter & Favaro, *Blind Image Restoration via Fast Diffusion
  Inversion*, NeurIPS 2024: the image is the output of the deterministic (η = 0) DDIM reverse chain
  with a large step δt started from ``x_T``; ``x_T`` and the degradation's parameters are optimised
  jointly by Adam on the data term. GLKM Algorithm 3 uses δt = 100, N = 100 iterations, learning
  rates 3e-3 for ``x_T`` and 2e-4 for ``w_k``. After each step ``x_T`` is rescaled to norm ``√n``
  (``n`` its number of values), where a standard Gaussian concentrates ("x_T is normalized after
  each update step following the official implementation of BIRD", GLKM §V-A).
- :class:`BlindDPSPrior` — Chung, Kim, Kim & Ye, *Parallel Diffusion Models of Operator and Image for
  Blind Inverse Problems*, CVPR 2023 (BlindDPS), with the kernel diffusion model replaced by the
  kernel prior of the joint loop (GLKM's latent ``w_k``, or SelfDeblur's FCN as the baseline), as
  GLKM does: reverse diffusion from ``x_T ~ N(0, I)``; at every step the diffusion-posterior-sampling
  correction of Chung et al., *Diffusion Posterior Sampling for General Noisy Inverse Problems*,
  ICLR 2023 (Algorithm 1), ``x_{t'} ← x_{t'} − ζ ∇_{x_t} ‖y − k ⊛ x̂₀(x_t)‖₂`` with ``ζ = 0.3``, and
  one Adam step of the kernel prior on the same residual (lr 5e-3 for ``w_k``, GLKM).

The UNet is run on the whole (cropped) observation window, so the cost grows with its area; each
prior caps the window side at :attr:`ImagePrior.window` pixels.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace

import torch
import torch.nn.functional as F

from deblurkit.models.diffusion import DiffusionModel
from deblurkit.physics.functional import centre_crop
from deblurkit.solvers.image_priors import DIPPrior, ImageSource

#: BT.601 luma weights (RGB model → the luminance of the data term).
LUMA = (0.299, 0.587, 0.114)


def ddim_timesteps(T: int, step: int) -> list[int]:
    """The reverse time grid ``[T−1, T−1−step, …]`` (all ``≥ 0``), descending.

    Args:
        T: training diffusion steps; step: δt (≥ 1).

    Raises:
        ValueError: ``step < 1`` or ``T < 1``.
    """
    if step < 1 or T < 1:
        raise ValueError(f"need T ≥ 1 and step ≥ 1, got {T}, {step}")
    return list(range(T - 1, -1, -step))


def spaced_timesteps(T: int, count: int) -> list[int]:
    """``count`` evenly spaced time steps from ``T − 1`` down (``(T − 1)(1 − i / count)``, rounded), descending.

    Raises:
        ValueError: ``count < 1`` or ``count > T``.
    """
    if not 1 <= count <= T:
        raise ValueError(f"need 1 ≤ count ≤ T, got {count} and {T}")
    return [int(round((T - 1) * (1 - i / count))) for i in range(count)]


def ddim_step(model: DiffusionModel, x: torch.Tensor, t: int, t_prev: int, eta: float = 0.0, noise: torch.Tensor | None = None):
    """One DDIM update from ``t`` to ``t_prev`` (module docstring; ``t_prev = −1`` means ``ᾱ = 1``).

    Args:
        model: the diffusion model; x: ``(1, C, H, W)`` ``x_t``; t, t_prev: time steps; eta: η;
        noise: ``ξ`` of the stochastic part (``None``: zeros).

    Returns:
        ``(x_prev, x0)``: ``x_{t'}`` and the prediction ``x̂₀`` (clamped to ``[−1, 1]``), both
        differentiable in ``x``.
    """
    ac = model.alphas_cumprod
    a = float(ac[t])
    ap = float(ac[t_prev]) if t_prev >= 0 else 1.0
    eps = model.eps(x, t)
    x0 = ((x - math.sqrt(1 - a) * eps) / math.sqrt(a)).clamp(-1, 1)
    sigma = eta * math.sqrt(max((1 - ap) / (1 - a), 0.0)) * math.sqrt(max(1 - a / ap, 0.0))
    x_prev = math.sqrt(ap) * x0 + math.sqrt(max(1 - ap - sigma**2, 0.0)) * eps
    if sigma > 0 and noise is not None:
        x_prev = x_prev + sigma * noise
    return x_prev, x0


def to_image(x0: torch.Tensor, channels: int, H: int, W: int) -> torch.Tensor:
    """``(1, C_model, H', W')`` prediction in ``[−1, 1]`` → ``(1, channels, H, W)`` in ``[0, 1]``.

    An RGB model's output becomes its luminance when ``channels == 1``; a gray model's output is
    repeated for ``channels == 3``; the centre ``H × W`` is kept.
    """
    img = (x0 + 1) / 2
    if img.shape[1] == 3 and channels == 1:
        w = torch.tensor(LUMA, dtype=img.dtype, device=img.device).view(1, 3, 1, 1)
        img = (img * w).sum(1, keepdim=True)
    elif img.shape[1] == 1 and channels == 3:
        img = img.expand(-1, 3, -1, -1)
    return centre_crop(img, H, W)


def padded_size(model: DiffusionModel, H: int, W: int) -> tuple[int, int]:
    """``(H', W')``: ``H, W`` rounded up to multiples of the UNet's down-sampling factor."""
    f = model.factor
    return -(-H // f) * f, -(-W // f) * f


class DDIMChainSource(ImageSource):
    """BIRD's image generator: the deterministic DDIM chain from an optimised ``x_T``.

    Args:
        model: the diffusion model; channels: image channels of the data term; H, W: image size in
            pixels; step: δt; lr: Adam learning rate of ``x_T``; generator: draws ``x_T ~ N(0, I)``.
    """

    def __init__(self, model: DiffusionModel, channels: int, H: int, W: int, step: int, lr: float, generator: torch.Generator) -> None:
        super().__init__()
        self.model, self.channels, self.size, self.lr = model, channels, (H, W), lr
        self.times = ddim_timesteps(model.timesteps, step)
        Hp, Wp = padded_size(model, H, W)
        device = next(model.unet.parameters()).device
        self.x_T = torch.nn.Parameter(torch.randn(1, model.channels, Hp, Wp, generator=generator).to(device))

    def param_groups(self) -> list[dict]:
        return [{"params": [self.x_T], "lr": self.lr}]

    def after_step(self) -> None:
        """Rescale ``x_T`` to norm ``√n`` (module docstring)."""
        with torch.no_grad():
            self.x_T.mul_(math.sqrt(self.x_T.numel()) / self.x_T.norm().clamp(min=1e-12))

    def forward(self, generator: torch.Generator | None = None) -> torch.Tensor:
        x = x0 = self.x_T
        for i, t in enumerate(self.times):
            t_prev = self.times[i + 1] if i + 1 < len(self.times) else -1
            x, x0 = ddim_step(self.model, x, t, t_prev)
        return to_image(x0, self.channels, *self.size)


class BIRDPrior(DIPPrior):
    """BIRD (Chihaoui et al. 2024) as the image prior of the joint loop (module docstring).

    The loss is the DIP's MSE data term on the chain's image; the schedule is ``iterations`` Adam
    steps with the MSE only, no kernel warm-up and no learning-rate decay.

    Args:
        model: the diffusion model.
        step: δt of the DDIM chain (100: 10 UNet evaluations for ``T = 1000``).
        iterations: Adam steps ``N`` (100).
        lr: Adam learning rate of ``x_T`` (3e-3).
        kernel_lr: Adam learning rate of GLKM's ``w_k`` (2e-4).
        window: largest observation side in pixels (the cost is ``iterations × T/δt`` UNet forward
            and backward passes over the window).
    """

    def __init__(self, model: DiffusionModel, step: int = 100, iterations: int = 100, lr: float = 3e-3,
                 kernel_lr: float = 2e-4, window: int = 128) -> None:
        self.model, self.step, self.iterations, self.lr = model, step, iterations, lr
        self.kernel_lr, self.window = kernel_lr, window
        self.name = "bird"

    def source(self, channels, H, W, preset, seed, generator, device) -> ImageSource:
        return DDIMChainSource(self.model, channels, H, W, self.step, self.lr, generator)

    def schedule(self, preset):
        return replace(preset, steps=self.iterations, mse_fraction=1.0, kernel_warmup=0.0, milestones=())


class BlindDPSPrior(DIPPrior):
    """BlindDPS (Chung et al., CVPR 2023) with the joint loop's kernel prior (module docstring).

    Args:
        model: the diffusion model.
        steps: reverse-diffusion steps (:func:`spaced_timesteps`).
        zeta: DPS step size ζ of the image correction (0.3).
        eta: η of the DDIM update (1: as stochastic as DDPM's ancestral sampling).
        kernel_lr: Adam learning rate of GLKM's ``w_k`` (5e-3); other kernel priors keep the
            preset's rate.
        window: largest observation side in pixels.
    """

    def __init__(self, model: DiffusionModel, steps: int = 100, zeta: float = 0.3, eta: float = 1.0,
                 kernel_lr: float = 5e-3, window: int = 128) -> None:
        if steps < 1 or zeta < 0 or not 0 <= eta <= 1:
            raise ValueError("need steps ≥ 1, zeta ≥ 0 and 0 ≤ eta ≤ 1")
        self.model, self.steps, self.zeta, self.eta = model, steps, zeta, eta
        self.kernel_lr, self.window = kernel_lr, window
        self.name = "blinddps"

    def sample(self, y: torch.Tensor, prior, operator, seed: int = 0, progress=None):
        """Posterior sampling of the image and the kernel (module docstring).

        Args:
            y: ``(1, C, h, w)`` observation in ``[0, 1]``; prior: the kernel prior (size ``S``);
            operator: ``operator(x, k) → (1, C, h, w)`` for ``x`` ``(1, C, h + S − 1, w + S − 1)``;
            seed: seeds ``x_T`` and the noise; progress: ``progress(step, total, mse)``.

        Returns:
            :class:`deblurkit.solvers.joint.SolveResult` (``x`` the last ``x̂₀`` as an image in ``[0, 1]``).
        """
        from deblurkit.solvers.joint import SolveResult

        t0 = time.perf_counter()
        model = self.model
        S = prior.size
        h, w = y.shape[-2:]
        H, W = h + S - 1, w + S - 1
        Hp, Wp = padded_size(model, H, W)
        gen = torch.Generator().manual_seed(seed)
        dev = next(model.unet.parameters()).device
        x = torch.randn(1, model.channels, Hp, Wp, generator=gen).to(dev)
        groups = [{**g, "lr": self.kernel_lr if prior.name == "glkm" else g["lr"]} for g in prior.param_groups()]
        opt = torch.optim.Adam(groups)
        times = spaced_timesteps(model.timesteps, min(self.steps, model.timesteps))
        losses: list[float] = []
        diverged = None
        prior.train()
        for i, t in enumerate(times):
            t_prev = times[i + 1] if i + 1 < len(times) else -1
            x = x.detach().requires_grad_(True)
            noise = torch.randn(x.shape, generator=gen).to(dev)
            x_prev, x0 = ddim_step(model, x, t, t_prev, self.eta, noise)
            img = to_image(x0, y.shape[1], H, W)
            k = prior()
            residual = torch.linalg.vector_norm(y - operator(img, k))
            opt.zero_grad(set_to_none=True)
            residual.backward()
            value = float(residual.detach()) ** 2 / y.numel()
            losses.append(value)
            if not math.isfinite(value) or x.grad is None or not torch.isfinite(x.grad).all():
                diverged = "non-finite loss"
                break
            opt.step()
            x = x_prev.detach() - self.zeta * x.grad
            if progress is not None:
                progress(i + 1, len(times), value)
        with torch.no_grad():
            img = img.detach().clamp(0, 1)
            k = prior().detach()
            mse = float(F.mse_loss(operator(img, k), y))
        return SolveResult(
            x=img.float(),
            kernel=(k[:, 0] if k.shape[0] > 1 else k[0, 0]).float(),
            losses=losses,
            mse=mse,
            diverged=diverged,
            seconds=time.perf_counter() - t0,
        )
