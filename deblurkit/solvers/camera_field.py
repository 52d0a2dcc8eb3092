"""Blind estimation of a camera-motion kernel field, started from a uniform kernel.

The alternating scheme of the uniform estimator (:mod:`deblurkit.solvers.coarse_to_fine`: Cho & Lee
2009; Xu et al. 2013; Pan et al. 2014) with the space-variant operator of Whyte et al. (IJCV 2012,
§4: the blur of every pixel rendered from one set of camera poses) applied patch-wise under SVOLA
(Hirsch et al., "Fast removal of non-uniform camera shake", ICCV 2011, Eq. 4):

1. **start**: the camera motion that renders the global (uniform) kernel everywhere — one
   translation pose per kernel tap, weighted by the tap
   (:meth:`deblurkit.physics.camera_field.CameraMotionField.from_kernel`), so no patch starts
   from a dot and the roll starts at 0;
2. ``iterations`` alternations of

   (a) an **image update**: every SVOLA patch's tile restored by the L0 half-quadratic splitting of
       the uniform estimator with its patch kernel
       (:func:`deblurkit.solvers.coarse_to_fine.l0_restore`), blended by the SVOLA windows
       (:func:`deblurkit.solvers.nonblind.deconvolve_patchwise`); λ decays by 1/1.1 per
       alternation to a floor, as in the uniform estimator;
   (b) a **field update**: Adam steps on the poses' roll, translation and log-weights of the
       gradient-domain data term
       ``E = Σ_{d∈{x,y}} ‖A_θ(∂_d x) − ∂_d y‖²_Ω / Σ_d ‖∂_d y‖²_Ω + γ' · mean_i ‖k_i‖²``
       through SVOLA (:class:`deblurkit.physics.svola.SVOLABlur`, valid pixels ``Ω`` only), where
       ``A_θ`` blurs patch ``i`` by the PSF ``k_i(θ)`` the motion renders at its centre, and ``γ'``
       is the uniform estimator's ``γ`` scaled by ``Σ|∇x|² / Σ|∇y|²_Ω`` (Levin et al. 2011's
       variance term, :class:`deblurkit.solvers.coarse_to_fine.KernelDataTerm`).

Every patch kernel is one camera motion seen from a different pixel, so neighbouring kernels cannot
disagree and none can collapse on its own, which is the failure of free per-patch kernels under
noise. The differential of SVOLA in the gradient domain is approximated by blurring the image's
gradients (the windows vary slowly), as Hirsch et al. 2011 do.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from deblurkit.physics.camera_field import CameraMotionField
from deblurkit.physics.svola import SVOLABlur, grid_centres
from deblurkit.solvers.coarse_to_fine import PyramidConfig, _fwd_diff, l0_restore
from deblurkit.solvers.nonblind import deconvolve_patchwise

Progress = Callable[[int, int, float], None]


@dataclass(frozen=True)
class CameraFieldConfig:
    """Settings of :func:`estimate_camera_field`.

    Development set: 8 camera-shake crops of the training split (``deblurkit synth-set
    ../shared/data/train/cbsd432 --count 8 --split train --crop 256 --seed 1 -o nu_dev``); with these
    defaults ``deblurkit deblur-nonuniform nu_dev/blurry`` gives 26.02 dB against 24.90 for
    ``deblurkit deblur`` (blurry 24.76; ``benchmarks/probes/nonuniform_report.py``). Two other
    schedules (5×30 steps at 0.1 px, 8×100 at 0.1) were compared with an unshipped probe; no
    number is claimed for them.

    Attributes:
        iterations: image/field alternations.
        steps: Adam steps on the poses per field update.
        lr: Adam learning rate of the roll and translations (pixels per step).
        lr_weights: Adam learning rate of the pose log-weights.
        lambda_l0: L0 weight λ of the first image update (intensities in ``[0, 1]``).
        lambda_decay, lambda_min, gamma: λ decay, λ floor (``1e-3``, what
            :meth:`~deblurkit.solvers.coarse_to_fine.PyramidConfig.lambda_floor` gives at σ = 0.01) and
            kernel-norm weight γ (:class:`~deblurkit.solvers.coarse_to_fine.PyramidConfig`; γ weighs the mean
            ``‖k_i‖²`` here).
        threshold: taps of the starting kernel below ``threshold · max`` get no pose.
        focal: focal length in pixels; ``None``: the image's longer side.
    """

    iterations: int = 8
    steps: int = 60
    lr: float = 0.3
    lr_weights: float = 0.05
    lambda_l0: float = 2e-3
    lambda_decay: float = PyramidConfig.lambda_decay
    lambda_min: float = 1e-3
    gamma: float = PyramidConfig.gamma
    threshold: float = 0.05
    focal: float | None = None

    def __post_init__(self) -> None:
        if self.iterations < 1 or self.steps < 0 or self.lr < 0 or self.lr_weights < 0:
            raise ValueError("need iterations ≥ 1, steps ≥ 0 and non-negative learning rates")
        if self.lambda_l0 <= 0 or self.lambda_min <= 0 or self.lambda_decay < 1:
            raise ValueError("need positive λ values and lambda_decay ≥ 1")


@dataclass
class CameraFieldResult:
    """Result of :func:`estimate_camera_field`.

    Attributes:
        field: the estimated :class:`~deblurkit.physics.camera_field.CameraMotionField` (detached).
        kernels: ``(P, S, S)`` float32 patch PSFs at the grid's centres (row-major, sum 1 each).
        centres: ``(P, 2)`` float64 patch centres ``(row, col)`` in pixels.
        latent: ``(1, 1, H, W)`` float32 last L0 image estimate.
        energies: the data term after every field update (float, dimensionless).
    """

    field: CameraMotionField
    kernels: torch.Tensor
    centres: torch.Tensor
    latent: torch.Tensor
    energies: list[float]


class FieldDataTerm:
    """The field update's objective ``E(kernels)`` (module docstring, step 2b).

    Args:
        x: ``(1, 1, H, W)`` latent image; y: ``(1, 1, H, W)`` observation (luminance, ``[0, 1]``).
        grid: ``(rows, cols)``; side: odd kernel side ``S``; gamma: the kernel-norm weight γ.

    Raises:
        ValueError: an image smaller than ``S + 2`` pixels on a side.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, grid: tuple[int, int], side: int, gamma: float) -> None:
        H, W = y.shape[-2:]
        if min(H, W) < side + 2:
            raise ValueError(f"a {side}-px kernel needs an image of at least {side + 2} px, got {H}×{W}")
        r = side // 2
        self.op = SVOLABlur(grid, mode="valid")
        gx, gy = _fwd_diff(x.double())
        bx, by = _fwd_diff(y.double())
        self.gx = torch.cat([gx, gy], dim=0)  # (2, 1, H, W)
        # valid output index j ↔ pixel j + r; forward differences are undefined on the last row / column
        self.b = torch.cat([bx, by], dim=0)[..., r : H - r - 1, r : W - r - 1]
        self.norm = max(float((self.b**2).sum()), 1e-12)
        self.gamma = gamma * float((self.gx**2).sum()) / self.norm

    def __call__(self, kernels: torch.Tensor) -> torch.Tensor:
        """``E`` for ``(P, S, S)`` kernels (0-d float64 tensor, differentiable)."""
        k = kernels.double()
        pred = self.op.A(self.gx, k)[..., :-1, :-1]
        return ((pred - self.b) ** 2).sum() / self.norm + self.gamma * (k**2).sum(dim=(1, 2)).mean()


