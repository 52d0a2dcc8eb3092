"""Generator inversion: fit a frozen kernel generator to given kernels (GLKM Eq. (5)/(6)).

``min_v ‖G(v) − k‖₁`` by Adam from several random starts ``v₀`` (``z₀ ~ N(0, I)``, or
``w₀ = g1(z₀)`` in ``w`` space), with a cosine learning-rate decay to 1 % of the initial rate; the
start with the smallest final L1 error wins. Used by the kernel-prior report
(:mod:`deblurkit.reports.kernel_prior`) and by the non-uniform solver, which starts every patch
from the ``w`` of the global kernel (GLKM Algorithm 4).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from deblurkit.models.kernel_gan import KernelGenerator


@dataclass(frozen=True)
class FitConfig:
    """Settings of the generator fits and the diversity estimate.

    Attributes:
        steps_w: Adam steps in ``w`` space.
        lr_w: learning rate in ``w`` space (``w`` is O(1): BN-normalised, ReLU'd features).
        restarts_w: random starts ``w₀ = g1(z₀)`` per kernel.
        steps_z: Adam steps in ``z`` space.
        lr_z: learning rate in ``z`` space.
        restarts_z: random starts ``z₀ ~ N(0, I)`` per kernel.
        num_samples: random samples for the diversity score.
        seed: seeds the starts and the samples.
    """

    steps_w: int = 1000
    lr_w: float = 0.1
    restarts_w: int = 8
    steps_z: int = 1000
    lr_z: float = 0.05
    restarts_z: int = 8
    num_samples: int = 64
    seed: int = 0


def _best_of(n: int, r: int, losses: torch.Tensor, *items: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Pick, per target, the start with the lowest loss: ``losses`` (n·r,), each item (n·r, ...)."""
    best = losses.reshape(n, r).argmin(dim=1)
    idx = torch.arange(n) * r + best
    return (losses[idx], *(t[idx] for t in items))


def _fit(
    generator: KernelGenerator,
    targets: torch.Tensor,
    space: str,
    steps: int,
    lr: float,
    restarts: int,
    seed: int,
    progress: Callable[[int], None] | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    n = targets.shape[0]
    device = next(generator.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    z0 = generator.sample_latent(n * restarts, generator=gen).to(device)
    with torch.no_grad():
        var = (generator.first_layer(z0) if space == "w" else z0).clone()
    var.requires_grad_(True)
    forward = generator.from_w if space == "w" else generator
    tgt = targets.to(device).repeat_interleave(restarts, dim=0)[:, None]
    opt = torch.optim.Adam([var], lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, steps), eta_min=lr * 0.01)
    for i in range(steps):
        opt.zero_grad(set_to_none=True)
        loss = (forward(var) - tgt).abs().flatten(1).sum(dim=1)
        loss.sum().backward()
        opt.step()
        sched.step()
        if progress is not None:
            progress(1)
    with torch.no_grad():
        k = forward(var)
        loss = (k - tgt).abs().flatten(1).sum(dim=1)
    l1, kern, code = _best_of(n, restarts, loss.cpu(), k[:, 0].cpu(), var.detach().cpu())
    return kern, l1, code


def fit_generator(
    generator: KernelGenerator,
    targets: torch.Tensor,
    space: str,
    cfg: FitConfig = FitConfig(),
    progress: Callable[[int], None] | None = None,
    return_codes: bool = False,
) -> tuple[torch.Tensor, ...]:
    """Fit the frozen generator to target kernels by Adam on the L1 error.

    Args:
        generator: trained generator; put in eval mode and its weights frozen for the fit (its
            ``requires_grad`` flags are restored afterwards).
        targets: ``(N, S, S)`` float32 kernels in the generator's window (sum 1).
        space: ``"w"`` (first-layer feature map, GLKM Eq. (6)) or ``"z"`` (latent, Eq. (5)).
        cfg: steps, learning rate, restarts and seed for that space.
        progress: called with ``1`` after every Adam step.
        return_codes: also return the fitted variables.

    Returns:
        ``(fits, l1)``: ``(N, S, S)`` float32 best fits (CPU) and their ``(N,)`` L1 errors
        (in ``[0, 2]``, as both kernels sum to 1); with ``return_codes`` also the ``(N, 256, k1,
        k1)`` feature maps ``w`` (space ``"w"``) or ``(N, latent_dim, 1, 1)`` latents (``"z"``).

    Raises:
        ValueError: unknown space or targets of the wrong size.
    """
    s = generator.config.size
    if targets.ndim != 3 or tuple(targets.shape[1:]) != (s, s):
        raise ValueError(f"targets must be (N, {s}, {s}), got {tuple(targets.shape)}")
    if space not in ("w", "z"):
        raise ValueError(f"space must be 'w' or 'z', got {space!r}")
    generator.eval()
    flags = [p.requires_grad for p in generator.parameters()]
    for p in generator.parameters():
        p.requires_grad_(False)
    try:
        if space == "w":
            out = _fit(generator, targets, "w", cfg.steps_w, cfg.lr_w, cfg.restarts_w, cfg.seed, progress)
        else:
            out = _fit(generator, targets, "z", cfg.steps_z, cfg.lr_z, cfg.restarts_z, cfg.seed + 1, progress)
        return out if return_codes else out[:2]
    finally:
        for p, f in zip(generator.parameters(), flags):
            p.requires_grad_(f)
