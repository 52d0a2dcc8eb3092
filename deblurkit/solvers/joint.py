"""The joint DIP + kernel optimisation (GLKM Algorithm 2; SelfDeblur), its divergence checks and restarts.

One loop (:func:`joint_optimize`) serves every kernel prior (:mod:`deblurkit.solvers.kernel_priors`)
and both blur models: the image is a DIP skip network ``G_x(z_x; θ_x)``
(:class:`deblurkit.models.dip.SkipNet`) generated at ``(h + S − 1, w + S − 1)`` and blurred by a
*valid* true convolution so that it matches the observation ``(h, w)`` (notes §1); ``θ_x`` and the
kernel prior's parameters are updated together by Adam (GLKM Algorithm 2 lines 3–4; SelfDeblur,
Ren et al., CVPR 2020) on the MSE for the first part of the run, then on ``1 − SSIM``. The forward
operator is an argument (``operator(x, k) → y``): the uniform pipeline passes the valid uniform
blur, the non-uniform solver the SVOLA operator (:mod:`deblurkit.solvers.nonuniform`).

SelfDeblur's optimisation sometimes collapses to a black or flat image; :func:`check_collapse`
detects that and :func:`solve_with_restarts` restarts with a new seed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from deblurkit.physics.blur import UniformBlur
from deblurkit.physics.functional import centre_crop
from deblurkit.solvers.image_priors import DIPPrior, ImagePrior
from deblurkit.solvers.kernel_priors import KernelPrior
from deblurkit.solvers.presets import Preset

#: ``operator(x, k) → y_hat``: the blur model of the data term.
Operator = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
#: ``progress(step, total, loss)``: called after every optimisation step.
Progress = Callable[[int, int, float], None]

#: An estimate whose std is below this fraction of the observation's is "flat" (blur lowers
#: contrast, so a sharp image is not flatter than its blurry version).
FLAT_RATIO = 0.2
#: An estimate whose mean differs from the observation's by more than this is "dark/bright" (a
#: normalised blur keeps the mean; ``[0, 1]`` intensity units).
MEAN_SHIFT = 0.2


@dataclass
class SolveResult:
    """Result of :func:`joint_optimize`.

    Attributes:
        x: ``(1, C, h + S − 1, w + S − 1)`` float32 DIP image in ``[0, 1]`` (detached).
        kernel: ``(S, S)`` float32 kernel (true convolution, sums to 1), or ``(P, S, S)`` for a
            prior with one kernel per patch (the non-uniform solver).
        losses: the loss of every step (float; MSE or 1 − SSIM depending on the phase).
        mse: final MSE data fit ``‖k ⊛ x − y‖² / n``.
        diverged: ``None`` or ``"non-finite loss"``.
        seconds: wall time of the loop.
    """

    x: torch.Tensor
    kernel: torch.Tensor
    losses: list[float]
    mse: float
    diverged: str | None
    seconds: float


def check_collapse(x: torch.Tensor, y: torch.Tensor) -> str | None:
    """Detect a collapsed estimate (SelfDeblur's black or flat outputs).

    Args:
        x: ``(B, C, h, w)`` estimate of the sharp image (the region that matches ``y``).
        y: ``(B, C, h, w)`` observation in ``[0, 1]``.

    Returns:
        ``None`` if plausible, else the reason: ``"non-finite"`` (NaN/inf), ``"flat"`` (std below
        :data:`FLAT_RATIO` × the observation's) or ``"dark/bright"`` (mean off by more than
        :data:`MEAN_SHIFT`).
    """
    if not torch.isfinite(x).all():
        return "non-finite"
    sy = float(y.std())
    if sy > 1e-4 and float(x.std()) < FLAT_RATIO * sy:
        return "flat"
    if abs(float(x.mean()) - float(y.mean())) > MEAN_SHIFT:
        return "dark/bright"
    return None


def joint_optimize(
    y: torch.Tensor,
    prior: KernelPrior,
    preset: Preset,
    operator: Operator | None = None,
    seed: int = 0,
    progress: Progress | None = None,
    image_prior: ImagePrior | None = None,
) -> SolveResult:
    """Joint optimisation of a DIP image network and a kernel prior (GLKM Algorithm 2; SelfDeblur).

    ``min_{θ_x, φ}  L(operator(G_x(z_x + ε_t; θ_x), k_φ), y)`` with ``L`` = MSE for the first
    ``preset.mse_fraction · steps`` steps, then ``1 − SSIM``; ``ε_t ~ N(0, input_noise_std²)``
    redrawn every step; ``z_x ~ U(0, 0.1)`` with 8 channels; Adam with the groups
    ``[θ_x: lr_image] + prior.param_groups()`` (kernel lr × ``kernel_lr_scale``), all multiplied by
    ``gamma`` at the ``milestones``. For GLKM ``φ = w_k`` (generator frozen); for FCN the kernel
    net's weights. During the first ``preset.kernel_warmup · steps`` steps ``φ`` is held fixed
    (no gradient reaches it) and only the image network learns. At the end the image is generated
    with BatchNorm in eval mode (SelfDeblur's final pass) or in train mode, whichever fits ``y``
    better.

    Args:
        y: ``(1, C, h, w)`` observation in ``[0, 1]`` (the solvers pass luminance, ``C = 1``).
        prior: the kernel parameterisation (its ``size`` ``S`` fixes the image's padding).
        preset: schedule and network settings.
        operator: ``operator(x, k) → y_hat`` with ``x`` ``(1, C, h + S − 1, w + S − 1)`` and ``k``
            ``(N, 1, S, S)``; default the uniform valid true convolution
            (:class:`deblurkit.physics.UniformBlur` ``mode="valid"``).
        seed: seeds the network initialisation and the noise (deterministic on the CPU).
        progress: called as ``progress(step, total, loss)`` after every step (1-based).
        image_prior: what generates the image, what it outputs and the loss of a step
            (:mod:`deblurkit.solvers.image_priors`); default :class:`~deblurkit.solvers.image_priors.DIPPrior`
            (the loss above). A variational prior (VDIP) replaces the MSE phase's loss by its
            negative ELBO (``x`` is then its posterior mean); BIRD replaces the DIP network by a
            diffusion model's reverse chain from an optimised ``x_T`` and the schedule by its own
            (:meth:`~deblurkit.solvers.image_priors.ImagePrior.schedule`); a prior with a
            ``sample`` method (BlindDPS) replaces the whole loop by its posterior sampling.

    Returns:
        :class:`SolveResult`. A non-finite loss stops the loop early with ``diverged`` set.

    Raises:
        ValueError: if ``y`` is not ``(1, C, h, w)`` or is smaller than the 11×11 SSIM window.
    """
    if y.ndim != 4 or y.shape[0] != 1:
        raise ValueError(f"y must be (1, C, h, w), got {tuple(y.shape)}")
    if min(y.shape[-2:]) < 11:
        raise ValueError(f"observation {tuple(y.shape[-2:])} is too small (needs ≥ 11×11)")
    device = y.device
    op = operator or UniformBlur(mode="valid").A
    ip = image_prior or DIPPrior()
    if hasattr(ip, "sample"):  # a posterior sampler (BlindDPS) runs its own reverse diffusion
        return ip.sample(y, prior, op, seed=seed, progress=progress)
    preset = ip.schedule(preset)
    S = prior.size
    h, w = y.shape[-2:]
    H, W = h + S - 1, w + S - 1
    t0 = time.perf_counter()
    gen = torch.Generator().manual_seed(seed)
    source = ip.source(ip.channels(y.shape[1]), H, W, preset, seed, gen, device)
    groups = source.param_groups()
    for g in prior.param_groups():
        lr = ip.kernel_lr if ip.kernel_lr is not None and prior.name == "glkm" else g["lr"] * preset.kernel_lr_scale
        groups.append({**g, "lr": lr})
    opt = torch.optim.Adam(groups)
    milestones = sorted({max(1, round(f * preset.steps)) for f in preset.milestones})
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=milestones, gamma=preset.gamma)
    mse_steps = round(preset.mse_fraction * preset.steps)
    warm_steps = round(preset.kernel_warmup * preset.steps)
    losses: list[float] = []
    diverged = None
    source.train()
    prior.train()
    for step in range(1, preset.steps + 1):
        out = source(gen)
        with torch.set_grad_enabled(step > warm_steps):  # kernel held during the warm-up
            k = prior()
        loss = ip.loss(out, k, op, y, "mse" if step <= mse_steps else "ssim", gen)
        value = float(loss.detach())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        losses.append(value)
        if not math.isfinite(value):
            diverged = "non-finite loss"
            break
        opt.step()
        source.after_step()
        sched.step()
        if progress is not None:
            progress(step, preset.steps, value)
    with torch.no_grad():
        source.eval()  # BatchNorm: running statistics, as SelfDeblur's final forward pass
        x = ip.image(source())
        source.train()
        x_train = ip.image(source())
        k = prior().detach()
        # Prefer whichever BN mode fits the data better (no ground truth involved).
        mse_eval = float(F.mse_loss(op(x, k), y))
        mse_train = float(F.mse_loss(op(x_train, k), y))
        if not math.isfinite(mse_eval) or (math.isfinite(mse_train) and mse_train < mse_eval):
            x, mse = x_train, mse_train
        else:
            mse = mse_eval
    return SolveResult(
        x=x.detach().float(),
        kernel=(k[:, 0] if k.shape[0] > 1 else k[0, 0]).detach().float(),
        losses=losses,
        mse=mse,
        diverged=diverged,
        seconds=time.perf_counter() - t0,
    )


def solve_with_restarts(
    y: torch.Tensor,
    build_prior: Callable[[int], KernelPrior],
    preset: Preset,
    operator: Operator | None = None,
    seed: int = 0,
    progress: Progress | None = None,
    image_prior: ImagePrior | None = None,
) -> tuple[SolveResult | None, KernelPrior | None, list[str], int]:
    """:func:`joint_optimize` with divergence checks and up to ``preset.max_restarts`` restarts.

    Run ``r`` (0-based) builds its prior with ``build_prior(seed + r)`` and runs with seed
    ``seed + r``; it is rejected if the loss went non-finite, the kernel is non-finite, or the
    image collapsed (:func:`check_collapse` of the image region that matches ``y``). Shared by
    the uniform and the non-uniform (SVOLA) solvers.

    Args:
        y: ``(1, C, h, w)`` observation in ``[0, 1]``.
        build_prior: makes a fresh kernel prior for a seed.
        preset: optimisation settings (``max_restarts``).
        operator: forward operator for :func:`joint_optimize` (default uniform valid blur).
        seed: base seed.
        progress: as for :func:`joint_optimize`.
        image_prior: as for :func:`joint_optimize` (default DIP).

    Returns:
        ``(result, prior, notes, restarts)``: the accepted run's :class:`SolveResult` and its
        prior (holding the optimised parameters), or ``(None, None, ...)`` if every run
        diverged; human-readable notes; the number of restarts.
    """
    notes: list[str] = []
    restarts = 0
    win = getattr(image_prior, "window", None)
    if win is not None and operator is None and max(y.shape[-2:]) > win:
        y = centre_crop(y, min(win, y.shape[-2]), min(win, y.shape[-1]))
        notes.append(f"the {image_prior.name} prior runs on the central {y.shape[-2]}×{y.shape[-1]} of the window")
    h, w = y.shape[-2:]
    for attempt in range(preset.max_restarts + 1):
        prior = build_prior(seed + attempt)
        res = joint_optimize(y, prior, preset, operator=operator, seed=seed + attempt, progress=progress, image_prior=image_prior)
        reason = res.diverged or check_collapse(centre_crop(res.x, h, w), y)
        if reason is None and not torch.isfinite(res.kernel).all():
            reason = "non-finite kernel"
        if reason is None:
            return res, prior, notes, restarts
        notes.append(f"attempt {attempt + 1} (seed {seed + attempt}) diverged: {reason}")
        if attempt < preset.max_restarts:
            restarts += 1
            notes.append(f"restarted with seed {seed + attempt + 1}")
    return None, None, notes, restarts
