"""Training the kernel initializer by collaborative GAN inversion (GLKM §IV-C, Algorithm 1, Eq. 4).

Per batch of blurry patches ``y_n`` with true kernels ``k_n`` and the frozen generator ``G``:

1. inner loop (lower level, GAN inversion): ``z_n ← argmin_z ‖G(z) − k_n‖₁`` by Adam (lr 0.01);
2. outer step (upper level): one Adam step on the encoder ``E`` minimising
   ``‖G(E(y_n)) − G(z_n)‖₁ + λ ‖E(y_n) − z_n‖₂²`` with λ = 0.1.

Three recipes share this code and differ only in settings (:data:`RECIPES`):

- ``paper``: the reference settings — every batch starts the inversion from ``E(y_n)`` and runs
  100 inner steps; batch 128, 256-pixel crops, 60 epochs, lr ×0.1 at epochs 40 and 50. One outer
  step costs ~40–150 s on 2 CPU cores.
- ``cpu`` (default): the inversion of kernel ``n`` is **cached**: its first visit starts from
  ``E(y_n)`` as in the paper (``inner_steps``), later visits start from whichever of the cached
  ``z_n`` and the current ``E(y_n)`` fits ``k_n`` better and refine it with a few steps
  (``warm_steps``). The inversion only depends on the kernel, so a kernel inverted once needs only
  touch-ups, which cuts the inner loop ~10×; starting from ``E(y_n)`` once it is the better fit keeps
  the target near the encoder, as the paper's restart from ``E(y_n)`` does. The encoder reads the
  gradient autocorrelation (``features="autocorr"``, a 63×63 map at size 31) instead of the raw
  luminance: in a 300-step screen it learned where the luminance encoder had not yet left the
  mean-kernel level, at half the cost per step (``docs/benchmarks.md``).
  Batch 32, Adam lr 1e-3 (the paper's 1e-4 suits its 12 000 steps of batch 128, not a CPU budget);
  an outer step costs ~0.5 s.
- ``direct``: ``cpu``'s data and schedule, but the encoder outputs the generator's first-layer
  feature map ``w_k`` (read through ``relu``; ``code="w"``) and the outer step fits the true kernel,
  ``min(‖G_k^{(w)}(E(y)) − k‖₁, ‖G_k^{(w)}(E(y)) − rot180(k)‖₁)`` through the frozen generator, with no
  inversion and no latent term (:func:`kernel_loss`) — not the paper's Eq. (4). The inverted codes of
  one kernel from two starts are as far apart as two random codes, so Eq. (4)'s latent term asks the
  encoder to regress near-arbitrary targets; fitting ``k`` itself removes them, and the ``w`` space
  holds the training kernels far better than ``z`` (MNC 0.96 against 0.74 per kernel). ~0.3 s per
  step. At size 31: validation MNC ≈ 0.70 against 0.614 for ``cpu`` (``docs/benchmarks.md``).

One code path serves one process and ``torchrun`` (DDP; :mod:`deblurkit.train.distributed`): the
cache is replicated on every rank and the refined codes of each step are exchanged with
``all_gather``, so all ranks hold the same cache.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.distributed as tdist

from deblurkit.datasets import BlurryPatchConfig, BlurryPatches
from deblurkit.errors import DeblurkitError
from deblurkit.models.initializer import CODES, InitializerConfig, KernelInitializer
from deblurkit.models.kernel_gan import KernelGenerator, code_generator
from deblurkit.train.checkpoint import load_checkpoint, save_checkpoint
from deblurkit.train.distributed import DistInfo, barrier, make_sampler, mean_across, wrap_ddp

CHECKPOINT_NAME = "checkpoint.pt"

#: What the outer step fits (:attr:`InitializerRecipe.target`).
TARGETS = ("inversion", "kernel")


@dataclass(frozen=True)
class InitializerRecipe:
    """Hyper-parameters of :func:`train_initializer` (stored in checkpoints).

    Attributes:
        name: ``"cpu"``, ``"direct"`` or ``"paper"`` (or a custom label).
        epochs: passes over ``samples_per_epoch`` blurry patches.
        samples_per_epoch: patches per epoch (each uses kernel ``i mod N``).
        batch: global batch size, split evenly over the ranks.
        crop: patch side in pixels.
        inner_steps: Adam steps of the inversion when it starts from ``E(y)``.
        warm_steps: steps when it warm-starts from the cached code; ``None`` disables the cache
            (every batch restarts from ``E(y)``, as the paper).
        inner_lr: Adam learning rate of the inversion (0.01).
        lr: Adam learning rate of the encoder (1e-4).
        milestones: epochs after which ``lr`` is multiplied by 0.1.
        lam: λ of Eq. (4) (0.1).
        noise_max: largest noise σ of the patches ([0, 1] units).
        jpeg_prob: probability of a JPEG round trip per patch.
        seed: seeds the encoder's initial weights, the data order and the patches.
        features: the encoder's input transform (:data:`deblurkit.models.initializer.FEATURES`).
        stem_pool: the encoder keeps the ResNet stem's max-pool
            (:attr:`deblurkit.models.initializer.InitializerConfig.stem_pool`).
        code: what the encoder outputs (:attr:`deblurkit.models.initializer.InitializerConfig.code`):
            ``"z"`` (the paper), or ``"w"``, the generator's first-layer feature map read through
            ``relu`` (:class:`deblurkit.models.kernel_gan.WCodeGenerator`); with ``"w"`` the
            inversion of ``target="inversion"`` runs in ``w`` and is projected onto ``w ≥ 0``.
        target: what the outer step fits. ``"inversion"`` (Algorithm 1): the inverted codes
            ``z*`` and their kernels ``G(z*)``, Eq. (4). ``"kernel"``: the true kernel directly,
            ``‖G(E(y)) − k‖₁`` through the frozen generator (:func:`kernel_loss`), with no inversion
            and no latent term (``lam``, ``inner_steps``, ``warm_steps`` and ``inner_lr`` unused) —
            a variant, not the paper's: the inverted codes of one kernel from different starts are
            as far apart as random codes (``docs/benchmarks.md``), so the latent term
            asks the encoder to regress near-arbitrary targets.
        flip_tolerant: score ``E(y)`` against the better of ``k`` and its 180° rotation (each
            inverted and cached), see :func:`outer_loss` and :func:`kernel_loss`. The gradient
            autocorrelation is the same for ``k`` and ``rot180(k)`` (``R(d) = R(−d)``), so with ``features="autocorr"``
            the plain loss can only be met by hedging between the two; kernel MNC (Levin's
            protocol, :func:`deblurkit.metrics.mnc`) does not tell them apart either.
        max_steps: stop after this many outer steps in all (``None``: all epochs).
        checkpoint_every: also checkpoint every this many outer steps (0: epoch ends only).
    """

    name: str = "cpu"
    epochs: int = 30
    samples_per_epoch: int = 8192
    batch: int = 32
    crop: int = 256
    inner_steps: int = 30
    warm_steps: int | None = 5
    inner_lr: float = 0.01
    lr: float = 1e-3
    milestones: tuple[int, ...] = (20, 26)
    lam: float = 0.1
    noise_max: float = 0.02
    jpeg_prob: float = 0.3
    seed: int = 0
    features: str = "autocorr"
    stem_pool: bool = True
    code: str = "z"
    target: str = "inversion"
    flip_tolerant: bool = False
    max_steps: int | None = None
    checkpoint_every: int = 200


#: Named recipes; ``paper`` follows the reference implementation (notes §3); ``direct`` is ``cpu``
#: with an encoder into the first-layer feature map ``w_k`` (``code="w"``) and the outer step fitting
#: the true kernel (``target="kernel"``, flip-tolerant) instead of Algorithm 1's inverted codes — the
#: recipe of the shipped size-31 file (``docs/benchmarks.md``).
RECIPES: dict[str, InitializerRecipe] = {
    "cpu": InitializerRecipe(),
    "direct": InitializerRecipe(name="direct", code="w", target="kernel", flip_tolerant=True),
    "paper": InitializerRecipe(
        name="paper",
        epochs=60,
        samples_per_epoch=25600,
        batch=128,
        crop=256,
        inner_steps=100,
        warm_steps=None,
        lr=1e-4,
        milestones=(40, 50),
        noise_max=0.0,
        jpeg_prob=0.0,
        features="luma",
    ),
}


def invert_latents(
    generator: KernelGenerator,
    kernels: torch.Tensor,
    z0: torch.Tensor,
    steps: int,
    lr: float = 0.01,
    nonnegative: bool = False,
) -> torch.Tensor:
    """GAN inversion ``argmin_z ‖G(z) − k‖₁`` by Adam from ``z0`` (Algorithm 1, lines 3–6).

    Each sample's loss is summed (not averaged) so its gradient does not depend on the batch size.
    The generator's parameters get no gradient.

    Args:
        generator: the frozen kernel generator in eval mode, or any code → kernel callable (e.g.
            ``G.from_w``, the truncated generator of GLKM Eq. (6)).
        kernels: ``(B, 1, S, S)`` target kernels summing to 1.
        z0: ``(B, ...)`` starting codes (``(B, latent_dim, 1, 1)`` for ``G``).
        steps: Adam steps (0 returns ``z0``, clamped if ``nonnegative``).
        lr: Adam learning rate.
        nonnegative: project the codes onto ``≥ 0`` at the start and after every step — the range
            of the first-layer code ``w_k = g1(z)``, which ends in a ReLU.

    Returns:
        Detached codes shaped like ``z0``.
    """
    z = (z0.detach().clamp(min=0) if nonnegative else z0.detach().clone()).requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    for _ in range(steps):
        (z.grad,) = torch.autograd.grad((generator(z) - kernels).abs().sum(), z)
        opt.step()
        if nonnegative:
            with torch.no_grad():
                z.clamp_(min=0)
    return z.detach()


@torch.no_grad()
def inversion_start(
    generator: KernelGenerator, kernels: torch.Tensor, z_hat: torch.Tensor, z_cache: torch.Tensor, cached: torch.Tensor
) -> torch.Tensor:
    """Starting codes of the inversion in the cached (``cpu``) recipe.

    A kernel seen before starts from whichever of its cached code and the encoder's current code
    ``E(y)`` fits it better in L1; a new kernel starts from ``E(y)`` (Algorithm 1, line 3).

    Args:
        generator: the frozen kernel generator (eval mode).
        kernels: ``(B, 1, S, S)`` target kernels.
        z_hat: ``(B, latent_dim, 1, 1)`` encoder codes ``E(y)`` (detached).
        z_cache: ``(B, latent_dim, 1, 1)`` cached codes (ignored where ``cached`` is false).
        cached: ``(B,)`` bool, whether each kernel has a cached code.

    Returns:
        ``(B, latent_dim, 1, 1)`` starting codes.
    """
    if not bool(cached.any()):
        return z_hat
    better = _l1(generator(z_cache), kernels) < _l1(generator(z_hat), kernels)
    return torch.where((cached & better).view(-1, 1, 1, 1), z_cache, z_hat)


def outer_loss(
    generator: KernelGenerator,
    z_hat: torch.Tensor,
    z_star: torch.Tensor,
    lam: float = 0.1,
    z_star_flip: torch.Tensor | None = None,
) -> torch.Tensor:
    """Upper-level objective of Eq. (4), averaged over the batch.

    Args:
        generator: the frozen kernel generator (eval mode).
        z_hat: ``(B, latent_dim, 1, 1)`` encoder outputs ``E(y)`` (with gradient).
        z_star: ``(B, latent_dim, 1, 1)`` inverted codes (no gradient).
        lam: λ (0.1 in the paper).
        z_star_flip: optional ``(B, latent_dim, 1, 1)`` codes inverted from the 180°-rotated
            kernels (:attr:`InitializerRecipe.flip_tolerant`); each sample then takes the smaller
            of its two terms.

    Returns:
        Scalar ``mean_n ‖G(E(y_n)) − G(z_n)‖₁ + λ‖E(y_n) − z_n‖₂²`` (with ``z_star_flip``:
        ``mean_n min(term(z_n), term(z_n^flip))``).
    """
    k_hat = generator(z_hat)

    def term(z: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            k_star = generator(z)
        return (k_hat - k_star).abs().flatten(1).sum(1) + lam * (z_hat - z).pow(2).flatten(1).sum(1)

    loss = term(z_star)
    if z_star_flip is not None:
        loss = torch.minimum(loss, term(z_star_flip))
    return loss.mean()


def kernel_loss(
    generator: KernelGenerator,
    z_hat: torch.Tensor,
    kernels: torch.Tensor,
    kernels_flip: torch.Tensor | None = None,
) -> torch.Tensor:
    """Direct outer objective ``mean_n ‖G(E(y_n)) − k_n‖₁`` (:attr:`InitializerRecipe.target` ``"kernel"``).

    The kernel term of Eq. (4) with the true kernel in place of ``G(z*)``, and no latent term.

    Args:
        generator: the frozen kernel generator (eval mode).
        z_hat: ``(B, latent_dim, 1, 1)`` encoder outputs ``E(y)`` (with gradient).
        kernels: ``(B, 1, S, S)`` true kernels (non-negative, sum 1).
        kernels_flip: optional ``(B, 1, S, S)`` 180°-rotated kernels; each sample then takes the
            smaller of its two distances.

    Returns:
        Scalar loss (L1 of kernels summing to 1, so in ``[0, 2]``).
    """
    k_hat = generator(z_hat)
    loss = _l1(k_hat, kernels)
    if kernels_flip is not None:
        loss = torch.minimum(loss, _l1(k_hat, kernels_flip))
    return loss.mean()


@dataclass
class InitStepEvent:
    """Progress after one outer step (rank 0's values).

    Attributes:
        epoch: 0-based epoch.
        step: outer steps done so far.
        total_steps: outer steps of the whole run.
        loss: the outer objective of the step.
        inner_l1: mean ``‖G(z*) − k‖₁`` after the inversion (how well the generator fits the kernels);
            with ``target="kernel"``, ``‖G(E(y)) − k‖₁`` of the step (no inversion).
    """

    epoch: int
    step: int
    total_steps: int
    loss: float
    inner_l1: float


@dataclass
class InitTrainResult:
    """Outcome of :func:`train_initializer`.

    Attributes:
        encoder: the trained encoder (plain module, eval mode, on the training device).
        history: per epoch ``{"epoch", "loss", "inner_l1", "lr"}`` (means over steps and ranks).
        steps: outer steps done (resumes included).
        wall_s: training seconds over all sessions of the run.
        resumed_from: step resumed from, or ``None``.
    """

    encoder: KernelInitializer
    history: list[dict] = field(default_factory=list)
    steps: int = 0
    wall_s: float = 0.0
    resumed_from: int | None = None


def _l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-sample L1 distance ``(B,)`` of two ``(B, 1, S, S)`` kernel batches."""
    return (a - b).abs().flatten(1).sum(1)


def _gather(values: torch.Tensor, dist: DistInfo) -> torch.Tensor:
    """Concatenate equally shaped tensors of all ranks along dim 0 (identity when not distributed)."""
    if not dist.enabled:
        return values
    parts = [torch.empty_like(values) for _ in range(dist.world_size)]
    tdist.all_gather(parts, values.contiguous())
    return torch.cat(parts)


def _inversion_step(
    generator: KernelGenerator,
    recipe: InitializerRecipe,
    z_hat: torch.Tensor,
    idx: torch.Tensor,
    target: torch.Tensor,
    cache: torch.Tensor,
    cached: torch.Tensor,
    n_kernels: int,
    dist: DistInfo,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One batch of Algorithm 1: inversion (lines 3–6, cached in the ``cpu`` recipe), then Eq. (4).

    Updates ``cache`` / ``cached`` in place (all ranks' codes). Returns the outer loss (with
    gradient to ``z_hat``) and the mean inner L1 ``‖G(z*) − k‖₁`` (detached).
    """
    device = z_hat.device
    zh = z_hat.detach()
    if recipe.flip_tolerant:  # invert k and rot180(k) in one batch: [k_1..k_B, flip(k_1)..flip(k_B)]
        idx = torch.cat([idx, idx + n_kernels])
        zh = torch.cat([zh, zh])
    k = target[idx].to(device)
    # Lower level: start from E(y) (paper) or, for a kernel inverted before (cpu recipe),
    # from whichever of E(y) and the cached code fits the kernel better.
    warm = cached[idx] if recipe.warm_steps is not None else torch.zeros(len(idx), dtype=torch.bool)
    z0 = inversion_start(generator, k, zh, cache[idx].to(device), warm.to(device))
    z_star = torch.empty_like(z0)
    for mask, n_steps in ((warm, recipe.warm_steps or 0), (~warm, recipe.inner_steps)):
        sel = mask.nonzero().flatten().to(device)
        if len(sel):
            z_star[sel] = invert_latents(generator, k[sel], z0[sel], n_steps, recipe.inner_lr, recipe.code == "w")
    with torch.no_grad():
        inner_l1 = _l1(generator(z_star), k).mean()
    if recipe.warm_steps is not None:
        all_idx, all_z = _gather(idx.to(device), dist).cpu(), _gather(z_star, dist).cpu()
        cache[all_idx], cached[all_idx] = all_z, True
    # Upper level: the loss of one step on E.
    half = len(z_hat)  # with flip_tolerant, z_star holds [codes of k, codes of rot180(k)]
    flip = z_star[half:] if recipe.flip_tolerant else None
    return outer_loss(generator, z_hat, z_star[:half], recipe.lam, z_star_flip=flip), inner_l1


def train_initializer(
    images: Sequence[np.ndarray],
    kernels: np.ndarray,
    generator: KernelGenerator,
    recipe: InitializerRecipe,
    workdir: Path,
    dist: DistInfo | None = None,
    resume: bool = False,
    progress: Callable[[InitStepEvent], None] | None = None,
    init: KernelInitializer | None = None,
) -> InitTrainResult:
    """Train the kernel initializer ``E`` with Algorithm 1 of GLKM.

    Args:
        images: sharp luminance training images, ``(H, W)`` float32 in ``[0, 1]``, each side
            ``≥ recipe.crop`` (see :func:`deblurkit.datasets.load_sharp_images`).
        kernels: ``(N, S, S)`` training kernels (non-negative, sum 1, true convolution), with
            ``S`` the generator's size; identical on every rank.
        generator: the pre-trained kernel generator; it is frozen and put in eval mode (with
            ``recipe.code == "w"`` it is wrapped in :class:`~deblurkit.models.kernel_gan.WCodeGenerator`).
        recipe: hyper-parameters (:data:`RECIPES`).
        workdir: folder for ``checkpoint.pt`` (rank 0 writes).
        dist: this process's place; ``None`` means one process on the CPU.
        resume: continue from ``workdir/checkpoint.pt`` (encoder, optimiser, cache, step).
        progress: called on rank 0 after each outer step.
        init: start the encoder from these weights (fine-tuning) instead of a random
            initialisation; its configuration must match (size, latent code, features).

    Returns:
        An :class:`InitTrainResult`.

    Raises:
        DeblurkitError: an unknown ``recipe.code`` or ``recipe.target``, kernels that do not match the
            generator, more kernels than samples per epoch, a batch that does not split over the
            ranks, fewer samples than one batch, a mismatched checkpoint on ``resume``, or an
            ``init`` encoder of another configuration.
    """
    dist = dist or DistInfo()
    workdir = Path(workdir)
    size = generator.config.size
    kernels = np.asarray(kernels, dtype=np.float32)
    if kernels.ndim != 3 or kernels.shape[1:] != (size, size):
        raise DeblurkitError(f"training kernels must be (N, {size}, {size}) for this generator, got {kernels.shape}")
    if len(kernels) > recipe.samples_per_epoch:
        raise DeblurkitError(
            f"{len(kernels)} kernels but {recipe.samples_per_epoch} samples per epoch: sample i uses kernel i mod N, so "
            "kernels past the epoch's length would never be seen; use fewer kernels or more --samples-per-epoch"
        )
    if recipe.code not in CODES:
        raise DeblurkitError(f"unknown code {recipe.code!r}; choose one of {', '.join(CODES)}")
    if recipe.target not in TARGETS:
        raise DeblurkitError(f"unknown target {recipe.target!r}; choose one of {', '.join(TARGETS)}")
    if recipe.batch % dist.world_size:
        raise DeblurkitError(f"batch {recipe.batch} does not split evenly over {dist.world_size} processes")
    local_batch = recipe.batch // dist.world_size
    device = dist.device

    data = BlurryPatches(
        images,
        torch.from_numpy(kernels),
        recipe.samples_per_epoch,
        BlurryPatchConfig(crop=recipe.crop, noise_max=recipe.noise_max, jpeg_prob=recipe.jpeg_prob),
        seed=recipe.seed,
    )
    sampler = make_sampler(data, dist, recipe.seed)
    steps_per_epoch = len(sampler) // local_batch
    if steps_per_epoch < 1:
        raise DeblurkitError(f"{recipe.samples_per_epoch} samples per epoch are fewer than one batch of {recipe.batch}")
    total_steps = steps_per_epoch * recipe.epochs
    if recipe.max_steps is not None:
        total_steps = min(total_steps, recipe.max_steps)

    generator = generator.to(device).eval()
    for p in generator.parameters():
        p.requires_grad_(False)
    generator = code_generator(generator, recipe.code)  # the encoder's code → kernel (G itself for "z")
    torch.manual_seed(recipe.seed)
    enc_cfg = InitializerConfig(
        size=size,
        latent_dim=generator.config.latent_dim,
        features=recipe.features,
        stem_pool=recipe.stem_pool,
        code=recipe.code,
    )
    encoder = KernelInitializer(enc_cfg).to(device)
    if init is not None:
        if init.config != enc_cfg:
            raise DeblurkitError(f"the starting encoder has configuration {init.config}, this run needs {enc_cfg}")
        encoder.load_state_dict(init.state_dict())
    opt = torch.optim.Adam(encoder.parameters(), lr=recipe.lr)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(recipe.milestones), gamma=0.1)
    target = torch.from_numpy(kernels)[:, None]
    n_kernels = len(kernels)
    if recipe.flip_tolerant and recipe.target == "inversion":  # rot180(k_i) is target i + N, inverted and cached
        target = torch.cat([target, torch.flip(target, dims=(-2, -1))])
    n_cache = len(target) if recipe.target == "inversion" else 0  # the kernel target inverts (caches) nothing
    cache = torch.zeros(n_cache, generator.config.latent_dim, 1, 1)
    cached = torch.zeros(n_cache, dtype=torch.bool)

    step, history, wall_before, resumed_from = 0, [], 0.0, None
    ckpt_path = workdir / CHECKPOINT_NAME
    if resume:
        state = load_checkpoint(ckpt_path, map_location="cpu")
        # older checkpoints: the stem pool and Algorithm 1's target
        saved = {"stem_pool": True, "target": "inversion", "code": "z", **state.get("recipe", {})}
        mine = asdict(recipe)
        keys = ("batch", "crop", "seed", "samples_per_epoch", "warm_steps", "inner_steps", "features", "flip_tolerant")
        for key in keys + ("stem_pool", "target", "code"):
            if saved.get(key) != mine[key]:
                raise DeblurkitError(f"{ckpt_path}: checkpoint has {key}={saved.get(key)!r}, this run {mine[key]!r}")
        if state.get("num_kernels") != len(kernels):
            raise DeblurkitError(f"{ckpt_path}: checkpoint used {state.get('num_kernels')} kernels, this run {n_kernels}")
        encoder.load_state_dict(state["encoder"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        cache, cached = state["cache"], state["cached"]
        step, history, wall_before = int(state["step"]), list(state["history"]), float(state["wall_s"])
        resumed_from = step

    model = wrap_ddp(encoder, dist)
    t0 = time.perf_counter()

    def checkpoint() -> None:
        if dist.is_main:
            save_checkpoint(
                ckpt_path,
                {
                    "recipe": asdict(recipe),
                    "num_kernels": len(kernels),
                    "step": step,
                    "history": history,
                    "wall_s": wall_before + time.perf_counter() - t0,
                    "encoder": encoder.state_dict(),
                    "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict(),
                    "cache": cache,
                    "cached": cached,
                },
            )
        barrier(dist)

    model.train()
    start_epoch = step // steps_per_epoch
    for epoch in range(start_epoch, recipe.epochs):
        if step >= total_steps:
            break
        sampler.set_epoch(epoch)
        order = list(sampler)
        sums, count = torch.zeros(2, dtype=torch.float64), 0
        for b in range(step - epoch * steps_per_epoch, steps_per_epoch):
            if step >= total_steps:
                break
            items = [data[i] for i in order[b * local_batch : (b + 1) * local_batch]]
            y = torch.stack([it[0] for it in items]).to(device)
            idx = torch.tensor([it[1] for it in items])
            z_hat = model(y)
            if recipe.target == "kernel":
                k = target[idx].to(device)
                flip = torch.flip(k, dims=(-2, -1)) if recipe.flip_tolerant else None
                loss = kernel_loss(generator, z_hat, k, flip)
                inner_l1 = loss.detach()
            else:
                loss, inner_l1 = _inversion_step(generator, recipe, z_hat, idx, target, cache, cached, n_kernels, dist)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

            step += 1
            vals = torch.tensor([loss.item(), inner_l1.item()], dtype=torch.float64)
            sums += vals
            count += 1
            if progress is not None and dist.is_main:
                progress(InitStepEvent(epoch, step, total_steps, float(vals[0]), float(vals[1])))
            if recipe.checkpoint_every and step % recipe.checkpoint_every == 0 and step < total_steps:
                checkpoint()
        if count:
            means = mean_across((sums / count).to(device), dist).cpu().tolist()
            history.append({"epoch": epoch + 1, "loss": means[0], "inner_l1": means[1], "lr": opt.param_groups[0]["lr"]})
            if step == (epoch + 1) * steps_per_epoch:
                sched.step()
            checkpoint()
    encoder.eval()
    return InitTrainResult(encoder, history, step, wall_before + time.perf_counter() - t0, resumed_from)


def recipe_by_name(name: str, **overrides) -> InitializerRecipe:
    """A named recipe with some fields replaced (``None`` values are ignored).

    Raises:
        DeblurkitError: unknown recipe name or field.
    """
    if name not in RECIPES:
        raise DeblurkitError(f"unknown recipe {name!r}; choose one of {', '.join(RECIPES)}")
    fields = {k: v for k, v in overrides.items() if v is not None}
    unknown = set(fields) - set(asdict(RECIPES[name]))
    if unknown:
        raise DeblurkitError(f"unknown recipe settings: {', '.join(sorted(unknown))}")
    return replace(RECIPES[name], **fields)
