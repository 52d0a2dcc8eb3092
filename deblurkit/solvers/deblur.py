"""Blind uniform motion deblurring: GLKM Algorithm 2 (DIP + latent kernel model) and SelfDeblur.

One optimisation loop (:func:`joint_optimize`) serves both kernel priors
(:mod:`deblurkit.solvers.kernel_priors`): the image is a DIP skip network ``G_x(z_x; θ_x)``
(:class:`deblurkit.models.dip.SkipNet`) generated at ``(h + S − 1, w + S − 1)`` and blurred with a
*valid* true convolution so that it matches the observation ``(h, w)`` (notes §1); ``θ_x`` and the
kernel prior's parameters are updated together by Adam (GLKM Algorithm 2 lines 3–4; SelfDeblur) on
the MSE for the first part of the run, then on ``1 − SSIM``. The forward operator is an argument
(``operator(x, k) → y``), so a non-uniform (SVOLA) operator only swaps that function.

:func:`deblur_image` is the engine entry point (no CLI code): luminance → kernel estimation
(whole image or most informative crop, :mod:`deblurkit.solvers.presets`) → full-resolution colour
restoration (non-blind deconvolution of every channel, :mod:`deblurkit.solvers.nonblind`, or
the DIP image itself in the ``paper`` preset) → divergence checks with restart / fall-back → the
residual check (re-estimate, else return the input).

``kernel_size="auto"`` (:func:`auto_kernel_size`): with the GLKM prior the size is the generator's;
with the FCN prior it is the smallest shipped generator size (31, 45, 55, 65, 75) that is at least
4 % of the image's longer side (31 up to 775 px, 45 up to 1125 px, ... 75 beyond 1625 px),
and never more than a third of the shorter side. The estimated kernel is then trimmed (small taps
zeroed) so an oversized support costs little.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from deblurkit.color import rgb_to_ycbcr, ycbcr_to_rgb
from deblurkit.metrics.kernels import mnc
from deblurkit.models.dip import SkipConfig, SkipNet
from deblurkit.models.kernel_gan import SIZES, KernelGenerator
from deblurkit.physics.blur import UniformBlur
from deblurkit.runtime import seeded_global_rng
from deblurkit.solvers.denoise import estimation_image
from deblurkit.solvers.initial_kernel import luminance_tensor
from deblurkit.solvers.kernel_priors import FCNPrior, GLKMPrior, KernelPrior
from deblurkit.solvers.losses import data_fit_loss
from deblurkit.solvers.nonblind import HyperLaplacianConfig, deconvolve
from deblurkit.solvers.presets import Preset, get_preset

Operator = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Progress = Callable[[int, int, float], None]

#: Divergence thresholds (see :func:`check_collapse`).
FLAT_RATIO = 0.2
MEAN_SHIFT = 0.2


# --------------------------------------------------------------------------------------------
# results


@dataclass
class SolveResult:
    """Result of :func:`joint_optimize`.

    Attributes:
        x: ``(1, C, h + S − 1, w + S − 1)`` float32 DIP image in ``[0, 1]`` (detached).
        kernel: ``(S, S)`` float32 kernel (true convolution, sums to 1), or ``(P, S, S)`` for a
            prior with one kernel per patch (the non-uniform solver).
        losses: the loss of every step (float; MSE or 1 − SSIM depending on the phase).
        mse: final MSE data fit ``‖k ⊛ x − y‖² / n``.
        diverged: ``None`` or a reason (``"non-finite loss"``, ``"flat"``, ``"dark/bright"``).
        seconds: wall time of the loop.
    """

    x: torch.Tensor
    kernel: torch.Tensor
    losses: list[float]
    mse: float
    diverged: str | None
    seconds: float


@dataclass
class DeblurResult:
    """Result of :func:`deblur_image` (JSON-friendly through :meth:`summary`).

    Attributes:
        image: ``(H, W, C)`` float32 restored image in ``[0, 1]`` (same ``C`` as the input).
        kernel: ``(S', S')`` float32 kernel used for the final image, true-convolution orientation
            (``y = k ⊛ x``), non-negative, summing to 1 (cleaned and recentred in the ``fast``
            preset; ``S' ≤ S``, odd).
        kernel_raw: ``(S, S)`` float32 kernel as estimated by the optimisation.
        kernel_size: ``S`` used for estimation.
        kernel_prior: ``"glkm"`` or ``"fcn"``.
        preset: preset name.
        crop: ``(top, left, height, width)`` of the luminance region the kernel was estimated on.
        loss: summary of the loss history (first, last, min, and ~20 samples).
        data_fit_mse: MSE of the final luminance re-blurred by the kernel against the input
            luminance (valid region) — a no-reference diagnostic.
        timings: seconds per stage (``estimate`` and ``restore`` summed over the kernel
            estimates, which may overlap in time; ``total`` wall time), and how the estimates
            ran: ``workers`` at once, ``threads_per_estimate`` CPU threads each.
        restarts: restarts after a detected divergence.
        fallback: ``None`` or what was used instead of a diverged result.
        notes: human-readable remarks (divergences, restarts, fall-backs).
        kernel_code: GLKM only: the optimised first-layer feature map ``w_k`` ``(1, 256, k1, k1)``
            float32 with ``kernel_raw = G_k^{(w)}(w_k)`` (``None`` for FCN or a fall-back).
        nonblind: the non-blind step's ``boundary``, data weight ``lam`` and the estimated noise
            std ``noise_std`` of the input (``[0, 1]`` units) it was derived from.
        returned_input: ``True`` when ``image`` is the input unchanged (a fall-back: no kernel
            estimate explained the input, or every attempt diverged or collapsed).
        attempts: one record per kernel estimate (window ``crop``, ``seed``, skip-network
            ``width``, ``residual_ratio``,
            ``support`` = how many other estimates agree with it, ``fallback``, and the cleaned
            ``(S', S')`` kernel as nested lists), in the order they were made.
    """

    image: np.ndarray
    kernel: np.ndarray
    kernel_raw: np.ndarray
    kernel_size: int
    kernel_prior: str
    preset: str
    crop: tuple[int, int, int, int]
    loss: dict
    data_fit_mse: float
    timings: dict[str, float]
    restarts: int = 0
    fallback: str | None = None
    notes: list[str] = field(default_factory=list)
    kernel_code: torch.Tensor | None = None
    nonblind: dict = field(default_factory=dict)
    returned_input: bool = False
    attempts: list[dict] = field(default_factory=list)

    def summary(self) -> dict:
        """JSON-serialisable record (no arrays except the small kernel size)."""
        return {
            "kernel_prior": self.kernel_prior,
            "preset": self.preset,
            "kernel_size": self.kernel_size,
            "kernel_support": int(self.kernel.shape[0]),
            "crop": list(self.crop),
            "loss": self.loss,
            "data_fit_mse": self.data_fit_mse,
            "timings": self.timings,
            "restarts": self.restarts,
            "fallback": self.fallback,
            "diverged": bool(self.restarts or self.fallback),
            "returned_input": self.returned_input,
            "nonblind": dict(self.nonblind),
            "notes": list(self.notes),
            "attempts": list(self.attempts),
        }


# --------------------------------------------------------------------------------------------
# helpers


def auto_kernel_size(height: int, width: int, sizes: tuple[int, ...] = SIZES) -> int:
    """Kernel side for ``kernel_size="auto"`` with the FCN prior (rule in the module docstring).

    Args:
        height, width: image size in pixels.
        sizes: candidate sizes, ascending (the shipped generator sizes).

    Returns:
        The smallest ``s ∈ sizes`` with ``s ≥ 0.04 · max(height, width)``, capped at the largest
        odd ``≤ min(height, width) / 3`` (and at least 3).
    """
    target = 0.04 * max(height, width)
    s = next((c for c in sizes if c >= target), sizes[-1])
    cap = int(min(height, width) // 3)
    cap = cap if cap % 2 == 1 else cap - 1
    return max(3, min(s, cap))


def informative_crop(y: torch.Tensor, side: int, stride: int = 4) -> tuple[int, int, int, int]:
    """The ``side × side`` window of ``y`` with the largest mean squared gradient.

    Args:
        y: ``(1, 1, H, W)`` luminance in ``[0, 1]``.
        side: window side in pixels (clipped to the image).
        stride: step of the search grid in pixels.

    Returns:
        ``(top, left, height, width)``; the whole image if it is not larger than ``side``.
    """
    return informative_crops(y, side, 1, stride=stride)[0]


def informative_crops(
    y: torch.Tensor, side: int, count: int, max_overlap: float = 0.5, stride: int = 4
) -> list[tuple[int, int, int, int]]:
    """Up to ``count`` distinct ``side × side`` windows of ``y``, most informative first.

    Windows are ranked by their mean squared gradient (saturated pixels' edges excluded: they
    break the linear blur model); a window is skipped if it shares more than ``max_overlap`` of
    its area with one already chosen. A later estimate on another window sees other image
    content, so it does not repeat an error that the first window's content caused (a new seed
    on the same window often converges to the same wrong kernel).

    Args:
        y: ``(1, 1, H, W)`` luminance in ``[0, 1]``.
        side: window side in pixels (clipped to the image).
        count: windows wanted (≥ 1).
        max_overlap: largest shared fraction of a window's area with an earlier one, ``[0, 1]``.
        stride: step of the search grid in pixels.

    Returns:
        ``[(top, left, height, width), ...]``: at least one and at most ``count`` windows; just
        the whole image if it is not larger than ``side``.

    Raises:
        ValueError: ``count < 1`` or ``max_overlap`` outside ``[0, 1]``.
    """
    if count < 1 or not 0 <= max_overlap <= 1:
        raise ValueError(f"need count ≥ 1 and 0 ≤ max_overlap ≤ 1, got {count}, {max_overlap}")
    H, W = y.shape[-2:]
    sh, sw = min(side, H), min(side, W)
    if (sh, sw) == (H, W):
        return [(0, 0, H, W)]
    g = y[0, 0].double()
    e = torch.zeros_like(g)
    e[:, :-1] += (g[:, 1:] - g[:, :-1]) ** 2
    e[:-1, :] += (g[1:, :] - g[:-1, :]) ** 2
    sat = ((g > 0.98) | (g < 0.02)).double()
    e = e * (1 - F.max_pool2d(sat[None, None], 5, 1, 2)[0, 0])
    ii = F.pad(e.cumsum(0).cumsum(1), (1, 0, 1, 0))
    tops = torch.arange(0, H - sh + 1, stride)
    lefts = torch.arange(0, W - sw + 1, stride)
    t, l = tops[:, None], lefts[None, :]
    s = (ii[t + sh, l + sw] - ii[t, l + sw] - ii[t + sh, l] + ii[t, l]).flatten()
    chosen: list[tuple[int, int, int, int]] = []
    for idx in torch.argsort(s, descending=True, stable=True).tolist():
        top, left = int(tops[idx // len(lefts)]), int(lefts[idx % len(lefts)])
        shared = [max(0, sh - abs(top - a)) * max(0, sw - abs(left - b)) for a, b, _, _ in chosen]
        if all(area <= max_overlap * sh * sw for area in shared):
            chosen.append((top, left, sh, sw))
            if len(chosen) == count:
                break
    return chosen


def check_collapse(x: torch.Tensor, y: torch.Tensor) -> str | None:
    """Detect a collapsed estimate (SelfDeblur's black or flat outputs).

    Args:
        x: ``(B, C, h, w)`` estimate of the sharp image (the region that matches ``y``).
        y: ``(B, C, h, w)`` observation in ``[0, 1]``.

    Returns:
        ``None`` if plausible, else the reason: ``"non-finite"`` (NaN/inf), ``"flat"`` (std below
        :data:`FLAT_RATIO` × the observation's — blur lowers contrast, so a sharp image is not
        flatter than its blurry version) or ``"dark/bright"`` (mean off by more than
        :data:`MEAN_SHIFT` — a normalised blur keeps the mean).
    """
    if not torch.isfinite(x).all():
        return "non-finite"
    sy = float(y.std())
    if sy > 1e-4 and float(x.std()) < FLAT_RATIO * sy:
        return "flat"
    if abs(float(x.mean()) - float(y.mean())) > MEAN_SHIFT:
        return "dark/bright"
    return None


def clean_kernel(k: torch.Tensor, threshold: float) -> torch.Tensor:
    """Zero taps below ``threshold × max``, keep the connected mass, recentre on the centroid, trim.

    Args:
        k: ``(S, S)`` non-negative kernel.
        threshold: fraction of the maximum below which taps are zeroed (0: no zeroing).

    Returns:
        ``(S', S')`` float64 kernel summing to 1, odd side ``S' ≤ S`` (trimmed to its support
        plus one pixel, at most ``S``, centroid at the centre tap — a whole-pixel shift of the estimate, which
        only translates the deconvolved image).
    """
    k = k.detach().double().clamp(min=0)
    if threshold > 0:
        k = torch.where(k >= threshold * k.max(), k, torch.zeros_like(k))
    k = k / k.sum()
    S = k.shape[0]
    r = torch.arange(S, dtype=k.dtype)
    cy, cx = float((k.sum(1) * r).sum()), float((k.sum(0) * r).sum())
    nz = torch.nonzero(k > 0)
    y0, x0 = nz.min(0).values.tolist()
    y1, x1 = nz.max(0).values.tolist()
    cyi, cxi = round(cy), round(cx)
    half = min(max(cyi - y0, y1 - cyi, cxi - x0, x1 - cxi) + 1, (S - 1) // 2)
    big = F.pad(k, (half, half, half, half))
    out = big[cyi : cyi + 2 * half + 1, cxi : cxi + 2 * half + 1]
    return out / out.sum()


def _loss_summary(losses: list[float], samples: int = 20) -> dict:
    if not losses:
        return {"first": None, "last": None, "min": None, "samples": []}
    idx = sorted({round(i) for i in np.linspace(0, len(losses) - 1, min(samples, len(losses)))})
    fin = [v for v in losses if math.isfinite(v)]
    return {
        "first": losses[0] if math.isfinite(losses[0]) else None,
        "last": losses[-1] if math.isfinite(losses[-1]) else None,
        "min": min(fin) if fin else None,
        "samples": [[i + 1, losses[i] if math.isfinite(losses[i]) else None] for i in idx],
    }


# --------------------------------------------------------------------------------------------
# the joint optimisation


def joint_optimize(
    y: torch.Tensor,
    prior: KernelPrior,
    preset: Preset,
    operator: Operator | None = None,
    seed: int = 0,
    progress: Progress | None = None,
) -> SolveResult:
    """Joint optimisation of a DIP image network and a kernel prior (GLKM Algorithm 2; SelfDeblur).

    ``min_{θ_x, φ}  L(operator(G_x(z_x + ε_t; θ_x), k_φ), y)`` with ``L`` = MSE for the first
    ``preset.mse_fraction · steps`` steps, then ``1 − SSIM``; ``ε_t ~ N(0, input_noise_std²)``
    redrawn every step; ``z_x ~ U(0, 0.1)`` with 8 channels; Adam with the groups
    ``[θ_x: lr_image] + prior.param_groups()`` (kernel lr × ``kernel_lr_scale``), all multiplied by
    ``gamma`` at the ``milestones``. For GLKM ``φ = w_k`` (generator frozen); for FCN the kernel
    net's weights. During the first ``preset.kernel_warmup · steps`` steps ``φ`` is held fixed
    (no gradient reaches it) and only the image network learns. With ``preset.latent_anchor > 0``
    the prior's :meth:`~deblurkit.solvers.kernel_priors.KernelPrior.anchor_penalty` times that
    weight is added to the loss (GLKM: ``w_k`` kept near its start); ``losses`` records the data
    term alone.

    Args:
        y: ``(1, C, h, w)`` observation in ``[0, 1]`` (the solvers pass luminance, ``C = 1``).
        prior: the kernel parameterisation (its ``size`` ``S`` fixes the image's padding).
        preset: schedule and network settings.
        operator: ``operator(x, k) → y_hat`` with ``x`` ``(1, C, h + S − 1, w + S − 1)`` and ``k``
            ``(1, 1, S, S)``; default the uniform valid true convolution
            (:class:`deblurkit.physics.UniformBlur` ``mode="valid"``).
        seed: seeds the network initialisation and the noise (deterministic on the CPU).
        progress: called as ``progress(step, total, loss)`` after every step (1-based).

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
    S = prior.size
    h, w = y.shape[-2:]
    H, W = h + S - 1, w + S - 1
    t0 = time.perf_counter()
    cfg = SkipConfig(
        in_channels=8,
        out_channels=y.shape[1],
        down=(preset.width,) * preset.scales,
        up=(preset.width,) * preset.scales,
        skip=(preset.skip_channels,) * preset.scales,
    )
    # The network's initialisation draws from torch's global RNG: seed it under a lock so that
    # estimates running in concurrent threads (deblur_image's `workers`) stay deterministic. All
    # later randomness comes from the explicit generator `gen`.
    with seeded_global_rng(seed):
        net = SkipNet(cfg).to(device)
    gen = torch.Generator().manual_seed(seed)
    Hi, Wi = net.input_size(H, W)
    z = (torch.rand(1, 8, Hi, Wi, generator=gen) * 0.1).to(device)
    groups = [{"params": list(net.parameters()), "lr": preset.lr_image}]
    for g in prior.param_groups():
        groups.append({**g, "lr": g["lr"] * preset.kernel_lr_scale})
    opt = torch.optim.Adam(groups)
    milestones = sorted({max(1, round(f * preset.steps)) for f in preset.milestones})
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=milestones, gamma=preset.gamma)
    mse_steps = round(preset.mse_fraction * preset.steps)
    warm_steps = round(preset.kernel_warmup * preset.steps)
    losses: list[float] = []
    diverged = None
    net.train()
    prior.train()
    for step in range(1, preset.steps + 1):
        noise = torch.randn(z.shape, generator=gen).to(device) * preset.input_noise_std
        x = _crop_to(net(z + noise), H, W)
        with torch.set_grad_enabled(step > warm_steps):  # kernel held during the warm-up
            k = prior()
        y_hat = op(x, k)
        loss = data_fit_loss(y_hat, y, "mse" if step <= mse_steps else "ssim")
        value = float(loss.detach())
        if preset.latent_anchor > 0 and step > warm_steps:
            loss = loss + preset.latent_anchor * prior.anchor_penalty()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        losses.append(value)
        if not math.isfinite(value):
            diverged = "non-finite loss"
            break
        opt.step()
        sched.step()
        if progress is not None:
            progress(step, preset.steps, value)
    with torch.no_grad():
        net.eval()  # BatchNorm: running statistics, as SelfDeblur's final forward pass
        x = _crop_to(net(z), H, W)
        net.train()
        x_train = _crop_to(net(z), H, W)
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
) -> tuple[SolveResult | None, KernelPrior | None, list[str], int]:
    """:func:`joint_optimize` with divergence checks and up to ``preset.max_restarts`` restarts.

    Attempt ``r`` (0-based) builds its prior with ``build_prior(seed + r)`` and runs with seed
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

    Returns:
        ``(result, prior, notes, restarts)``: the accepted attempt's :class:`SolveResult` and its
        prior (holding the optimised parameters), or ``(None, None, ...)`` if every attempt
        diverged; human-readable notes; the number of restarts.
    """
    notes: list[str] = []
    restarts = 0
    h, w = y.shape[-2:]
    for attempt in range(preset.max_restarts + 1):
        prior = build_prior(seed + attempt)
        res = joint_optimize(y, prior, preset, operator=operator, seed=seed + attempt, progress=progress)
        reason = res.diverged or check_collapse(_crop_to(res.x, h, w), y)
        if reason is None and not torch.isfinite(res.kernel).all():
            reason = "non-finite kernel"
        if reason is None:
            return res, prior, notes, restarts
        notes.append(f"attempt {attempt + 1} (seed {seed + attempt}) diverged: {reason}")
        if attempt < preset.max_restarts:
            restarts += 1
            notes.append(f"restarted with seed {seed + attempt + 1}")
    return None, None, notes, restarts


