"""Blind non-uniform deblurring: GLKM Algorithm 4 (SVOLA + latent kernel model), coarse-to-fine.

1. **Global kernel** — the uniform solver (:func:`deblurkit.solvers.deblur.deblur_image`, its
   preset, its divergence handling) estimates one kernel for the whole image, started by the
   kernel initializer when there is one.
2. **Latent code of the global kernel** (``field="free"``) — with the GLKM prior the optimised ``w_k`` is taken as
   it is; if the global stage used the FCN prior, ``w_k`` is found by fitting the frozen generator
   to that kernel in ``w`` space (:func:`deblurkit.solvers.inversion.fit_generator`).
3. **Patch kernels**, by one of two field models (``field``):

   - ``"camera"``: one camera motion renders every patch kernel
     (:mod:`deblurkit.solvers.camera_field`: Whyte et al. 2012's projective model, in-plane poses),
     started from the global kernel as a pure translation and estimated by L0 image updates and
     pose updates under SVOLA;
   - ``"free"``: every patch's ``w_ki`` starts at ``w_k`` (GLKM Algorithm 4 line 1) and all
     of them are optimised jointly with a DIP image network under the SVOLA operator
   (:class:`deblurkit.physics.svola.SVOLABlur`) on the whole luminance; this is
   :func:`deblurkit.solvers.joint.joint_optimize` with that operator — the uniform loop, not a
   copy of it. Sharing one latent space keeps neighbouring kernels alike (GLKM §V-B).
4. **Restoration** — every colour channel is deconvolved patch-wise with the patch kernels and
   blended by the SVOLA windows (:func:`deblurkit.solvers.nonblind.deconvolve_patchwise`); the
   ``paper`` preset returns the DIP's luminance with patch-wise deconvolved chroma instead
   (:func:`deblurkit.solvers.restore.with_dip_luminance`).

If the joint stage diverges after its restarts, the global (uniform) result is returned and the
JSON says so.

Grid: ``grid="auto"`` is :func:`deblurkit.physics.svola.default_grid` (one patch per ~128 px).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from dataclasses import field as dc_field

import numpy as np
import torch

from deblurkit.models.kernel_gan import KernelGenerator
from deblurkit.physics.svola import SVOLABlur, default_grid, grid_centres
from deblurkit.solvers.camera_field import estimate_camera_field
from deblurkit.solvers.deblur import deblur_image
from deblurkit.solvers.initial_kernel import luminance_tensor
from deblurkit.solvers.inversion import FitConfig, fit_generator
from deblurkit.solvers.joint import Progress, check_collapse, solve_with_restarts
from deblurkit.solvers.kernel_priors import GLKMPrior
from deblurkit.solvers.nonblind import deconvolve_patchwise
from deblurkit.solvers.presets import NonUniformPreset, Preset, get_nonuniform_preset
from deblurkit.solvers.restore import noise_budget, with_dip_luminance
from deblurkit.solvers.result import DeblurResult, loss_summary

#: The kernel-field models of the patch stage: one camera motion for every patch, or free latent codes.
FIELDS = ("camera", "free")

#: Generator fit used to find ``w_k`` of a global kernel that did not come from the GLKM prior.
CODE_FIT = FitConfig(steps_w=300, lr_w=0.1, restarts_w=4, seed=0)


@dataclass
class NonUniformResult:
    """Result of :func:`deblur_image_nonuniform` (JSON-friendly through :meth:`summary`).

    Attributes:
        image: ``(H, W, C)`` float32 restored image in ``[0, 1]``.
        kernels: ``(rows, cols, S, S)`` float32 patch kernels (true convolution, each summing to
            1), row-major over the grid; patch ``(r, c)`` is centred at ``centres[r][c]``.
        grid: ``(rows, cols)``.
        centres: ``(rows, cols, 2)`` int pixel positions ``(row, col)`` of the patch centres in the
            input image.
        global_result: the uniform first stage.
        preset: preset name.
        loss: summary of the joint stage's loss history.
        data_fit_mse: MSE of the joint stage's SVOLA model against the input luminance.
        timings: seconds per stage (``global``, ``joint``, ``restore``, ``total``).
        restarts: restarts of the joint stage.
        fallback: ``None`` or what was returned instead: ``"global (uniform) result"`` (the joint
            stage diverged or failed the residual check) or ``"input returned (global stage)"``
            (the global stage returned the input, so the joint stage, which would start from
            its rejected kernel, was skipped).
        notes: human-readable remarks.
        field: ``"camera"`` or ``"free"`` (how the patch kernels were estimated).
        camera_motion: ``field="camera"``: the estimated poses
            (:meth:`~deblurkit.physics.camera_field.CameraMotionField.record`), else ``None``.
        residual_ratio: the no-reference residual check of the patch-wise result (MSE of the
            re-blurred restored luminance against the input over ``σ̂² + τ²``; ``None`` if the
            joint stage diverged). Above the preset's ``max_residual_ratio`` the global result
            is returned.
    """

    image: np.ndarray
    kernels: np.ndarray
    grid: tuple[int, int]
    centres: np.ndarray
    global_result: DeblurResult
    preset: str
    loss: dict
    data_fit_mse: float
    timings: dict[str, float]
    restarts: int = 0
    fallback: str | None = None
    notes: list[str] = dc_field(default_factory=list)
    residual_ratio: float | None = None
    field: str = "free"
    camera_motion: dict | None = None

    @property
    def returned_input(self) -> bool:
        """``True`` when ``image`` is the input unchanged: the global stage returned it, so the joint
        stage was skipped (``fallback == "input returned (global stage)"``)."""
        return self.global_result.returned_input

    def summary(self) -> dict:
        """JSON-serialisable record (the kernels go to their own files)."""
        return {
            "preset": self.preset,
            "grid": list(self.grid),
            "kernel_size": int(self.kernels.shape[-1]),
            "patch_centres": self.centres.tolist(),
            "global": self.global_result.summary(),
            "loss": self.loss,
            "data_fit_mse": self.data_fit_mse,
            "timings": self.timings,
            "restarts": self.restarts,
            "fallback": self.fallback,
            "diverged": bool(self.restarts or self.fallback),
            "residual_ratio": self.residual_ratio if self.residual_ratio is None or np.isfinite(self.residual_ratio) else None,
            "notes": list(self.notes),
            "field": self.field,
            "camera_motion": self.camera_motion,
        }


def resolve_grid(grid: str | tuple[int, int], height: int, width: int, kernel_size: int) -> tuple[int, int]:
    """The grid to use: ``"auto"`` → :func:`default_grid`, else ``grid``, checked against the image.

    Raises:
        ValueError: if a patch would be narrower than the kernel (``height / rows < S``).
    """
    g = default_grid(height, width) if grid == "auto" else (int(grid[0]), int(grid[1]))
    if height / g[0] < kernel_size or width / g[1] < kernel_size:
        raise ValueError(
            f"a {g[0]}x{g[1]} grid on a {height}×{width} image gives patches smaller than the {kernel_size}×{kernel_size} kernel"
        )
    return g


def deblur_image_nonuniform(
    img: np.ndarray,
    generator: KernelGenerator,
    grid: str | tuple[int, int] = "auto",
    preset: str | NonUniformPreset = "fast",
    global_prior: str = "glkm",
    initializer: torch.nn.Module | None = None,
    field: str = "camera",
    seed: int = 0,
    progress: Progress | None = None,
    stage: callable | None = None,
    device: torch.device | str = "cpu",
) -> NonUniformResult:
    """Blind non-uniform deblurring of one image (GLKM Algorithm 4; module docstring).

    Args:
        img: ``(H, W, C)`` float32 blurry image in ``[0, 1]``, ``C ∈ {1, 3}``.
        generator: the kernel generator (its size ``S`` is the kernel size of every patch).
        grid: ``"auto"`` or ``(rows, cols)``.
        preset: ``"fast"``, ``"paper"`` or a :class:`~deblurkit.solvers.presets.NonUniformPreset`.
        global_prior: kernel prior of the global stage, ``"glkm"`` or ``"fcn"``.
        initializer: optional kernel initializer for the global stage (GLKM).
        field: ``"camera"`` (one camera motion renders every patch kernel,
            :mod:`deblurkit.solvers.camera_field`) or ``"free"`` (one latent code per patch with
            the DIP, GLKM Algorithm 4).
        seed: makes the run deterministic on the CPU.
        progress: ``progress(step, total, loss)`` for both stages' optimisation steps.
        stage: optional ``stage(name)`` called when a stage starts (``"global"``, ``"joint"``,
            ``"restore"``).
        device: ``"cpu"`` or a CUDA device.

    Returns:
        :class:`NonUniformResult`.

    Raises:
        ValueError: as :func:`deblurkit.solvers.deblur.deblur_image`; a grid too fine for the
            kernel size; an unknown preset or field.
    """
    if field not in FIELDS:
        raise ValueError(f"unknown kernel field {field!r}; use one of {', '.join(FIELDS)}")
    t_start = time.perf_counter()
    p = get_nonuniform_preset(preset)
    device = torch.device(device)
    img = np.clip(np.asarray(img, dtype=np.float32), 0.0, 1.0)
    if img.ndim != 3 or img.shape[2] not in (1, 3):
        raise ValueError(f"expected an (H, W, 1|3) image, got shape {img.shape}")
    H, W, _ = img.shape
    S = generator.config.size
    g = resolve_grid(grid, H, W, S)

    if stage:
        stage("global")
    glob = deblur_image(
        img,
        kernel_prior=global_prior,
        preset=p.global_,
        kernel_size=S,
        generator=generator if global_prior == "glkm" else None,
        initializer=initializer if global_prior == "glkm" else None,
        seed=seed,
        progress=progress,
        device=device,
    )
    t_global = time.perf_counter() - t_start
    notes = [f"global stage: {n}" for n in glob.notes]

    P = g[0] * g[1]
    y = luminance_tensor(img, device)
    kernels, dip_x, mse, restarts, t_joint, field_record, losses = None, None, float("nan"), 0, 0.0, None, []
    if glob.returned_input:
        # the global kernel was rejected (no kernel explained the input): the patch kernels
        # would start from it, so do no harm and keep the input
        notes.append("the global stage returned the input (no kernel explains it); joint stage skipped")
    elif field == "camera":
        if stage:
            stage("joint")
        t_joint = time.perf_counter()
        est = estimate_camera_field(y.cpu(), torch.from_numpy(glob.kernel_raw).float(), g, p.camera, progress)
        kernels = est.kernels.double()
        field_record = est.field.record()
        with torch.no_grad():
            fit = SVOLABlur(g, mode="same").A(est.latent.double(), kernels) - y.cpu().double()
        mse = float((fit[..., S:-S, S:-S] ** 2).mean())
        losses = est.energies
        notes.append(f"camera-motion field of {est.field.num_poses} poses, {len(est.energies)} alternations from the global kernel")
        t_joint = time.perf_counter() - t_joint
    else:
        # the global kernel's feature map w_k
        generator = generator.to(device).eval()
        if glob.kernel_code is not None:
            w0 = glob.kernel_code.to(device)
        else:
            target = torch.from_numpy(glob.kernel_raw).float()[None]
            _, _, w0 = fit_generator(generator, target, "w", CODE_FIT, return_codes=True)
            w0 = w0.to(device)
            notes.append("w_k of the global kernel found by fitting the generator in w space")

        if stage:
            stage("joint")
        t_joint = time.perf_counter()
        op = SVOLABlur(g, mode="valid")
        best, _, joint_notes, restarts = solve_with_restarts(
            y,
            lambda s: GLKMPrior(generator, w=w0.expand(P, *w0.shape[1:]).clone()),
            p.joint,
            operator=op.A,
            seed=seed,
            progress=progress,
        )
        notes += [f"joint stage: {n}" for n in joint_notes]
        t_joint = time.perf_counter() - t_joint
        if best is not None:
            kernels, dip_x, mse, losses = best.kernel.reshape(P, S, S).cpu().double(), best.x, best.mse, best.losses
        else:
            notes.append("the joint stage diverged; returning the global (uniform) result")

    if stage:
        stage("restore")
    t_rest = time.perf_counter()
    fallback = None
    residual_ratio = None
    if kernels is None:
        fallback = "input returned (global stage)" if glob.returned_input else "global (uniform) result"
        kernels = torch.from_numpy(glob.kernel_raw).float().expand(P, S, S).clone()
        out = torch.from_numpy(glob.image).permute(2, 0, 1)
    else:
        th = p.joint.kernel_threshold
        if th > 0:  # zero the small taps; no recentring — the patches must stay registered
            kernels = torch.where(kernels >= th * kernels.amax(dim=(1, 2), keepdim=True), kernels, torch.zeros_like(kernels))
            kernels = kernels / kernels.sum(dim=(1, 2), keepdim=True)
        rgb = torch.from_numpy(img).permute(2, 0, 1)
        nb = p.joint.nonblind
        if nb.lam == "auto":  # the noise level was estimated once, by the global stage
            nb = replace(nb, lam=nb.lam_for(glob.nonblind["noise_std"]))
        out = deconvolve_patchwise(rgb, kernels.float(), g, nb)
        if p.joint.final == "dip" and dip_x is not None:
            out = with_dip_luminance(out, dip_x)
        lum_out = luminance_tensor(out.permute(1, 2, 0).numpy())
        reason = check_collapse(lum_out, y.cpu())
        ratio = _residual_ratio(lum_out, y.cpu(), kernels.float(), g, glob.nonblind, p.joint)
        residual_ratio = ratio
        if reason is None and ratio > p.joint.max_residual_ratio:
            reason = f"residual {ratio:.2f}× the noise budget, limit {p.joint.max_residual_ratio:g}"
        if reason is not None:
            notes.append(f"restored image rejected ({reason}); returning the global (uniform) result")
            fallback = "global (uniform) result"
            out = torch.from_numpy(glob.image).permute(2, 0, 1)
    t_rest = time.perf_counter() - t_rest

    # patch centres in the input image (the operator lays its grid on the padded DIP image,
    # (S − 1) / 2 pixels larger on each side: the same centres up to rounding)
    centres = grid_centres(H, W, g).reshape(g[0], g[1], 2).numpy()
    return NonUniformResult(
        image=out.permute(1, 2, 0).cpu().numpy().astype(np.float32),
        kernels=kernels.float().reshape(g[0], g[1], S, S).numpy(),
        grid=g,
        centres=centres,
        global_result=glob,
        preset=p.name,
        loss=loss_summary(losses),
        data_fit_mse=mse,
        timings={"global": t_global, "joint": t_joint, "restore": t_rest, "total": time.perf_counter() - t_start},
        restarts=restarts,
        fallback=fallback,
        notes=notes,
        residual_ratio=residual_ratio,
        field=field,
        camera_motion=field_record,
    )


def _residual_ratio(
    lum: torch.Tensor,
    y: torch.Tensor,
    kernels: torch.Tensor,
    grid: tuple[int, int],
    nonblind: dict,
    preset: Preset,
) -> float:
    """The no-reference residual ratio (:mod:`deblurkit.solvers.restore`) for the SVOLA blur model.

    MSE between ``y`` and ``lum`` re-blurred by the patch kernels (``same`` mode, a border of
    ``S`` pixels left out), divided by ``σ̂² + τ²`` (``nonblind["noise_std"]`` of the global stage and
    the λ rule's ``lam_tau``).

    Args:
        lum: ``(1, 1, H, W)`` restored luminance in ``[0, 1]``.
        y: ``(1, 1, H, W)`` observed luminance.
        kernels: ``(P, S, S)`` patch kernels.
        grid: ``(rows, cols)``.
        nonblind: the global stage's ``DeblurResult.nonblind`` record.
        preset: the joint stage's preset (its ``nonblind.lam_tau``).

    Returns:
        The ratio (``inf`` if not finite).
    """
    S = kernels.shape[-1]
    with torch.no_grad():
        reblur = SVOLABlur(grid, mode="same").A(lum.double(), kernels.double())
    b = S
    mse = float(((reblur - y.double())[..., b:-b, b:-b] ** 2).mean())
    budget = noise_budget(float(nonblind.get("noise_std", 0.0)), preset.nonblind)
    ratio = mse / budget
    return ratio if np.isfinite(ratio) else float("inf")
