"""The coarse-to-fine pipeline of uniform blind deblurring (the default): kernel estimation, then restoration.

:func:`deblur_image_pyramid` (called by :func:`deblurkit.solvers.deblur.deblur_image` for the
``"glkm"`` and ``"free"`` kernel models):

1. the luminance's most informative window (the whole image up to
   :data:`~deblurkit.solvers.windows.WINDOW` pixels a side,
   :func:`deblurkit.solvers.windows.informative_crop`);
2. the coarse-to-fine estimator of :mod:`deblurkit.solvers.coarse_to_fine` (L0 image updates,
   kernel updates in GLKM's latent space or as a free pixel kernel), started from the
   initializer's ``g1(E(y))`` and the generator's mean code, the start chosen by data fit alone;
3. with a network image prior (``"dip"``, ``"vdip-std"``, ``"vdip-sparse"``, ``"vdip-extreme"``,
   :mod:`deblurkit.solvers.image_priors`): GLKM Algorithm 2's joint image-network + ``w_k``
   optimisation on the window, started from the estimated code
   (:func:`deblurkit.solvers.joint.solve_with_restarts`), for the preset's schedule;
4. the colour restoration of :mod:`deblurkit.solvers.restore` (non-blind hyper-Laplacian
   deconvolution of every channel at full resolution);
5. the no-reference residual check: the restored luminance re-blurred by the kernel must explain
   the input to within ``Preset.max_residual_ratio`` × the noise budget ``σ̂² + τ²``, else the
   input is returned unchanged ("do no harm").
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from deblurkit.models.kernel_gan import KernelGenerator
from deblurkit.physics.noise import estimate_noise_std
from deblurkit.solvers.coarse_to_fine import PyramidConfig, estimate_kernel_c2f
from deblurkit.solvers.image_priors import IMAGE_PRIOR_NAMES, ImagePrior, make_image_prior
from deblurkit.solvers.initial_kernel import initial_feature_map, luminance_tensor
from deblurkit.solvers.inversion import FitConfig, fit_generator
from deblurkit.solvers.joint import Progress, solve_with_restarts
from deblurkit.solvers.kernel_priors import make_prior
from deblurkit.solvers.nonblind import deconvolve
from deblurkit.solvers.presets import Preset
from deblurkit.solvers.restore import (
    clean_kernel,
    noise_budget,
    reject_collapsed,
    residual_mse,
)
from deblurkit.solvers.result import DeblurResult, loss_summary
from deblurkit.solvers.windows import estimation_window, informative_crop

#: The image priors of the pipeline: ``"l0"`` (the estimator's sparse-gradient prior only) and the
#: network priors of :mod:`deblurkit.solvers.image_priors` (add GLKM Algorithm 2's joint refinement).
IMAGE_PRIORS = ("l0", *IMAGE_PRIOR_NAMES)


def deblur_image_pyramid(
    img: np.ndarray,
    kernel_model: str,
    kernel_size: int,
    preset: Preset,
    generator: KernelGenerator | None = None,
    initializer: torch.nn.Module | None = None,
    image_prior: str | ImagePrior = "l0",
    seed: int = 0,
    progress: Progress | None = None,
    device: torch.device | str = "cpu",
    config: PyramidConfig | None = None,
) -> DeblurResult:
    """Blind uniform deblurring of one image by the pipeline of the module docstring.

    Args:
        img: ``(H, W, C)`` float32 image in ``[0, 1]``, ``C ∈ {1, 3}`` (validated by the caller).
        kernel_model: ``"glkm"`` (kernel ``G_k^{(w)}(w_k)`` of ``generator``) or ``"free"``.
        kernel_size: kernel side ``S`` in pixels (odd; GLKM: the generator's).
        preset: gives the non-blind settings, the kernel clean-up threshold, the residual limit and,
            for a network image prior, the DIP schedule.
        generator: the kernel generator (``"glkm"``, and the network image priors).
        initializer: optional kernel initializer ``E``; adds the start ``g1(E(y))``.
        image_prior: ``"l0"``, a prior name of :data:`IMAGE_PRIORS` or an
            :class:`~deblurkit.solvers.image_priors.ImagePrior` (a diffusion prior is passed built,
            with its model; all but ``"l0"`` need ``kernel_model="glkm"``).
        seed: seeds the random starts and the DIP.
        progress: ``progress(step, total, loss)``; the estimator's steps, then the DIP's.
        device: ``"cpu"`` or a CUDA device.
        config: estimator settings (:class:`~deblurkit.solvers.coarse_to_fine.PyramidConfig`).

    Returns:
        :class:`~deblurkit.solvers.result.DeblurResult` (``kernel_prior`` is ``kernel_model``; one
        record in ``attempts``).

    Raises:
        ValueError: unknown ``kernel_model`` / ``image_prior``; a network prior without GLKM; a window
            too small for the kernel.
    """
    if isinstance(image_prior, str) and image_prior not in IMAGE_PRIORS:
        raise ValueError(f"unknown image prior {image_prior!r}; use one of {', '.join(IMAGE_PRIORS)}")
    prior_name = image_prior if isinstance(image_prior, str) else image_prior.name
    if prior_name != "l0" and kernel_model != "glkm":
        raise ValueError(f"the {prior_name} refinement optimises GLKM's latent code: use kernel model 'glkm'")
    t0 = time.perf_counter()
    device = torch.device(device)
    H, W, _ = img.shape
    S = kernel_size
    y_full = luminance_tensor(img, device)
    side = estimation_window(H, W, S)
    crop = informative_crop(y_full, side)
    t, l, ch, cw = crop
    y = y_full[..., t : t + ch, l : l + cw]
    noise_y = estimate_noise_std(y)
    starts = []
    if kernel_model == "glkm" and initializer is not None:
        generator.to(device).eval()
        starts.append(("initializer g1(E(y))", initial_feature_map(initializer.to(device), generator, y).clone()))
    notes: list[str] = []
    est = estimate_kernel_c2f(
        y, S, kernel_model, generator, starts, config=config, noise_std=noise_y, seed=seed, progress=progress
    )
    k_raw = torch.from_numpy(est.kernel)
    chosen = est.starts[est.chosen]["name"] if est.starts else "box"
    notes.append(f"kernel estimated coarse to fine over {len(est.levels)} levels on window {list(crop)}; start: {chosen}")
    t_est = time.perf_counter() - t0
    losses = list(est.energies)
    code = est.w
    if prior_name != "l0":
        p = preset
        w_start = est.w
        if w_start is None:
            # the kernel ended as a pixel kernel: its code by fitting the generator in w space
            _, _, w_start = fit_generator(generator, k_raw[None].float(), "w", FitConfig(steps_w=300, lr_w=0.1, restarts_w=2, seed=seed), return_codes=True)
            w_start = w_start.to(device)
        res, prior, dnotes, _ = solve_with_restarts(
            y, lambda s: make_prior("glkm", S, generator, None, w_start, s, device), p, seed=seed, progress=progress,
            image_prior=make_image_prior(image_prior),
        )
        notes += dnotes
        if res is not None:
            k_raw = res.kernel.detach().cpu().float()
            losses = res.losses
            code = prior.w.detach().clone()
            notes.append(f"kernel refined by the joint {prior_name} + w_k optimisation ({len(res.losses)} steps)")
        else:
            notes.append(f"the {prior_name} refinement diverged; kept the coarse-to-fine kernel")
        t_est = time.perf_counter() - t0

    t1 = time.perf_counter()
    rgb = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).to(device)
    nb_cfg, noise_std = preset.nonblind.resolve_with_noise(rgb)
    budget = noise_budget(noise_std, preset.nonblind)
    k_used = clean_kernel(k_raw, preset.kernel_threshold)
    out = deconvolve(rgb, k_used.to(rgb.device), nb_cfg)
    fallback = None
    out, lum_out, reason = reject_collapsed(out, rgb, y_full)
    if reason is not None:
        notes.append(f"restored image rejected ({reason}); returning the input")
        fallback = "input returned"
    fit = residual_mse(lum_out, y_full, k_used)
    ratio = fit / budget if math.isfinite(fit) else math.inf
    if fallback is None and ratio > preset.max_residual_ratio:
        notes.append(
            f"the kernel estimate does not explain the input (residual {ratio:.2f}× the noise budget σ̂² + τ², "
            f"limit {preset.max_residual_ratio:g}); returning the input"
        )
        fallback, out = "input returned (residual check)", rgb.clone()
    t_rest = time.perf_counter() - t1
    record = {
        "crop": list(crop),
        "seed": seed,
        "width": 0,
        "residual_ratio": ratio if math.isfinite(ratio) else None,
        "support": 0,
        "fallback": fallback,
        "starts": est.starts,
        "kernel": np.round(k_used.float().numpy(), 6).tolist(),
    }
    return DeblurResult(
        image=out.permute(1, 2, 0).cpu().numpy().astype(np.float32),
        kernel=k_used.float().numpy(),
        kernel_raw=k_raw.float().numpy(),
        kernel_size=S,
        kernel_prior=kernel_model,
        preset=preset.name,
        crop=crop,
        loss=loss_summary(losses),
        data_fit_mse=fit,
        timings={"estimate": t_est, "restore": t_rest, "total": time.perf_counter() - t0, "workers": 1, "threads_per_estimate": torch.get_num_threads()},
        restarts=0,
        fallback=fallback,
        notes=notes,
        kernel_code=code,
        nonblind={"boundary": nb_cfg.boundary, "lam": float(nb_cfg.lam), "noise_std": noise_std, "residual_ratio": ratio if math.isfinite(ratio) else None},
        returned_input=bool(torch.equal(out, rgb)),
        attempts=[record],
    )
