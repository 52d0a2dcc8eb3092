"""The DIP pipeline of uniform blind deblurring: GLKM Algorithm 2 (``paper`` preset) and SelfDeblur (FCN prior).

:func:`deblur_image_dip` (called by :func:`deblurkit.solvers.deblur.deblur_image` for
``kernel_prior="fcn"`` and for GLKM with ``Preset.estimator="dip"``):

1. the luminance window(s) to estimate on (:mod:`deblurkit.solvers.windows`): the whole image
   (``Preset.crop = None``, as in the paper) or the most informative ``max(crop, 4 S)`` windows;
2. per estimate, the joint DIP + kernel optimisation with divergence restarts
   (:func:`deblurkit.solvers.joint.solve_with_restarts`), GLKM started from ``g1(E(y))`` of the
   kernel initializer on the whole luminance (GLKM Algorithm 2 line 1);
3. per estimate, the colour restoration of the full-resolution input (:mod:`deblurkit.solvers.restore`);
4. the residual check and cross-check over the estimates (:mod:`deblurkit.solvers.attempts`); when
   even the kept estimate's residual ratio exceeds ``Preset.max_residual_ratio`` the input is
   returned unchanged ("do no harm").
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np
import torch

from deblurkit.models.kernel_gan import KernelGenerator
from deblurkit.solvers.attempts import (
    Attempt,
    ProgressMux,
    Window,
    choose,
    estimate_workers,
    run_attempts,
)
from deblurkit.solvers.image_priors import ImagePrior, make_image_prior
from deblurkit.solvers.initial_kernel import initial_feature_map, luminance_tensor
from deblurkit.solvers.joint import Progress, solve_with_restarts
from deblurkit.solvers.kernel_priors import GLKMPrior, KernelPrior, make_prior
from deblurkit.solvers.nonblind import HyperLaplacianConfig, deconvolve
from deblurkit.solvers.presets import Preset
from deblurkit.solvers.restore import (
    clean_kernel,
    noise_budget,
    reject_collapsed,
    residual_mse,
    with_dip_luminance,
)
from deblurkit.solvers.result import DeblurResult, loss_summary
from deblurkit.solvers.windows import informative_crops


def deblur_image_dip(
    img: np.ndarray,
    kernel_prior: str,
    kernel_size: int,
    preset: Preset,
    generator: KernelGenerator | None = None,
    initializer: torch.nn.Module | None = None,
    latent: torch.Tensor | None = None,
    seed: int = 0,
    progress: Progress | None = None,
    device: torch.device | str = "cpu",
    workers: int | None = None,
    image_prior: str | ImagePrior = "dip",
) -> DeblurResult:
    """Blind uniform deblurring of one image by the pipeline of the module docstring.

    Args:
        img: ``(H, W, C)`` float32 image in ``[0, 1]``, ``C ∈ {1, 3}`` (validated by the caller).
        kernel_prior: ``"glkm"`` (needs ``generator``) or ``"fcn"``.
        kernel_size: kernel side ``S`` in pixels (GLKM: the generator's).
        preset: the run's settings.
        generator: the kernel generator for GLKM (put in eval mode here).
        initializer: optional kernel initializer ``E``: GLKM starts at
            :func:`~deblurkit.solvers.initial_kernel.initial_feature_map` of the whole luminance;
            without it at ``g1(latent)``, ``latent = 0`` when not given.
        latent: optional ``(1, latent_dim, 1, 1)`` initial code when there is no initializer.
        seed: estimate ``a`` uses the base seed ``seed + a · (max_restarts + 1)``; a restart after
            a divergence adds 1.
        progress: ``progress(step, total, loss)`` over all the estimates started so far.
        device: ``"cpu"`` or a CUDA device.
        workers: estimates computed concurrently (:func:`~deblurkit.solvers.attempts.estimate_workers`).
        image_prior: the image network's prior (:data:`~deblurkit.solvers.image_priors.IMAGE_PRIOR_NAMES`:
            ``"dip"`` as SelfDeblur / GLKM Algorithm 2, or a VDIP variant), or a built
            :class:`~deblurkit.solvers.image_priors.ImagePrior` (the diffusion priors).

    Returns:
        :class:`~deblurkit.solvers.result.DeblurResult` of the kept estimate, one record per
        estimate in ``attempts``.

    Raises:
        ValueError: ``workers < 1``; GLKM with a mismatched size; an unknown ``image_prior``.
    """
    ip = make_image_prior(image_prior)  # built once (stateless), shared by every estimate
    t_start = time.perf_counter()
    p = preset
    device = torch.device(device)
    H, W, _ = img.shape
    S = kernel_size
    y = luminance_tensor(img, device)  # (1, 1, H, W)
    w0 = None
    if kernel_prior == "glkm" and generator is not None:
        # the initial feature map, kept so that every estimate and restart starts from the same w_k
        generator.to(device).eval()
        if initializer is not None:
            w0 = initial_feature_map(initializer.to(device), generator, y).clone()
        else:
            with torch.no_grad():
                zz = latent if latent is not None else torch.zeros(1, generator.config.latent_dim, 1, 1)
                w0 = generator.first_layer(zz.to(device)).clone()

    if p.crop is None:
        crops = [(0, 0, H, W)]
    else:
        # one window per possible estimate: a re-estimate looks at other image content
        side = max(p.crop, 4 * S)
        crops = informative_crops(y, side, 1 + p.residual_retries)
        if side > p.crop and p.wide_width is not None:
            p = p.with_(width=p.wide_width)  # a window wider than `crop`: the wider network

    rgb = torch.from_numpy(img).permute(2, 0, 1).to(device)
    nb_cfg, noise_std = p.nonblind.resolve_with_noise(rgb)
    budget = noise_budget(noise_std, p.nonblind)
    n_workers = estimate_workers(workers, p, device)
    plan = [(seed + a * (p.max_restarts + 1), crops[a % len(crops)]) for a in range(1 + p.residual_retries)]
    report = ProgressMux(progress) if progress is not None else None

    def attempt(a: int) -> Attempt:
        s, window = plan[a]
        att = _estimate_and_restore(
            window, y, rgb, p, nb_cfg, s, report.for_attempt(a) if report is not None else None, S,
            lambda r: make_prior(kernel_prior, S, generator, latent, w0, r, device),
            lambda: make_prior("glkm", S, generator, latent, w0, seed, device) if kernel_prior == "glkm" else None,
            ip,
        )
        att.ratio = att.fit / budget if math.isfinite(att.fit) else math.inf
        att.seed, att.width = s, p.width
        return att

    attempts, support, threads_per_estimate = run_attempts(attempt, plan, n_workers, p)
    chosen = attempts[choose(attempts, support, p)]
    notes = [n for t in attempts for n in t.notes]
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
        loss=loss_summary(chosen.best.losses if chosen.best is not None else []),
        data_fit_mse=fit,
        timings={
            "estimate": sum(t.t_est for t in attempts),
            "restore": sum(t.t_rest for t in attempts),
            "total": time.perf_counter() - t_start,
            "workers": n_workers,
            "threads_per_estimate": threads_per_estimate,
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


def _estimate_and_restore(
    crop: Window,
    y: torch.Tensor,
    rgb: torch.Tensor,
    p: Preset,
    nb_cfg: HyperLaplacianConfig,
    seed: int,
    progress: Progress | None,
    size: int,
    build_prior: Callable[[int], KernelPrior],
    initial_prior: Callable[[], KernelPrior | None],
    image_prior: ImagePrior | None = None,
) -> Attempt:
    """One estimate: the kernel on the window ``crop`` of ``y`` (with divergence restarts), then the restoration of ``rgb``.

    ``crop`` ``(top, left, h, w)`` in pixels; ``y`` ``(1, 1, H, W)`` the input's luminance and
    ``rgb`` ``(C, H, W)`` the input, both ``[0, 1]``; ``size`` the kernel side in pixels. When
    every restart diverges the fall-back kernel is the prior's initial one (GLKM: ``G(w0)``; FCN: a
    small centred box blur is no better than doing nothing, so the input is returned). Returns the
    estimate with ``fit`` = :func:`~deblurkit.solvers.restore.residual_mse` of the restoration.
    """
    t, l, ch, cw = crop
    t_est = time.perf_counter()
    best, best_prior, notes, restarts = solve_with_restarts(
        y[..., t : t + ch, l : l + cw], build_prior, p, seed=seed, progress=progress,
        image_prior=image_prior,
    )
    fallback = None
    t_est = time.perf_counter() - t_est

    if best is None:
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
        out = with_dip_luminance(out, x_dip)
    out, lum_out, reason = reject_collapsed(out, rgb, y)
    if reason is not None:
        notes.append(f"restored image rejected ({reason}); returning the input")
        fallback = (fallback + "; " if fallback else "") + "input returned"
    t_rest = time.perf_counter() - t_rest
    fit = residual_mse(lum_out, y, k_used)
    return Attempt(best, best_prior, k_raw, k_used, out, fit, notes, restarts, fallback, t_est, t_rest, crop)
