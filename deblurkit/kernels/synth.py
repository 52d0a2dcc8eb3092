"""Motion-kernel synthesis: one entry point over every trajectory family.

``synthesize_kernels`` draws trajectories from a family, scales each to a random length between
``min_length`` and ``max_length`` pixels, centres its centre of mass, and splats it into an
``S × S`` window (:mod:`deblurkit.kernels.render`). Families:

- ``"trajectory"`` — Boracchi & Foi (TIP 2012) camera-shake random walks (default);
- ``"gp"`` — Gaussian-process (Matérn 3/2) trajectories, as deepinv's ``MotionBlurGenerator``.

The generated kernels are the training data of the kernel GAN (GLKM §IV-B); benchmark kernels
(Levin, Lai) must never be used for that.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from deblurkit.kernels.gp import gp_trajectories
from deblurkit.kernels.render import fit_to_window, splat
from deblurkit.kernels.trajectory import boracchi_trajectories

#: Family name → ``(rng, n) -> (points (n, T) complex, per-kernel params)``.
FAMILIES: dict[str, Callable[[np.random.Generator, int], tuple[np.ndarray, dict]]] = {
    "trajectory": boracchi_trajectories,
    "gp": gp_trajectories,
}
#: Kernels generated per vectorised chunk (bounds memory: ~T·chunk complex samples).
CHUNK = 2048


@dataclass(frozen=True)
class SynthesisConfig:
    """Settings of :func:`synthesize_kernels` (saved beside the kernels).

    Attributes:
        family: a key of :data:`FAMILIES`.
        size: window side ``S`` in pixels (odd or even, ``≥ 5``).
        count: number of kernels ``N ≥ 1``.
        seed: seed of the NumPy generator; the same config gives identical kernels.
        min_length: smallest target extent in pixels (``≥ 1``).
        max_length: largest target extent in pixels; ``None`` means ``S − 2``. Clamped to ``S − 1``.

    Raises:
        ValueError: on construction, for settings :func:`validate` rejects.
    """

    family: str = "trajectory"
    size: int = 31
    count: int = 1000
    seed: int = 0
    min_length: float = 3.0
    max_length: float | None = None

    def __post_init__(self) -> None:
        validate(self)

    def resolved_max_length(self) -> float:
        """``max_length`` with the default applied and clamped to the window."""
        m = self.size - 2.0 if self.max_length is None else float(self.max_length)
        return min(m, self.size - 1.0)


def validate(cfg: SynthesisConfig) -> None:
    """Check a :class:`SynthesisConfig`.

    Raises:
        ValueError: unknown family, ``size < 5``, ``count < 1``, or lengths out of order/range.
    """
    if cfg.family not in FAMILIES:
        raise ValueError(f"unknown kernel family {cfg.family!r}; choose one of {', '.join(FAMILIES)}")
    if cfg.size < 5:
        raise ValueError(f"kernel size must be at least 5 pixels, got {cfg.size}")
    if cfg.count < 1:
        raise ValueError(f"count must be at least 1, got {cfg.count}")
    if not 1.0 <= cfg.min_length <= cfg.resolved_max_length():
        raise ValueError(
            f"need 1 ≤ min_length ≤ max_length ≤ size − 1, got {cfg.min_length} and {cfg.resolved_max_length()}"
        )


def synthesize_kernels(cfg: SynthesisConfig, progress: Callable[[int], None] | None = None) -> tuple[np.ndarray, dict]:
    """Synthesise random motion-blur kernels.

    Args:
        cfg: the settings (family, window size, count, seed, length range).
        progress: optional callback receiving the number of kernels finished after each chunk.

    Returns:
        ``(kernels, info)``: ``kernels`` is ``(N, S, S)`` float32, each non-negative, summing to 1
        (±1e-6) with its centre of mass at the window centre ``((S − 1)/2, (S − 1)/2)``;
        ``info`` maps ``"config"`` to ``asdict(cfg)`` and each per-kernel parameter name to an
        ``(N,)`` array (``length`` — the target extent in pixels — plus the family's own).

    Raises:
        ValueError: see :func:`validate` (checked when the config is built).
    """
    family = FAMILIES[cfg.family]
    children = np.random.SeedSequence(cfg.seed).spawn((cfg.count + CHUNK - 1) // CHUNK)
    kernels = np.empty((cfg.count, cfg.size, cfg.size), dtype=np.float32)
    per_kernel: dict[str, list[np.ndarray]] = {}
    done = 0
    for child in children:
        rng = np.random.default_rng(child)
        n = min(CHUNK, cfg.count - done)
        points, params = family(rng, n)
        weights = params.pop("weights", None)
        lengths = rng.uniform(cfg.min_length, cfg.resolved_max_length(), n)
        pixels = fit_to_window(points, cfg.size, lengths, weights)
        kernels[done : done + n] = splat(pixels, cfg.size, weights)
        for key, value in {"length": lengths, **params}.items():
            per_kernel.setdefault(key, []).append(np.asarray(value))
        done += n
        if progress is not None:
            progress(done)
    info = {"config": asdict(cfg), **{k: np.concatenate(v) for k, v in per_kernel.items()}}
    return kernels, info


#: Families accepted by :func:`synthesize_training_set` (``mix`` = half trajectory, half gp).
TRAINING_FAMILIES = ("mix", *FAMILIES)


def synthesize_training_set(
    size: int, count: int, family: str = "mix", seed: int = 0, min_length: float = 3.0, max_length: float | None = None
) -> tuple[np.ndarray, dict]:
    """The synthetic kernel set the models train on: one family, or ``mix`` of two.

    ``mix`` draws ``count // 2`` Boracchi–Foi ``trajectory`` kernels (seed ``seed``) and the rest
    from the ``gp`` family (seed ``seed + 1``); the two families cover smooth sweeps and jerky,
    unevenly exposed paths.

    Args:
        size: window side ``S`` in pixels.
        count: number of kernels ``N ≥ 1``.
        family: ``mix`` or a key of :data:`FAMILIES`.
        seed: base seed.
        min_length: shortest blur extent (pixels).
        max_length: longest blur extent (pixels); ``None`` means ``S − 2``.

    Returns:
        ``((N, S, S) float32 kernels, description dict)`` — the description (source, family,
        per-part settings) is what weights record as their training data.

    Raises:
        ValueError: an unknown family or settings :class:`SynthesisConfig` rejects.
    """
    if family not in TRAINING_FAMILIES:
        raise ValueError(f"unknown kernel family {family!r}; choose one of {', '.join(TRAINING_FAMILIES)}")
    parts = [("trajectory", count // 2, seed), ("gp", count - count // 2, seed + 1)] if family == "mix" else [
        (family, count, seed)
    ]
    out, described = [], []
    for fam, n, s in parts:
        if n < 1:
            continue
        cfg = SynthesisConfig(fam, size, n, s, min_length=min_length, max_length=max_length)
        out.append(synthesize_kernels(cfg)[0])
        described.append({"family": fam, "count": n, "seed": s, "min_length": min_length, "max_length": cfg.resolved_max_length()})
    return np.concatenate(out), {"source": "synthesis", "family": family, "parts": described}


@dataclass
class UniformSample:
    """A uniformly blurred image with its ground-truth kernel (from :func:`synthesize_uniform`).

    Attributes:
        blurry: ``(H, W, C)`` float32 blurred (and noisy) image in ``[0, 1]``.
        kernel: ``(S, S)`` float32 kernel (non-negative, sum 1; true convolution, ``same`` boundary).
        noise: Gaussian noise σ added (``[0, 1]`` intensity units).
    """

    blurry: np.ndarray
    kernel: np.ndarray
    noise: float


def synthesize_uniform(
    sharp: np.ndarray,
    rng: np.random.Generator,
    size: int = 31,
    noise: float = 0.01,
    family: str = "trajectory",
    min_length: float = 3.0,
) -> UniformSample:
    """Blur a sharp image by one random motion kernel and add noise: ``y = k ⊛ x + n`` (uniform blur).

    The kernel is one draw of :func:`synthesize_kernels` (extent 3 … ``S − 2`` pixels); the blur is
    :func:`deblurkit.physics.blur` in ``same`` mode (replicated borders), the noise white Gaussian;
    the result is clipped to ``[0, 1]``. The uniform counterpart of
    :func:`deblurkit.kernels.camera_shake.synthesize_nonuniform`.

    Args:
        sharp: ``(H, W, C)`` float image in ``[0, 1]`` with ``H, W > S``.
        rng: the only source of randomness (kernel seed, then noise).
        size: kernel window side ``S`` in pixels.
        noise: Gaussian noise σ in ``[0, 1]`` units.
        family: a key of :data:`FAMILIES`.
        min_length: smallest extent of the kernel in pixels (``SynthesisConfig.min_length``).

    Returns:
        A :class:`UniformSample`.

    Raises:
        ValueError: bad image shape, an image not larger than the kernel, or settings
            :class:`SynthesisConfig` rejects.
    """
    import torch

    from deblurkit.physics import blur

    img = np.asarray(sharp, dtype=np.float32)
    if img.ndim != 3:
        raise ValueError(f"expected an (H, W, C) image, got shape {img.shape}")
    if min(img.shape[:2]) <= size:
        raise ValueError(f"the {img.shape[0]}×{img.shape[1]} image is not larger than the {size}-pixel kernel")
    k = synthesize_kernels(
        SynthesisConfig(family=family, size=size, count=1, seed=int(rng.integers(2**32)), min_length=min_length)
    )[0][0]
    with torch.no_grad():
        x = torch.from_numpy(img).permute(2, 0, 1)[None].double()
        y = blur(x, torch.from_numpy(k).double(), mode="same")[0].permute(1, 2, 0).numpy()
    if noise > 0:
        y = y + rng.normal(0.0, noise, y.shape)
    return UniformSample(np.clip(y, 0, 1).astype(np.float32), k.astype(np.float32), noise)