def estimate_camera_field(
    y: torch.Tensor,
    kernel: torch.Tensor,
    grid: tuple[int, int],
    config: CameraFieldConfig | None = None,
    progress: Progress | None = None,
) -> CameraFieldResult:
    """Estimate the camera motion whose kernel field explains ``y`` (module docstring).

    Args:
        y: ``(1, 1, H, W)`` float luminance in ``[0, 1]`` (the whole image: every patch needs its data).
        kernel: ``(S, S)`` non-negative starting kernel (the global uniform estimate; odd ``S``).
        grid: SVOLA ``(rows, cols)``.
        config: settings.
        progress: ``progress(step, total, energy)`` after every field update.

    Returns:
        :class:`CameraFieldResult`.

    Raises:
        ValueError: an image smaller than ``S + 2`` pixels, an all-zero or even-sided kernel, a
            grid finer than the image.
    """
    cfg = config or CameraFieldConfig()
    H, W = y.shape[-2:]
    S = kernel.shape[-1]
    y = y.float()
    field = CameraMotionField.from_kernel(kernel, H, W, cfg.threshold, cfg.focal)
    centres = grid_centres(H, W, grid).double()
    opt = torch.optim.Adam(
        [{"params": [field.roll, field.shifts], "lr": cfg.lr}, {"params": [field.logits], "lr": cfg.lr_weights}]
    )
    lam, energies, x = cfg.lambda_l0, [], y
    with torch.no_grad():
        ks = field.kernels(centres, S)
    for it in range(cfg.iterations):
        x = deconvolve_patchwise(y[0], ks, grid, solve=lambda t, k, lam=lam: l0_restore(t[None], k.float(), lam)[0])[None]
        term = FieldDataTerm(x, y, grid, S, cfg.gamma)
        for _ in range(cfg.steps):
            loss = term(field.kernels(centres, S))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        with torch.no_grad():
            ks = field.kernels(centres, S)  # the energy's kernels start the next image update
            e = float(term(ks))
        if not math.isfinite(e):
            raise FloatingPointError("the camera-field update diverged")
        energies.append(e)
        lam = max(lam / cfg.lambda_decay, cfg.lambda_min)
        if progress is not None:
            progress(it + 1, cfg.iterations, e)
    for p in field.parameters():
        p.requires_grad_(False)
    return CameraFieldResult(field=field, kernels=ks.float(), centres=centres, latent=x.float(), energies=energies)