def kernel_agreement(a: torch.Tensor, b: torch.Tensor) -> float:
    """How well two kernel estimates agree: MNC up to a shift, **no** 180° flip.

    A blind estimate fixes the kernel only up to a translation (which merely translates the
    deconvolved image), so shifts are free; a rotated kernel is a different blur, so it is not.

    Args:
        a, b: ``(h, w)`` non-negative kernels (any sizes; true-convolution orientation).

    Returns:
        Maximum normalised cross-correlation in ``[0, 1]`` (Hu & Yang 2012;
        :func:`deblurkit.metrics.mnc` with ``flip=False``).
    """
    return mnc(a, b, flip=False)[0]


def kernel_support(attempts: list, agree_mnc: float) -> list[int]:
    """For every estimate, how many of the *other* estimates agree with it.

    Two estimates agree when :func:`kernel_agreement` of their (cleaned) kernels is at least
    ``agree_mnc``; an attempt that fell back (diverged) neither gives nor gets support.

    Args:
        attempts: the attempts of :func:`deblur_image` (objects with ``k_used`` and ``fallback``).
        agree_mnc: agreement threshold in ``[0, 1]``.

    Returns:
        ``len(attempts)`` counts.
    """
    ok = [t.fallback is None for t in attempts]
    support = [0] * len(attempts)
    for i in range(len(attempts)):
        for j in range(i + 1, len(attempts)):
            if ok[i] and ok[j] and kernel_agreement(attempts[i].k_used, attempts[j].k_used) >= agree_mnc:
                support[i] += 1
                support[j] += 1
    return support


