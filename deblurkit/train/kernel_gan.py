"""Training the DCGAN kernel generator (GLKM §IV-B; notes §3; DCGAN, Radford et al. 2016).

Per step, with a batch of real kernels ``k`` and latents ``z ~ N(0, I)``:

1. discriminator: minimise ``BCE(D(k), 1) + BCE(D(G(z)), 0)`` (``G(z)`` detached);
2. generator: minimise the non-saturating loss ``BCE(D(G(z)), 1)``;

each with Adam (lr 2e-4, betas (0.5, 0.999)). Two optional stabilisers, both off in the paper's
recipe: *instance noise* (Sønderby et al. 2017; Arjovsky & Bottou 2017) adds Gaussian noise of std
``instance_noise / S²`` (``1/S²`` is the value of the flat kernel) to every kernel the
discriminator sees, real and generated — a softmax output is never exactly zero, so without it the
discriminator can separate real from generated kernels by their empty background alone and wins
from the first steps; *one-sided label smoothing* (Salimans et al. 2016) trains ``D`` towards
``1 − label_smoothing`` on real kernels; the *R1 penalty* (Mescheder et al. 2018, Eq. 9)
``r1/2 · E‖∇_u D(u)‖²`` on real kernels ``u = S²·k`` (kernels in units of the flat kernel, so ``r1``
does not depend on ``S``), applied lazily every :data:`R1_EVERY` steps with the weight multiplied by
that interval (StyleGAN2's lazy regularisation, Karras et al. 2020 §B), keeps the discriminator's
gradients bounded so the generator's softmax is not driven to saturation (all mass in a few
pixels); *feature matching* (Salimans et al. 2016 §3.1) adds
``feature_matching · ‖E f(G(z)) − E f(k)‖² / ‖E f(k)‖²`` to the generator's loss (relative, so the
weight does not depend on the kernels' scale), ``f`` the discriminator's second convolution
(before its BatchNorm) averaged over the batch — the generator then matches the statistics of real
kernels (how bright, how spread) instead of chasing whatever the discriminator currently rewards.
One code path serves one process and ``torchrun``
(DistributedDataParallel; see :mod:`deblurkit.train.distributed`): the global batch is split evenly
over the ranks, every rank draws its own latents from a seed derived from ``(seed, rank, step)`` —
so a resumed run continues exactly where it stopped — and rank 0 writes checkpoints and one sample
grid PNG per epoch into the working folder.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from deblurkit.errors import DeblurkitError
from deblurkit.models.kernel_gan import KernelGenerator, build_kernel_gan
from deblurkit.train.checkpoint import load_checkpoint, save_checkpoint
from deblurkit.train.distributed import DistInfo, barrier, make_sampler, mean_across, wrap_ddp

CHECKPOINT_NAME = "checkpoint.pt"
SAMPLES_DIR = "samples"
R1_EVERY = 4
"""The R1 penalty is applied every this many steps, weighted by this factor (lazy regularisation)."""


@dataclass(frozen=True)
class GANTrainConfig:
    """Hyper-parameters of :func:`train_kernel_gan` (stored in checkpoints; a resume must match).

    Attributes:
        size: kernel side ``S`` (31, 45, 55, 65 or 75).
        epochs: passes over the data (the reference: 20).
        batch: global batch size, split evenly over the ranks (the reference: 128).
        lr: Adam learning rate for both networks (2e-4).
        betas: Adam betas ((0.5, 0.999)).
        seed: seeds the initial weights, the data order and the latents.
        checkpoint_every: also checkpoint every this many steps (0: only at epoch ends).
        max_steps: stop after this many steps in total (``None``: run all epochs).
        num_samples: kernels in each epoch's sample grid (fixed latents).
        instance_noise: std of the Gaussian noise added to the discriminator's inputs, in units of
            ``1/S²`` (0: off, the paper's recipe).
        label_smoothing: real-label target is ``1 − label_smoothing`` (0: off, the paper's recipe).
        r1: weight ``γ`` of the R1 gradient penalty on real kernels, gradients taken with respect to
            ``S²·k`` (0: off, the paper's recipe).
        feature_matching: weight of the feature-matching term in the generator's loss (0: off,
            the paper's recipe).
    """

    size: int = 31
    epochs: int = 20
    batch: int = 128
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    seed: int = 0
    checkpoint_every: int = 500
    max_steps: int | None = None
    num_samples: int = 64
    instance_noise: float = 0.0
    label_smoothing: float = 0.0
    r1: float = 0.0
    feature_matching: float = 0.0


@dataclass
class StepEvent:
    """Progress report after one step (rank 0's own losses).

    Attributes:
        epoch: 0-based epoch of the step.
        step: global steps done so far (1-based after the first).
        total_steps: steps the run will do in all.
        loss_d: discriminator BCE (``≈ 1.386 = 2 ln 2`` at chance).
        loss_g: generator non-saturating BCE.
        d_real: mean ``D(k)`` on real kernels, in ``(0, 1)``.
        d_fake: mean ``D(G(z))`` on generated kernels, in ``(0, 1)``.
    """

    epoch: int
    step: int
    total_steps: int
    loss_d: float
    loss_g: float
    d_real: float
    d_fake: float


@dataclass
class TrainResult:
    """Outcome of :func:`train_kernel_gan`.

    Attributes:
        generator: the trained generator (plain module, on the training device, eval mode).
        history: per finished epoch ``{"epoch", "loss_d", "loss_g", "d_real", "d_fake"}``, means over
            the epoch and the ranks.
        steps: global steps done (including those before a resume).
        wall_s: training seconds summed over all sessions of this run (resumes included).
        resumed_from: step the run resumed from, or ``None``.
    """

    generator: KernelGenerator
    history: list[dict] = field(default_factory=list)
    steps: int = 0
    wall_s: float = 0.0
    resumed_from: int | None = None


def planned_steps(num_kernels: int, cfg: GANTrainConfig, world_size: int = 1) -> int:
    """Steps a run of :func:`train_kernel_gan` does in all (``0`` when the data is under one batch).

    Each epoch is ``⌊⌊N / world⌋ / (batch / world)⌋`` steps (the sampler drops the tail), capped by
    ``max_steps``.
    """
    local_batch = max(1, cfg.batch // world_size)
    total = (num_kernels // world_size) // local_batch * cfg.epochs
    return total if cfg.max_steps is None else min(total, cfg.max_steps)


def _normal(shape: tuple[int, ...], *key: int) -> torch.Tensor:
    """float32 N(0, 1) samples of ``shape``, a pure function of the integer ``key``."""
    state = int(np.random.SeedSequence(list(key)).generate_state(1, dtype=np.uint64)[0] >> 1)
    return torch.randn(*shape, generator=torch.Generator().manual_seed(state))


def _latents(seed: int, rank: int, step: int, n: int, dim: int) -> torch.Tensor:
    """``(n, dim, 1, 1)`` float32 N(0, 1) latents, a pure function of ``(seed, rank, step)``."""
    return _normal((n, dim, 1, 1), seed, rank, step)


def sample_latents(seed: int, n: int, dim: int = 100) -> torch.Tensor:
    """The fixed latents ``(n, dim, 1, 1)`` of the per-epoch sample grids (a function of ``seed``)."""
    return _latents(seed, 2**31, 0, n, dim)


def r1_penalty(logits: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Mean squared gradient norm ``E‖∇_u D(u)‖²`` of the discriminator at ``u = S²·k`` (R1, Mescheder et al. 2018, Eq. 9).

    Args:
        logits: ``(B,)`` discriminator scores computed from ``kernels`` (graph kept).
        kernels: ``(B, 1, S, S)`` float kernels with ``requires_grad``, the discriminator's input.

    Returns:
        0-d tensor, differentiable in the discriminator's parameters (``create_graph=True``). The
        gradient is taken in units of the flat kernel ``1/S²`` (``∇_u D = ∇_k D / S²``), so one
        weight suits every kernel size.
    """
    (grad,) = torch.autograd.grad(logits.sum(), kernels, create_graph=True)
    grad = grad / (kernels.shape[-1] * kernels.shape[-2])
    return grad.square().sum(dim=(1, 2, 3)).mean()


def feature_matching_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Relative feature-matching error ``‖mean_b f_b − t‖² / ‖t‖²`` (Salimans et al. 2016 §3.1, normalised).

    Args:
        features: ``(B, C, h, w)`` discriminator features of generated kernels (graph kept).
        target: ``(C, h, w)`` mean features of real kernels (no graph).

    Returns:
        0-d tensor ``≥ 0``; 1 when the generated mean features are zero.
    """
    return (features.mean(dim=0) - target).square().sum() / target.square().sum().clamp_min(1e-30)


def _write_samples(generator: KernelGenerator, z: torch.Tensor, path: Path) -> None:
    from deblurkit.io import write_image
    from deblurkit.viz import kernel_grid

    was_training = generator.training
    generator.eval()
    with torch.no_grad():
        k = generator(z.to(next(generator.parameters()).device))[:, 0].cpu().numpy()
    generator.train(was_training)
    write_image(path, kernel_grid(k, cols=8), bit_depth=8)


def train_kernel_gan(
    kernels: np.ndarray,
    cfg: GANTrainConfig,
    workdir: Path,
    dist: DistInfo | None = None,
    resume: bool = False,
    progress: Callable[[StepEvent], None] | None = None,
) -> TrainResult:
    """Train a DCGAN kernel generator on ``kernels`` (GLKM §IV-B).

    Args:
        kernels: ``(N, S, S)`` float array of training kernels (non-negative, each summing to 1),
            identical on every rank. ``N`` must be at least ``cfg.batch``.
        cfg: hyper-parameters.
        workdir: folder for ``checkpoint.pt`` and ``samples/epoch_NNN.png`` (rank 0 writes).
        dist: this process's place (:func:`~deblurkit.train.distributed.setup_distributed`);
            ``None`` means one process on the CPU.
        resume: continue from ``workdir/checkpoint.pt`` (model, optimisers, step, history); its
            config must equal ``cfg`` except ``epochs``, ``max_steps`` and ``checkpoint_every``.
        progress: called on rank 0 after every step with a :class:`StepEvent`.

    Returns:
        A :class:`TrainResult`.

    Raises:
        DeblurkitError: kernels of the wrong shape or fewer than one batch, a batch that does not
            split over the ranks, a missing/corrupt/mismatched checkpoint on ``resume``, or one already past the
            run's last step (``max_steps``).
    """
    dist = dist or DistInfo()
    workdir = Path(workdir)
    kernels = np.asarray(kernels, dtype=np.float32)
    if kernels.ndim != 3 or kernels.shape[1:] != (cfg.size, cfg.size):
        raise DeblurkitError(f"training kernels must be (N, {cfg.size}, {cfg.size}), got {kernels.shape}")
    if cfg.batch % dist.world_size:
        raise DeblurkitError(f"batch {cfg.batch} does not split evenly over {dist.world_size} processes")
    local_batch = cfg.batch // dist.world_size
    sampler = make_sampler(range(len(kernels)), dist, cfg.seed)
    steps_per_epoch = len(sampler) // local_batch
    if steps_per_epoch < 1:
        raise DeblurkitError(f"{len(kernels)} kernels are fewer than one batch of {cfg.batch}")
    total_steps = steps_per_epoch * cfg.epochs
    if cfg.max_steps is not None:
        total_steps = min(total_steps, cfg.max_steps)

    device = dist.device
    g, d = build_kernel_gan(cfg.size, seed=cfg.seed)
    g, d = g.to(device), d.to(device)
    opt_g = torch.optim.Adam(g.parameters(), lr=cfg.lr, betas=cfg.betas)
    opt_d = torch.optim.Adam(d.parameters(), lr=cfg.lr, betas=cfg.betas)
    data = torch.from_numpy(kernels)[:, None]  # (N, 1, S, S) on the CPU; batches move to the device

    step, history, wall_before, resumed_from = 0, [], 0.0, None
    ckpt_path = workdir / CHECKPOINT_NAME
    if resume:
        state = load_checkpoint(ckpt_path, map_location=device)
        saved = state.get("config", {})
        mine = asdict(cfg)
        optional = ("instance_noise", "label_smoothing", "r1", "feature_matching")  # absent in older checkpoints: off
        for key in ("size", "batch", "lr", "seed", *optional):
            if saved.get(key, 0.0 if key in optional else None) != mine[key]:
                raise DeblurkitError(f"{ckpt_path}: checkpoint has {key}={saved.get(key)!r}, this run {mine[key]!r}")
        if state.get("num_kernels") != len(kernels):
            raise DeblurkitError(
                f"{ckpt_path}: checkpoint was trained on {state.get('num_kernels')} kernels, this run has {len(kernels)}"
            )
        g.load_state_dict(state["generator"])
        d.load_state_dict(state["discriminator"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        step, history, wall_before = int(state["step"]), list(state["history"]), float(state["wall_s"])
        resumed_from = step
        if step > total_steps:  # the weights would not be those of this run's command
            raise DeblurkitError(f"{ckpt_path}: checkpoint is at step {step}, past this run's {total_steps} steps")

    g_ddp, d_ddp = wrap_ddp(g, dist), wrap_ddp(d, dist)
    fixed_z = sample_latents(cfg.seed, cfg.num_samples, g.config.latent_dim)
    t0 = time.perf_counter()

    def checkpoint() -> None:
        if dist.is_main:
            save_checkpoint(
                ckpt_path,
                {
                    "config": asdict(cfg),
                    "num_kernels": len(kernels),
                    "step": step,
                    "history": history,
                    "wall_s": wall_before + time.perf_counter() - t0,
                    "generator": g.state_dict(),
                    "discriminator": d.state_dict(),
                    "opt_g": opt_g.state_dict(),
                    "opt_d": opt_d.state_dict(),
                },
            )
        barrier(dist)

    ones = torch.ones(local_batch, device=device)
    real_target = torch.full((local_batch,), 1.0 - cfg.label_smoothing, device=device)
    noise_std = cfg.instance_noise / cfg.size**2
    zeros = torch.zeros(local_batch, device=device)
    g_ddp.train()
    d_ddp.train()
    start_epoch = step // steps_per_epoch
    for epoch in range(start_epoch, cfg.epochs):
        if step >= total_steps:
            break
        sampler.set_epoch(epoch)
        order = list(sampler)
        sums = torch.zeros(4, dtype=torch.float64)
        count = 0
        for b in range(step - epoch * steps_per_epoch, steps_per_epoch):
            if step >= total_steps:
                break
            idx = order[b * local_batch : (b + 1) * local_batch]
            real = data[idx].to(device, non_blocking=True)
            z = _latents(cfg.seed, dist.rank, step, local_batch, g.config.latent_dim).to(device)
            fake = g_ddp(z)
            if noise_std > 0:  # instance noise: the same draws for D's and G's view of the fakes
                shape = (local_batch, 1, cfg.size, cfg.size)
                noise_real = noise_std * _normal(shape, cfg.seed, dist.rank, step, 1).to(device)
                noise_fake = noise_std * _normal(shape, cfg.seed, dist.rank, step, 2).to(device)
                real = real + noise_real
            else:
                noise_fake = torch.zeros((), device=device)

            # 1. discriminator: real → 1 (− smoothing), fake → 0
            opt_d.zero_grad(set_to_none=True)
            penalise = cfg.r1 > 0 and step % R1_EVERY == 0
            real.requires_grad_(penalise)
            logit_real, feat_real = d_ddp(real, logits=True, features=True)
            logit_fake = d_ddp(fake.detach() + noise_fake, logits=True)
            loss_d = F.binary_cross_entropy_with_logits(logit_real, real_target) + F.binary_cross_entropy_with_logits(
                logit_fake, zeros
            )
            if penalise:
                loss_d = loss_d + 0.5 * cfg.r1 * R1_EVERY * r1_penalty(logit_real, real)
            loss_d.backward()
            opt_d.step()

            # 2. generator: non-saturating loss, fake → 1
            opt_g.zero_grad(set_to_none=True)
            logit_gen, feat_gen = d_ddp(fake + noise_fake, logits=True, features=True)
            loss_g = F.binary_cross_entropy_with_logits(logit_gen, ones)
            if cfg.feature_matching > 0:
                target = mean_across(feat_real.detach().mean(dim=0), dist)
                loss_g = loss_g + cfg.feature_matching * feature_matching_loss(feat_gen, target)
            loss_g.backward()
            opt_g.step()

            step += 1
            vals = torch.tensor(
                [
                    loss_d.item(),
                    loss_g.item(),
                    torch.sigmoid(logit_real).mean().item(),
                    torch.sigmoid(logit_fake).mean().item(),
                ],
                dtype=torch.float64,
            )
            sums += vals
            count += 1
            if progress is not None and dist.is_main:
                progress(StepEvent(epoch, step, total_steps, *map(float, vals)))
            if cfg.checkpoint_every and step % cfg.checkpoint_every == 0 and step < total_steps:
                checkpoint()
        if count:
            means = mean_across((sums / count).to(device), dist).cpu().tolist()
            finished = step == (epoch + 1) * steps_per_epoch
            history.append(
                {
                    "epoch": epoch + 1,
                    "complete": finished,
                    "loss_d": means[0],
                    "loss_g": means[1],
                    "d_real": means[2],
                    "d_fake": means[3],
                }
            )
            if dist.is_main:
                _write_samples(g, fixed_z, workdir / SAMPLES_DIR / f"epoch_{epoch + 1:03d}.png")
            checkpoint()
    g.eval()
    return TrainResult(g, history, step, wall_before + time.perf_counter() - t0, resumed_from)
