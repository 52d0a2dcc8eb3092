"""How good is the kernel initializer? (GLKM §IV-C)

For each blurry image the initial kernel ``G(E(y))`` is compared with the true kernel by MNC
(:func:`deblurkit.metrics.mnc_batch`, shift- and 180°-flip-tolerant). Two baselines are measured
the same way:

- ``random_latent``: ``G(z)`` with ``z ~ N(0, I)`` (the mean over ``n_random`` draws per image) —
  what the generator gives without the initializer;
- ``mean_kernel``: the best fixed kernel, the mean of the training kernels.

Sets: the validation split of the sharp photos blurred by *fresh* kernels (a synthesis seed not
used in training), and optionally Levin et al.'s 32 blurry images with their true kernels.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from deblurkit.datasets import BlurryPatchConfig, BlurryPatches
from deblurkit.errors import DeblurkitError
from deblurkit.io import read_image, read_kernel
from deblurkit.metrics import mnc_batch
from deblurkit.models.initializer import KernelInitializer
from deblurkit.models.kernel_gan import KernelGenerator
from deblurkit.solvers import initial_kernel, luminance_tensor

LEVIN_BLURRY = re.compile(r"^im(\d+)_kernel(\d+)_img$")


def _scores(
    encoder: KernelInitializer,
    generator: KernelGenerator,
    samples: Sequence[tuple[str, torch.Tensor, np.ndarray]],
    mean_kernel: np.ndarray,
    n_random: int,
    seed: int,
    progress: Callable[[int], None] | None,
) -> dict:
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for i, (name, y, k_true) in enumerate(samples):
        k0 = initial_kernel(encoder, generator, y)[0, 0]
        with torch.no_grad():
            k_rand = generator(generator.sample_latent(n_random, gen))[:, 0]
        rows.append(
            {
                "name": name,
                "mnc_init": float(mnc_batch(k0, k_true).mnc[0]),
                "mnc_random_latent": float(mnc_batch(k_rand, k_true).mnc.mean()),
                "mnc_mean_kernel": float(mnc_batch(mean_kernel, k_true).mnc[0]),
            }
        )
        if progress is not None:
            progress(i + 1)
    keys = ("mnc_init", "mnc_random_latent", "mnc_mean_kernel")
    return {"per_image": rows, **{f"mean_{k}": float(np.mean([r[k] for r in rows])) for k in keys}}


def levin_samples(folder: str | Path) -> list[tuple[str, torch.Tensor, np.ndarray]]:
    """Levin et al.'s blurry images and true kernels: ``(name, y (1,1,H,W), kernel (h,w))`` sorted by name.

    Layout: ``FOLDER/imM_kernelN_img.png`` and ``FOLDER/gt/kernelN.png``.

    Raises:
        DeblurkitError: missing folder, no blurry image, or a missing kernel file.
    """
    folder = Path(folder)
    files = sorted(p for p in folder.glob("*.png") if LEVIN_BLURRY.match(p.stem)) if folder.is_dir() else []
    if not files:
        raise DeblurkitError(f"no Levin blurry images (imM_kernelN_img.png) in {folder}")
    out = []
    for p in files:
        n = LEVIN_BLURRY.match(p.stem).group(2)
        img, _ = read_image(p)
        out.append((p.stem, luminance_tensor(img), read_kernel(folder / "gt" / f"kernel{n}.png")))
    return out


def validation_samples(
    images: Sequence[np.ndarray], kernels: np.ndarray, count: int, crop: int = 256, noise: float = 0.01, seed: int = 1
) -> list[tuple[str, torch.Tensor, np.ndarray]]:
    """Blurry validation crops of held-out images by held-out kernels: ``(name, y, kernel)``.

    Args:
        images: validation-split luminance images ``(H, W)`` in ``[0, 1]`` (sides ``≥ crop``).
        kernels: ``(N, S, S)`` fresh kernels (a synthesis seed not used for training).
        count: number of samples (sample ``i`` uses kernel ``i mod N``).
        crop: crop side in pixels.
        noise: largest noise σ ([0, 1] units).
        seed: seed of crops and noise.
    """
    data = BlurryPatches(images, torch.from_numpy(kernels), count, BlurryPatchConfig(crop, noise, 0.0), seed)
    out = []
    for i in range(count):
        y, idx = data[i]
        out.append((f"val_{i:04d}", y[None], kernels[idx]))
    return out


def initializer_report(
    encoder: KernelInitializer,
    generator: KernelGenerator,
    training_kernels: np.ndarray,
    validation: Sequence[tuple[str, torch.Tensor, np.ndarray]] = (),
    levin: Sequence[tuple[str, torch.Tensor, np.ndarray]] = (),
    n_random: int = 16,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """Mean MNC of ``G(E(y))`` and of the two baselines on the given sets.

    Args:
        encoder: trained initializer (eval mode is set).
        generator: its kernel generator.
        training_kernels: ``(N, S, S)`` kernels the initializer was trained on (for the mean kernel).
        validation: samples from :func:`validation_samples`.
        levin: samples from :func:`levin_samples`.
        n_random: random latents per image for the ``random_latent`` baseline.
        seed: seed of the random latents.
        progress: called with the number of images done (over both sets).

    Returns:
        ``{"validation": {...}, "levin": {...}}`` (a set given as empty is left out); each has
        ``per_image`` rows (``name``, ``mnc_init``, ``mnc_random_latent``, ``mnc_mean_kernel``) and
        their means ``mean_mnc_init``, ``mean_mnc_random_latent``, ``mean_mnc_mean_kernel``.
    """
    mean_kernel = np.asarray(training_kernels, dtype=np.float64).mean(axis=0)
    out, done = {}, 0

    def bump(n: int) -> None:
        if progress is not None:
            progress(done + n)

    for key, samples in (("validation", validation), ("levin", levin)):
        if samples:
            out[key] = _scores(encoder, generator, samples, mean_kernel, n_random, seed, bump)
            done += len(samples)
    return out