def _settled(attempts: list, support: list[int], p: Preset) -> bool:
    """Whether :func:`deblur_image` may stop estimating (rule of ``Preset.min_estimates``)."""
    if len(attempts) < p.min_estimates:
        return False
    if p.min_estimates <= 1:
        return attempts[-1].ratio <= p.accept_residual_ratio
    return any(t.ratio <= p.accept_residual_ratio and n > 0 for t, n in zip(attempts, support))


def _choose(attempts: list, support: list[int], p: Preset) -> int:
    """Index of the attempt to keep: the lowest residual ratio, or, when estimates are
    cross-checked (``min_estimates ≥ 2``), an accepted estimate (ratio within
    ``accept_residual_ratio``) before any other, then the most-confirmed one, then the lowest
    ratio. Agreement ranks estimates that the residual check accepts; it does not promote two
    estimates that agree on a kernel that the check rejects."""
    if p.min_estimates <= 1:
        return min(range(len(attempts)), key=lambda i: attempts[i].ratio)
    return min(
        range(len(attempts)),
        key=lambda i: (attempts[i].ratio > p.accept_residual_ratio, -support[i], attempts[i].ratio),
    )


def _crop_to(t: torch.Tensor, h: int, w: int) -> torch.Tensor:
    dh, dw = (t.shape[-2] - h) // 2, (t.shape[-1] - w) // 2
    return t[..., dh : dh + h, dw : dw + w]


