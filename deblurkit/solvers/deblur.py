"""The engine entry point of uniform blind deblurring: :func:`deblur_image` (no CLI code).

It checks the input, fixes the kernel window side (:mod:`deblurkit.solvers.kernel_size`) and runs
one of two pipelines, which share the joint loop (:mod:`deblurkit.solvers.joint`), the window
selection (:mod:`deblurkit.solvers.windows`), the colour restoration and residual check
(:mod:`deblurkit.solvers.restore`) and the result record (:mod:`deblurkit.solvers.result`):

- the coarse-to-fine pipeline (:func:`deblurkit.solvers.blind.deblur_image_pyramid`) for the GLKM
  and free kernels — the default;
- the DIP pipeline (:func:`deblurkit.solvers.dip_pipeline.deblur_image_dip`: GLKM Algorithm 2 in
  the ``paper`` preset, SelfDeblur's FCN kernel prior).
"""

from __future__ import annotations

import numpy as np
import torch

from deblurkit.models.kernel_gan import KernelGenerator
from deblurkit.solvers.blind import deblur_image_pyramid
from deblurkit.solvers.dip_pipeline import deblur_image_dip
from deblurkit.solvers.image_priors import ImagePrior
from deblurkit.solvers.joint import Progress
from deblurkit.solvers.kernel_size import auto_kernel_size
from deblurkit.solvers.presets import Preset, get_preset
from deblurkit.solvers.result import DeblurResult


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
    image_prior: str | ImagePrior = "l0",
) -> DeblurResult:
    """Blind deblurring of one image: coarse-to-fine GLKM / free kernel, or the DIP pipeline.

    ``kernel_prior="glkm"`` with ``Preset.estimator="pyramid"`` (every preset but ``paper``) and
    ``"free"`` run :func:`deblurkit.solvers.blind.deblur_image_pyramid`; ``"fcn"`` and ``"glkm"``
    with ``estimator="dip"`` run :func:`deblurkit.solvers.dip_pipeline.deblur_image_dip`.

    Args:
        img: ``(H, W, C)`` float32 blurry image in ``[0, 1]`` (values outside are clipped),
            ``C ∈ {1, 3}``, ``H, W ≥ 32``.
        kernel_prior: ``"glkm"`` (needs ``generator``), ``"free"`` (pixel kernel, coarse to fine)
            or ``"fcn"`` (SelfDeblur's kernel net).
        preset: ``"fast"``, ``"paper"`` or a :class:`~deblurkit.solvers.presets.Preset`.
        kernel_size: ``S`` in pixels (odd), or ``"auto"`` (GLKM: the generator's size; otherwise
            :func:`~deblurkit.solvers.kernel_size.auto_kernel_size`).
        generator: the kernel generator for GLKM (frozen and put in eval mode).
        initializer: optional kernel initializer ``E``; GLKM starts at ``g1(E(y))`` (GLKM Algorithm 2
            line 1), or ``relu(E(y))`` for an encoder into ``w``
            (:func:`~deblurkit.solvers.initial_kernel.initial_feature_map`).
        latent: DIP pipeline: optional ``(1, latent_dim, 1, 1)`` initial code when there is no
            initializer (``z = 0`` otherwise).
        seed: makes the run deterministic on the CPU.
        progress: ``progress(step, total, loss)``, called every optimisation step; in the DIP
            pipeline ``step`` and ``total`` count the steps of all the kernel estimates started so
            far (several may run at once, see ``workers``).
        device: ``"cpu"`` or a CUDA device.
        workers: DIP pipeline: kernel estimates computed concurrently (threads, each on
            ``torch.get_num_threads() // workers`` intra-op threads;
            :func:`~deblurkit.solvers.attempts.estimate_workers`). The result depends only on the
            threads per estimate, not on ``workers``.
        image_prior: coarse-to-fine pipeline: ``"l0"`` or a network prior (``"dip"``, ``"vdip-std"``,
            ``"vdip-sparse"``, ``"vdip-extreme"``: adds GLKM Algorithm 2's joint refinement with that
            image prior, :mod:`deblurkit.solvers.image_priors`; or a built
            :class:`~deblurkit.solvers.image_priors.ImagePrior` such as the diffusion priors of
            :mod:`deblurkit.solvers.diffusion_priors`); DIP pipeline (``"fcn"``): the image
            network's prior (``"l0"`` means ``"dip"`` there).

    Returns:
        :class:`~deblurkit.solvers.result.DeblurResult`: the restored image (all channels), the
        kernel, the loss summary, timings and divergence / fall-back notes.

    Raises:
        ValueError: bad image shape or non-finite values, an image smaller than 32×32 or than 2× the
            kernel, unknown prior/preset, GLKM without generator or with a mismatched size,
            ``workers < 1``.
    """
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
    H, W, _ = img.shape
    if min(H, W) < 32:
        raise ValueError(f"the image is {H}×{W}; blind deblurring needs at least 32×32 pixels")
    img = np.clip(img.astype(np.float32), 0.0, 1.0)
    device = torch.device(device)

    if kernel_prior == "glkm" and kernel_size != "auto" and int(kernel_size) != generator.config.size:
        raise ValueError(f"kernel size {kernel_size} differs from the generator's {generator.config.size}; load that size's generator")
    if kernel_size == "auto":
        S = generator.config.size if kernel_prior == "glkm" else auto_kernel_size(H, W)
    else:
        S = int(kernel_size)
        if S < 3:
            raise ValueError(f"kernel size must be ≥ 3, got {S}")
    if 2 * S > min(H, W):
        raise ValueError(f"a {S}×{S} kernel needs an image of at least {2 * S}×{2 * S} pixels, got {H}×{W}")

    if kernel_prior == "free" or (kernel_prior == "glkm" and p.estimator == "pyramid"):
        torch.manual_seed(seed)
        return deblur_image_pyramid(
            img, kernel_prior, S, p, generator=generator, initializer=initializer, image_prior=image_prior,
            seed=seed, progress=progress, device=device,
        )
    return deblur_image_dip(
        img, kernel_prior, S, p, generator=generator, initializer=initializer, latent=latent, seed=seed,
        progress=progress, device=device, workers=workers, image_prior="dip" if image_prior == "l0" else image_prior,
    )