# --------------------------------------------------------------------------------------------
# the engine entry point


def make_prior(
    kernel_prior: str,
    size: int,
    generator: KernelGenerator | None = None,
    latent: torch.Tensor | None = None,
    w: torch.Tensor | None = None,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> KernelPrior:
    """Build the kernel prior named ``"glkm"`` or ``"fcn"`` (see :mod:`deblurkit.solvers.kernel_priors`).

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


def deblur_image(
    img: np.ndarray,
    kernel_prior: str = "glkm",
    preset: str | Preset = "fast",
    kernel_size: int | str = "auto",
    generator: KernelGenerator | None = None,
    initializer: torch.nn.Module | None = None,
    latent: torch.Tensor | None = None,
    seed: int = 0,
    progress: Progress | None = None,
    device: torch.device | str = "cpu",
    workers: int | None = None,
    image_prior: str = "l0",
) -> DeblurResult:
    """Blind deblurring of one image: coarse-to-fine GLKM / free kernel, or SelfDeblur (FCN).

    ``kernel_prior="glkm"`` (with ``Preset.estimator="pyramid"``, all but the ``paper`` preset) and ``"free"`` run the pipeline of
    :func:`deblurkit.solvers.blind.deblur_image_pyramid` (coarse-to-fine estimation, optional DIP
    refinement, non-blind restoration, residual check); ``"fcn"`` and ``"glkm"`` with
    ``estimator="dip"`` run the DIP joint optimisation below (GLKM Algorithm 2 / SelfDeblur) from the start.

    Args:
        img: ``(H, W, C)`` float32 blurry image in ``[0, 1]``, ``C ∈ {1, 3}``, ``H, W ≥ 32``.
        kernel_prior: ``"glkm"`` (needs ``generator``), ``"free"`` (pixel kernel, coarse to fine)
            or ``"fcn"`` (SelfDeblur's kernel net).
        preset: ``"fast"``, ``"paper"`` or a :class:`~deblurkit.solvers.presets.Preset`.
        kernel_size: ``S`` in pixels (odd), or ``"auto"`` (GLKM: the generator's size; FCN:
            :func:`auto_kernel_size`).
        generator: the kernel generator for GLKM (frozen and put in eval mode here).
        initializer: optional kernel initializer ``E``; ``w_k ← g1(E(y))`` on the full luminance
            (GLKM Algorithm 2 line 1), or ``relu(E(y))`` for an encoder into ``w``
            (:func:`~deblurkit.solvers.initial_kernel.initial_feature_map`). Without it, ``latent``
            or ``z = 0`` is used.
        latent: optional ``(1, latent_dim, 1, 1)`` initial code when there is no initializer.
        seed: makes the run deterministic on the CPU; a restart after divergence uses ``seed + r``.
        progress: ``progress(step, total, loss)``, called every optimisation step (restarts count
            from 1 again); ``step`` and ``total`` count the steps of all the kernel estimates
            started so far (several may run at once, see ``workers``).
        device: ``"cpu"`` or a CUDA device.
        workers: kernel estimates computed concurrently (threads, each on
            ``torch.get_num_threads() // workers`` intra-op threads; see :func:`estimate_workers`);
            ``None``: as many as the cross-check always needs (``Preset.min_estimates``), up to the
            CPU threads; more than that are speculative (a later estimate starts before it is
            known to be needed). The result depends only on the threads per estimate, not on
            ``workers``: estimates are independent and are accepted in the same order.
        image_prior: coarse-to-fine pipeline only: ``"l0"`` or ``"dip"`` (adds the DIP refinement).

    After restoration the no-reference residual check runs: the restored luminance re-blurred by
    the kernel must explain the input to within a fraction ``Preset.accept_residual_ratio`` of the
    noise budget ``σ̂² + τ²``; otherwise the kernel is estimated again with a new seed
    (``residual_retries``) and the attempt with the lower ratio is kept; if even that one exceeds
    ``Preset.max_residual_ratio`` the input is returned unchanged.

    With ``Preset.estimate_denoise > 0`` and a noisy input (``σ̂ ≥ Preset.denoise_min_noise``) the
    initializer, the window choice and the kernel estimation see a non-local-means denoised copy
    (:func:`deblurkit.solvers.denoise.estimation_image`); the restoration and the residual check
    use the input itself.

    Returns:
        :class:`DeblurResult`: the restored image (all channels), the kernel, the loss summary,
        timings and divergence / fall-back notes.

    Raises:
        ValueError: bad image shape or range, an image smaller than 32×32 or than 2× the kernel,
            unknown prior/preset, GLKM without generator or with a mismatched size, ``workers < 1``.
    """
    t_start = time.perf_counter()
    p = get_preset(preset)
    img = np.asarray(img)
    if img.ndim != 3 or img.shape[2] not in (1, 3):
        raise ValueError(f"expected an (H, W, 1|3) image, got shape {img.shape}")
    if not np.isfinite(img).all():
        raise ValueError("the image contains NaN or infinite values")
    if kernel_prior not in ("glkm", "free", "fcn"):
        raise ValueError(f"unknown kernel prior {kernel_prior!r}; use 'glkm', 'free' or 'fcn'")
    if kernel_prior == "glkm" and generator is None:
        raise ValueError("the GLKM kernel prior needs a kernel generator (or use kernel_prior='fcn')")
    H, W, C = img.shape
    if min(H, W) < 32:
        raise ValueError(f"the image is {H}×{W}; blind deblurring needs at least 32×32 pixels")
    img = np.clip(img.astype(np.float32), 0.0, 1.0)
    device = torch.device(device)

    if kernel_prior == "glkm" and kernel_size != "auto" and int(kernel_size) != generator.config.size:
        raise ValueError(f"kernel size {kernel_size} differs from the generator's {generator.config.size}; load that size's generator")
    if kernel_size == "auto":
        S = generator.config.size if (kernel_prior == "glkm" and generator is not None) else auto_kernel_size(H, W)
    else:
        S = int(kernel_size)
        if S < 3:
            raise ValueError(f"kernel size must be ≥ 3, got {S}")
    if 2 * S > min(H, W):
        raise ValueError(f"a {S}×{S} kernel needs an image of at least {2 * S}×{2 * S} pixels, got {H}×{W}")

    if kernel_prior == "free" or (kernel_prior == "glkm" and p.estimator == "pyramid"):
        from deblurkit.solvers.blind import deblur_image_pyramid

        torch.manual_seed(seed)
        return deblur_image_pyramid(
            img, kernel_prior, S, p, generator=generator, initializer=initializer, image_prior=image_prior,
            seed=seed, progress=progress, device=device,
        )

    y_full = luminance_tensor(img, device)  # (1, 1, H, W)
    # the luminance the kernel is estimated on: the input's, or that of a denoised copy when the
    # input is noisy (the restoration and the residual check always use the input)
    img_est, denoise_h = estimation_image(img, p.estimate_denoise, p.denoise_min_noise)
    y_est = y_full if denoise_h is None else luminance_tensor(img_est, device)
    w0 = None
    if kernel_prior == "glkm" and generator is not None:
        # Keep the initial feature map so that every restart starts from the same w_k.
        generator.to(device).eval()
        if initializer is not None:
            from deblurkit.solvers.initial_kernel import initial_feature_map

            w0 = initial_feature_map(initializer.to(device), generator, y_est).clone()
        else:
            with torch.no_grad():
                zz = latent if latent is not None else torch.zeros(1, generator.config.latent_dim, 1, 1)
                w0 = generator.first_layer(zz.to(device)).clone()

    if p.crop is None:
        crops = [(0, 0, H, W)]
    else:
        # one window per possible attempt: a re-estimate looks at other image content
        side = max(p.crop, 4 * S)
        crops = informative_crops(y_est, side, 1 + p.residual_retries)
        if side > p.crop and p.wide_width is not None:
            p = p.with_(width=p.wide_width)  # a window wider than `crop`: the wider network

    rgb = torch.from_numpy(img).permute(2, 0, 1).to(device)
    nb_cfg, noise_std = p.nonblind.resolve_with_noise(rgb)
    budget = noise_std**2 + p.nonblind.lam_tau**2
    n_max = 1 + p.residual_retries
    n_workers = estimate_workers(workers, p, device)
    seeds = [seed + a * (p.max_restarts + 1) for a in range(n_max)]
    report = _ProgressMux(progress) if progress is not None else None

    def attempt(a: int) -> _Attempt:
        att = _estimate_and_restore(
            crops[a % len(crops)], y_est, y_full, rgb, p, nb_cfg, seeds[a],
            report.for_attempt(a) if report is not None else None, S,
            lambda s: make_prior(kernel_prior, S, generator, latent, w0, s, device),
            lambda: make_prior("glkm", S, generator, latent, w0, seed, device) if kernel_prior == "glkm" else None,
        )
        att.ratio = att.fit / budget if math.isfinite(att.fit) else math.inf
        att.seed, att.width = seeds[a], p.width
        return att

    attempts: list[_Attempt] = []
    with _EstimatePool(attempt, n_workers) as pool:
        # start as many attempts as there are workers: the first min_estimates are needed unless one
        # falls back; any beyond them are speculative (used only if the cross-check asks for them)
        for a in range(min(n_max, n_workers)):
            pool.submit(a)
        for a in range(n_max):
            att = pool.result(a)
            attempts.append(att)
            support = kernel_support(attempts, p.agree_mnc)
            if att.fallback is not None or _settled(attempts, support, p):
                break
            if a + 1 < n_max:
                pool.submit(a + 1)  # no-op if already submitted or if estimates run in this thread
                why = (
                    f"the restored image leaves a residual {att.ratio:.2f}× the noise budget (σ̂² + τ²) unexplained "
                    f"(accepted: ≤ {p.accept_residual_ratio:g}): kernel estimate doubtful"
                    if att.ratio > p.accept_residual_ratio
                    else f"no accepted estimate is yet confirmed by another (≥ {p.min_estimates} estimates, agreement MNC ≥ {p.agree_mnc:g})"
                )
                att.notes.append(
                    f"{why}; estimating again with seed {seeds[a + 1]} on window "
                    f"(top, left, height, width) = {crops[(a + 1) % len(crops)]}"
                )
    chosen = attempts[_choose(attempts, support, p)]  # support: of every attempt made (last loop pass)
    notes = [n for t in attempts for n in t.notes]
    if denoise_h is not None:
        notes.insert(
            0,
            f"noisy input (σ̂ = {noise_std:.4f}): kernel estimated on a non-local-means denoised copy"
            f" (h = {denoise_h:.1f}/255)",
        )
    restarts = sum(t.restarts for t in attempts) + len(attempts) - 1
    fallback = chosen.fallback
    out, fit = chosen.out, chosen.fit
    if len(attempts) > 1:
        how = (
            "lowest residual ratio"
            if p.min_estimates <= 1
            else f"{'within' if chosen.ratio <= p.accept_residual_ratio else 'above'} the accepted residual ratio, "
            f"agreed with by {support[attempts.index(chosen)]} other estimate(s)"
        )
        notes.append(f"kept attempt {attempts.index(chosen) + 1} of {len(attempts)} ({how}: ratio {chosen.ratio:.2f})")
    if chosen.ratio > p.max_residual_ratio and fallback is None:
        # no kernel explains the observation: do no harm
        notes.append(
            f"no kernel estimate explains the input (residual ≥ {chosen.ratio:.2f}× the noise budget, "
            f"limit {p.max_residual_ratio:g}); returning the input"
        )
        fallback = "input returned (residual check)"
        out = rgb.clone()
    return DeblurResult(
        image=out.permute(1, 2, 0).cpu().numpy().astype(np.float32),
        kernel=chosen.k_used.float().numpy(),
        kernel_raw=chosen.k_raw.float().numpy(),
        kernel_size=S,
        kernel_prior=kernel_prior,
        preset=p.name,
        crop=chosen.crop,
        loss=_loss_summary(chosen.best.losses if chosen.best is not None else []),
        data_fit_mse=fit,
        timings={
            "estimate": sum(t.t_est for t in attempts),
            "restore": sum(t.t_rest for t in attempts),
            "total": time.perf_counter() - t_start,
            "workers": n_workers,
            "threads_per_estimate": pool.threads_per_estimate,
        },
        restarts=restarts,
        fallback=fallback,
        notes=notes,
        kernel_code=chosen.best_prior.w.detach().clone() if isinstance(chosen.best_prior, GLKMPrior) else None,
        nonblind={
            "boundary": nb_cfg.boundary,
            "lam": float(nb_cfg.lam),
            "noise_std": noise_std,
            "residual_ratio": chosen.ratio if math.isfinite(chosen.ratio) else None,
        },
        returned_input=bool(torch.equal(out, rgb)),
        attempts=[t.record(n) for t, n in zip(attempts, support)],
    )


def estimate_workers(workers: int | None, preset: Preset, device: torch.device | str = "cpu") -> int:
    """How many kernel estimates :func:`deblur_image` computes concurrently.

    Args:
        workers: the request (``None``: automatic).
        preset: the run's preset (its ``min_estimates`` estimates are always needed).
        device: on a CUDA device the automatic choice is 1 (one stream of work per GPU).

    Returns:
        ``workers`` when given; else ``min(Preset.min_estimates, torch.get_num_threads())`` on the
        CPU, 1 on CUDA.

    Raises:
        ValueError: ``workers < 1``.
    """
    if workers is not None:
        if workers < 1:
            raise ValueError(f"workers must be ≥ 1, got {workers}")
        return workers
    if torch.device(device).type != "cpu":
        return 1
    return max(1, min(preset.min_estimates, torch.get_num_threads()))


class _EstimatePool:
    """Runs ``attempt(a)`` for the attempts asked for, ``workers`` at a time (threads; each
    with ``torch.get_num_threads() // workers`` intra-op threads, restored on exit). With one
    worker every attempt runs in the caller's thread when its result is asked for."""

    def __init__(self, attempt: Callable[[int], _Attempt], workers: int) -> None:
        self.attempt, self.workers = attempt, workers
        self.futures: dict[int, Future] = {}
        self.pool: ThreadPoolExecutor | None = None
        self.threads = torch.get_num_threads()
        self.threads_per_estimate = max(1, self.threads // workers)

    def __enter__(self) -> _EstimatePool:
        if self.workers > 1:
            torch.set_num_threads(self.threads_per_estimate)
            self.pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="kernel-estimate")
        return self

    def submit(self, a: int) -> None:
        if self.pool is not None and a not in self.futures:
            self.futures[a] = self.pool.submit(self.attempt, a)

    def result(self, a: int) -> _Attempt:
        if self.pool is None:
            return self.attempt(a)
        self.submit(a)
        return self.futures[a].result()

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            torch.set_num_threads(self.threads)


class _ProgressMux:
    """Merges the per-step progress of concurrent estimates into one ``progress(step, total, loss)``:
    ``step`` and ``total`` count the steps of all the estimates started so far."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.done: dict[int, int] = {}
        self.lock = threading.Lock()

    def for_attempt(self, a: int) -> Progress:
        with self.lock:
            self.done.setdefault(a, 0)

        def report(step: int, total: int, loss: float) -> None:
            with self.lock:
                self.done[a] = step
                done, total_all = sum(self.done.values()), total * len(self.done)
                self.progress(done, total_all, loss)

        return report


@dataclass(eq=False)
class _Attempt:
    """One kernel estimate and its restoration (internal to :func:`deblur_image`)."""

    best: SolveResult | None
    best_prior: KernelPrior | None
    k_raw: torch.Tensor
    k_used: torch.Tensor
    out: torch.Tensor
    fit: float
    notes: list[str]
    restarts: int
    fallback: str | None
    t_est: float
    t_rest: float
    crop: tuple[int, int, int, int]
    ratio: float = math.inf
    seed: int = 0
    width: int = 0

    def record(self, support: int) -> dict:
        """JSON record of the attempt: window, seed, network width, residual ratio, support and cleaned kernel."""
        return {
            "crop": list(self.crop),
            "seed": self.seed,
            "width": self.width,
            "residual_ratio": self.ratio if math.isfinite(self.ratio) else None,
            "support": support,
            "fallback": self.fallback,
            "kernel": np.round(self.k_used.float().numpy(), 6).tolist(),
        }


def _estimate_and_restore(
    crop: tuple[int, int, int, int],
    y_est: torch.Tensor,
    y_full: torch.Tensor,
    rgb: torch.Tensor,
    p: Preset,
    nb_cfg: HyperLaplacianConfig,
    seed: int,
    progress: Progress | None,
    size: int,
    build_prior: Callable[[int], KernelPrior],
    initial_prior: Callable[[], KernelPrior | None],
) -> _Attempt:
    """Kernel estimation on the window ``crop`` of ``y_est`` (with divergence restarts) and restoration of ``rgb``.

    ``crop`` ``(top, left, h, w)`` in pixels; ``y_est`` ``(1, 1, H, W)`` the luminance to estimate on
    (the input's or a denoised copy's), ``y_full`` the input's luminance and ``rgb`` ``(C, H, W)``
    the input, all ``[0, 1]``; ``size`` the kernel side in pixels. Returns the attempt with
    ``fit`` = MSE between the input luminance and the restored luminance re-blurred by the kernel
    (valid region), the no-reference check of :func:`deblur_image`.
    """
    C, H, W = rgb.shape
    t, l, ch, cw = crop
    y = y_est[..., t : t + ch, l : l + cw]
    t_est = time.perf_counter()
    best, best_prior, notes, restarts = solve_with_restarts(y, build_prior, p, seed=seed, progress=progress)
    fallback = None
    t_est = time.perf_counter() - t_est

    if best is None:
        # Fall back: the initial kernel of the prior (GLKM: G(w0); FCN: a small centred box blur
        # is no better than doing nothing, so the input is returned) with the non-blind solver.
        prior0 = initial_prior()
        if prior0 is not None:
            with torch.no_grad():
                k_raw = prior0()[0, 0].float().cpu()
            fallback = "initial GLKM kernel with non-blind deconvolution"
        else:
            k_raw = torch.zeros(size, size)
            k_raw[size // 2, size // 2] = 1.0
            fallback = "identity kernel (input returned unchanged)"
        notes.append(f"all attempts diverged; fall-back: {fallback}")
        x_dip = None
    else:
        k_raw = best.kernel.cpu()
        x_dip = best.x

    t_rest = time.perf_counter()
    final = p.final if best is not None else "nonblind"
    k_used = clean_kernel(k_raw, p.kernel_threshold) if final == "nonblind" else k_raw.double() / k_raw.sum()
    if fallback is not None and fallback.startswith("identity"):
        out = rgb.clone()
    else:
        out = deconvolve(rgb, k_used.to(rgb.device), nb_cfg)
    if final == "dip" and x_dip is not None:
        # the DIP's luminance at the observation's geometry (valid-convolution padding removed)
        ydip = _crop_to(x_dip, H, W)[0].to(out.dtype)
        if C == 1:
            out = ydip.clamp(0, 1)
        else:
            ycc = rgb_to_ycbcr(out)
            ycc = torch.cat([ydip, ycc[1:]], dim=0)  # ydip is BT.601 Y, the channel it was fitted to
            out = ycbcr_to_rgb(ycc).clamp(0, 1)
    # last safety net: the restored image itself must not be collapsed
    lum_out = luminance_tensor(out.permute(1, 2, 0).cpu().numpy())
    reason = check_collapse(lum_out, y_full.cpu())
    if reason is not None:
        notes.append(f"restored image rejected ({reason}); returning the input")
        fallback = (fallback + "; " if fallback else "") + "input returned"
        out = rgb.clone()
        lum_out = y_full.cpu()
    t_rest = time.perf_counter() - t_rest

    with torch.no_grad():
        kk = k_used.float()
        if min(H, W) > kk.shape[0]:
            fit = float(F.mse_loss(UniformBlur(mode="valid").A(lum_out, kk), _crop_to(y_full.cpu(), H - kk.shape[0] + 1, W - kk.shape[1] + 1)))
        else:
            fit = float("nan")
    return _Attempt(best, best_prior, k_raw, k_used, out, fit, notes, restarts, fallback, t_est, t_rest, crop)
