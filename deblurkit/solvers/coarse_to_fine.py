"""Coarse-to-fine blind kernel estimation with the kernel in GLKM's latent space (or a free pixel kernel).

The classical multi-scale scheme of blind deconvolution (Fergus et al., SIGGRAPH 2006 §4; Cho & Lee,
"Fast motion deblurring", SIGGRAPH Asia 2009; Xu, Zheng & Jia, "Unnatural L0 sparse representation
for natural image deblurring", CVPR 2013; Pan, Hu, Su & Yang, "Deblurring text images via
L0-regularized intensity and gradient prior", CVPR 2014, Algorithm 1 and its public code
``blind_deconv.m`` / ``blind_deconv_main.m``): the luminance is taken to an image pyramid whose
coarsest level holds the kernel in about :attr:`PyramidConfig.coarsest_kernel` pixels; at every level,
from coarse to fine, ``iterations`` alternations of

(a) an **image update** ``x = argmin ‖k ⊛ x − y‖² + λ ‖∇x‖₀`` by half-quadratic splitting, each step
    closed form in the Fourier domain (:func:`l0_restore`, Xu et al. 2013 Algorithm 1; λ decays by
    1/1.1 per alternation as in Pan et al.'s code, down to a floor that grows with the noise,
    :meth:`PyramidConfig.lambda_floor`), and
(b) a **kernel update** on the data term in the gradient domain,
    ``E(k) = Σ_{d∈{x,y}} ‖k ⊛ ∂_d x − ∂_d y‖² + γ ‖k‖²`` (Cho & Lee 2009 Eq. (6); Pan et al. 2014
    Eq. (9)), a quadratic form evaluated from the correlations of the gradient maps
    (:class:`KernelDataTerm`, cost independent of the image size), minimised

    - ``"glkm"``: in GLKM's latent space on the ``latent_levels`` coarsest levels: Adam steps on
      the first-layer feature map ``w_k`` of the frozen generator, the kernel being
      ``k = resize(G_k^{(w)}(w_k), s_l)`` at the level's side ``s_l`` (GLKM Eq. (6) with the data
      term of (b)), so the coarse kernel — where the large-scale shape is decided and the starts
      compete — stays on the generator's manifold of motion kernels; the finer levels refine that
      kernel as a pixel kernel (as ``"free"``), which fits the fine detail the generator does not
      reproduce exactly (on 6 training-split photos the latent space at every level lost 0.3–1.3 dB
      to this hybrid; ``docs/benchmarks.md``);
    - ``"free"``: a plain pixel kernel by accelerated projected gradient onto the probability
      simplex (Beck & Teboulle 2009, FISTA; projection of Duchi et al. 2008); upsampled between
      levels (bilinear, as Pan et al.'s ``resizeKer``). The baseline that shows what the latent
      space adds.

Several starts of ``w_k`` (the initializer's ``g1(E(y))``, the generator's mean code ``g1(0)``, random
codes) run through the coarsest levels, where that is cheap; the one whose kernel best explains the
level's observation — the no-reference residual of :func:`level_residual`, a non-blind
deconvolution re-blurred, never a ground truth — continues to full resolution.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from deblurkit.models.kernel_gan import KernelGenerator
from deblurkit.physics.functional import fast_fft_size
from deblurkit.solvers.nonblind import HyperLaplacianConfig, deconvolve, psf2otf

Progress = Callable[[int, int, float], None]


@dataclass(frozen=True)
class PyramidConfig:
    """Settings of :func:`estimate_kernel_c2f`.

    Attributes:
        coarsest_kernel: kernel side (pixels) at the coarsest level (5–9 in the literature).
        ratio: image scale between two consecutive levels (``1/√2``, Cho & Lee 2009).
        iterations: image/kernel alternations per level (5 in Pan et al.'s code).
        lambda_l0: initial L0 weight λ of the image update (``4e-3``, Pan et al.; intensities in ``[0, 1]``).
        lambda_decay: λ is divided by this after every alternation (1.1, Pan et al.).
        lambda_min: lower bound of λ on a noise-free input (``1e-4``, Pan et al.'s code).
        lambda_noise: the bound grows with the noise as ``max(lambda_min, lambda_noise · σ̂²)``
            (σ̂ the luminance noise std in ``[0, 1]`` units): the likelihood ``‖k ⊛ x − y‖²/2σ²`` makes
            the L0 weight of a MAP estimate ``2σ² ×`` the prior's weight, and 28 puts the bound at
            ``1e-3`` at σ̂ = 0.006 (σ = 0.01 RGB noise), the best of 1e-3 / 2e-3 / 4e-3 on 24
            training-split photos (``docs/benchmarks.md``, "what did not help").
        kappa: growth factor of the HQS penalty β (2, Xu et al. 2013).
        beta_max: last β of the HQS continuation (``1e5``, Xu et al. 2013).
        gamma: weight of ``‖k‖²`` in the kernel update, relative to the data term's scale
            ``Σ |∇x|²`` of the level. The term stands for the posterior variance of the latent
            image that MAP estimation ignores (Levin et al., "Efficient marginal likelihood
            optimization in blind deconvolution", CVPR 2011, §3): without it the alternation
            shrinks even the true kernel. 0.1: mean gain +2.75 dB against +2.38 at Pan et al.'s
            scale (``1e-3``) on 24 training-split photos (``docs/benchmarks.md``, "Kernel size" set).
        latent_steps: Adam steps on ``w_k`` per kernel update (``"glkm"``).
        latent_lr: Adam learning rate of ``w_k``, relative to the RMS of the starting ``w_k``.
        free_steps: FISTA iterations per kernel update (``"free"``).
        starts: random codes tried besides the initializer's and the mean code (``"glkm"``).
        prune: Pan et al.'s clean-up threshold of a pixel kernel after each update
            (:func:`prune_kernel`; 0 disables it).
        latent_levels: ``"glkm"``: coarsest levels whose kernel is the generator's output; finer
            levels refine it as a pixel kernel (a number ≥ the pyramid's depth keeps the latent
            kernel to full resolution).
        select_levels: coarsest levels run for every start before the one with the lowest
            :func:`level_residual` continues.
    """

    coarsest_kernel: int = 7
    ratio: float = 1 / math.sqrt(2)
    iterations: int = 5
    lambda_l0: float = 4e-3
    lambda_decay: float = 1.1
    lambda_min: float = 1e-4
    lambda_noise: float = 28.0
    kappa: float = 2.0
    beta_max: float = 1e5
    gamma: float = 0.1
    latent_steps: int = 60
    latent_lr: float = 0.05
    free_steps: int = 60
    prune: float = 0.05
    latent_levels: int = 2
    starts: int = 0
    select_levels: int = 2

    def __post_init__(self) -> None:
        if self.coarsest_kernel < 3 or not 0 < self.ratio < 1 or self.iterations < 1:
            raise ValueError("need coarsest_kernel ≥ 3, 0 < ratio < 1 and iterations ≥ 1")
        if self.latent_steps < 1 or self.free_steps < 1 or self.starts < 0 or self.select_levels < 1:
            raise ValueError("need latent_steps, free_steps, select_levels ≥ 1 and starts ≥ 0")

    def lambda_floor(self, noise_std: float) -> float:
        """The lower bound of λ for an input of luminance noise std ``noise_std`` (``[0, 1]`` units).

        Returns ``max(lambda_min, lambda_noise · noise_std²)`` (see the attributes).

        Raises:
            ValueError: a negative ``noise_std``.
        """
        if noise_std < 0:
            raise ValueError(f"noise_std must be ≥ 0, got {noise_std}")
        return max(self.lambda_min, self.lambda_noise * noise_std**2)


@dataclass(frozen=True)
class Level:
    """One pyramid level: ``scale`` of the image (``(0, 1]``), ``height × width`` pixels, kernel side ``kernel``."""

    scale: float
    height: int
    width: int
    kernel: int


@dataclass
class C2FResult:
    """Result of :func:`estimate_kernel_c2f`.

    Attributes:
        kernel: ``(S, S)`` float32 kernel at full resolution (true convolution, ≥ 0, sums to 1).
        w: the final feature map ``w_k`` ``(1, 256, k1, k1)`` when the last level's kernel is
            ``G_k^{(w)}(w)`` (``"glkm"`` with ``latent_levels`` covering the pyramid); ``None``
            when the kernel ends as a pixel kernel (``"free"``, or ``"glkm"`` refined at the fine levels).
        latent: ``(1, 1, h, w)`` float32 L0 image of the finest level (``[0, 1]`` roughly).
        levels: the pyramid, coarse to fine.
        starts: one record per start: ``name`` and the ``residual`` (MSE, ``[0, 1]²`` units) at the
            selection level; ``chosen``: the index of the start that continued.
        energies: the kernel data term ``E(k)`` after every kernel update (relative to ``Σ|∇y|²``).
    """

    kernel: np.ndarray
    w: torch.Tensor | None
    latent: torch.Tensor
    levels: list[Level]
    starts: list[dict] = field(default_factory=list)
    chosen: int = 0
    energies: list[float] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# pyramid and kernel resizing


def pyramid_levels(height: int, width: int, kernel_size: int, config: PyramidConfig | None = None) -> list[Level]:
    """The pyramid of :func:`estimate_kernel_c2f`, coarse to fine.

    The number of levels is the smallest ``n`` with ``kernel_size · ratioⁿ⁻¹ ≤ coarsest_kernel``;
    level ``i`` has scale ``ratio^(n−1−i)``, kernel side the odd number nearest
    ``kernel_size · scale`` (at least 3), and image sides ``round(side · scale)``.

    Args:
        height, width: full-resolution image size in pixels.
        kernel_size: full-resolution kernel side in pixels (odd).
        config: pyramid settings.

    Returns:
        ``[Level, ...]`` ending with ``Level(1.0, height, width, kernel_size)``.

    Raises:
        ValueError: an even or non-positive ``kernel_size``.
    """
    cfg = config or PyramidConfig()
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be a positive odd number, got {kernel_size}")
    n = 1
    while kernel_size * cfg.ratio ** (n - 1) > cfg.coarsest_kernel:
        n += 1
    levels = []
    for i in range(n):
        s = cfg.ratio ** (n - 1 - i)
        k = max(3, int(round(kernel_size * s)) | 1) if i < n - 1 else kernel_size
        if k > kernel_size * s + 1.5:
            k -= 2
        levels.append(Level(s, max(1, round(height * s)), max(1, round(width * s)), max(3, k)))
    return levels


def resize_kernel(k: torch.Tensor, side: int) -> torch.Tensor:
    """A kernel resampled to ``side × side`` (differentiable), centre kept, non-negative, sum 1.

    Bilinear with antialiasing when shrinking (``torch.nn.functional.interpolate``,
    ``align_corners=False``: the centre tap of an odd kernel maps to the centre tap), then clipped at 0
    and normalised. A blur's extent scales with the image, so the kernel of an image resized by ``s``
    is the kernel resized by ``s`` (Pan et al.'s ``resizeKer``).

    Args:
        k: ``(S, S)`` or ``(B, 1, S, S)`` float kernel(s) (true convolution).
        side: odd output side in pixels.

    Returns:
        Tensor of ``k``'s layout with spatial size ``side × side``, each kernel summing to 1.

    Raises:
        ValueError: an even ``side`` or a kernel that is not square.
    """
    if side < 1 or side % 2 == 0:
        raise ValueError(f"side must be a positive odd number, got {side}")
    flat = k.ndim == 2
    kk = k[None, None] if flat else k
    if kk.ndim != 4 or kk.shape[-1] != kk.shape[-2]:
        raise ValueError(f"expected (S, S) or (B, 1, S, S) square kernels, got {tuple(k.shape)}")
    if kk.shape[-1] != side:
        kk = F.interpolate(kk, size=(side, side), mode="bilinear", align_corners=False, antialias=side < kk.shape[-1])
    kk = kk.clamp(min=0)
    kk = kk / kk.sum(dim=(-2, -1), keepdim=True).clamp(min=1e-12)
    return kk[0, 0] if flat else kk


def resize_image(y: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``(1, 1, H, W)`` image → ``(1, 1, height, width)`` (bilinear with antialiasing; identity at the same size)."""
    if tuple(y.shape[-2:]) == (height, width):
        return y
    return F.interpolate(y, size=(height, width), mode="bilinear", align_corners=False, antialias=True)


# --------------------------------------------------------------------------------------------
# image update: L0 gradient prior by half-quadratic splitting


def _diff_otfs(shape: tuple[int, int], dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    dx = torch.zeros(shape, dtype=dtype, device=device)
    dx[0, 0], dx[0, -1] = -1.0, 1.0
    dy = torch.zeros(shape, dtype=dtype, device=device)
    dy[0, 0], dy[-1, 0] = -1.0, 1.0
    return torch.fft.rfft2(dx), torch.fft.rfft2(dy)


def _grads(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Circular forward differences ``(∂x t, ∂y t)`` (the adjoint pair of :func:`_diff_otfs`)."""
    return torch.roll(t, -1, dims=-1) - t, torch.roll(t, -1, dims=-2) - t


def l0_restore(y: torch.Tensor, k: torch.Tensor, lam: float, kappa: float = 2.0, beta_max: float = 1e5) -> torch.Tensor:
    """``argmin_x ‖k ⊛ x − y‖² + λ ‖∇x‖₀`` by half-quadratic splitting (Xu et al. 2013 Algorithm 1).

    With auxiliary gradients ``g`` and penalty ``β ‖∇x − g‖²`` (β from ``2λ`` to ``beta_max`` by
    ``×kappa``): ``g = ∇x`` where ``|∇x|² ≥ λ/β``, else 0; then
    ``x = F⁻¹[(K̄·Y + β(D̄x·Gx + D̄y·Gy)) / (|K|² + β(|Dx|² + |Dy|²))]``. The observation is extended
    by reflection by the kernel side (rounded up to a fast FFT length) so that the periodic model's
    wrap-around stays outside the returned region (Pan et al. use ``wrap_boundary_liu``).

    Args:
        y: ``(1, 1, H, W)`` float observation in ``[0, 1]``.
        k: ``(s, s)`` kernel (true convolution, sums to 1).
        lam: L0 weight λ > 0.
        kappa: growth factor of β (> 1).
        beta_max: last β.

    Returns:
        ``(1, 1, H, W)`` float32 latent image (piecewise-constant estimate, not clipped).

    Raises:
        ValueError: ``lam ≤ 0`` or ``kappa ≤ 1``.
    """
    if lam <= 0 or kappa <= 1:
        raise ValueError(f"need lam > 0 and kappa > 1, got {lam}, {kappa}")
    _, _, H, W = y.shape
    s = k.shape[-1]
    p = s
    Hp, Wp = fast_fft_size(H + 2 * p), fast_fft_size(W + 2 * p)
    pt, pl = (Hp - H) // 2, (Wp - W) // 2
    mode = "reflect" if max(pt, Hp - H - pt) < H and max(pl, Wp - W - pl) < W else "replicate"
    yp = F.pad(y.float(), (pl, Wp - W - pl, pt, Hp - H - pt), mode=mode)
    K = psf2otf(k.float(), (Hp, Wp))
    Dx, Dy = _diff_otfs((Hp, Wp), torch.float32, y.device)
    KtY = K.conj() * torch.fft.rfft2(yp)
    KtK = K.abs() ** 2
    DtD = Dx.abs() ** 2 + Dy.abs() ** 2
    x = yp
    beta = 2 * lam
    while beta < beta_max:
        gx, gy = _grads(x)
        keep = (gx**2 + gy**2) >= lam / beta
        gx, gy = gx * keep, gy * keep
        num = KtY + beta * (Dx.conj() * torch.fft.rfft2(gx) + Dy.conj() * torch.fft.rfft2(gy))
        x = torch.fft.irfft2(num / (KtK + beta * DtD), s=(Hp, Wp))
        beta *= kappa
    return x[..., pt : pt + H, pl : pl + W]


def l0_objective(y: torch.Tensor, k: torch.Tensor, x: torch.Tensor, lam: float) -> float:
    """``‖k ⊛ x − y‖² + λ ‖∇x‖₀`` on the region away from the border by the kernel side (float).

    Args:
        y, x: ``(1, 1, H, W)`` observation and latent image; k: ``(s, s)`` kernel; lam: λ.

    Returns:
        The objective that :func:`l0_restore` lowers (``‖∇x‖₀`` counts pixels whose gradient is
        non-zero, above ``1e-3`` in magnitude).
    """
    s = k.shape[-1]
    r = s // 2
    yk = F.conv2d(F.pad(x.float(), (r, r, r, r), mode="replicate"), k.flip(-1, -2).float()[None, None])
    sl = (..., slice(s, -s or None), slice(s, -s or None))
    gx, gy = x[..., :, 1:] - x[..., :, :-1], x[..., 1:, :] - x[..., :-1, :]
    count = float((gx[..., :-1, :].abs() + gy[..., :, :-1].abs() > 1e-3).sum())
    return float(((yk - y.float())[sl] ** 2).sum()) + lam * count


# --------------------------------------------------------------------------------------------
# kernel update: the gradient-domain data term as a quadratic form


class KernelDataTerm:
    """``E(k) = Σ_{d∈{x,y}} ‖k ⊛ ∂_d x − ∂_d y‖²_Ω / Σ_d ‖∂_d y‖²_Ω + γ ‖k‖²``, the gradient-domain data term.

    Cho & Lee 2009 Eq. (6) / Pan et al. 2014 Eq. (9), with ``y = k ⊛ x`` (true convolution,
    ``y(p) = Σ_u k(u) x(p − u)``) evaluated only on the pixels ``Ω`` whose whole kernel footprint
    lies inside the level image (``r = s // 2`` or more from the border), so that no boundary guess
    enters and no border band biases the kernel (a Toeplitz quadratic form summed over the whole
    plane would add ``‖k ⊛ ∂x‖²`` outside ``Ω``, a penalty that favours spread-out kernels and
    dominates at coarse levels). The convolutions run by FFT (``O(HW log HW)`` per evaluation,
    independent of ``s``); ``E`` is differentiable in ``k`` (autograd), so the same term serves the
    pixel kernel and the latent code.

    Args:
        x: ``(1, 1, H, W)`` latent image of the level.
        y: ``(1, 1, H, W)`` observation of the level.
        side: kernel side ``s`` (odd).
        gamma: weight of ``‖k‖²`` relative to ``Σ_d ‖∂_d x‖² / Σ_d ‖∂_d y‖²_Ω``.

    Raises:
        ValueError: an image smaller than ``s + 2`` pixels on a side, or an even ``side``.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, side: int, gamma: float) -> None:
        if side % 2 == 0:
            raise ValueError(f"side must be odd, got {side}")
        H, W = y.shape[-2:]
        if min(H, W) < side + 2:
            raise ValueError(f"a {side}-px kernel needs a level image of at least {side + 2} px, got {H}×{W}")
        s, r = side, side // 2
        self.side, self.shape = s, (H, W)
        self.Hp, self.Wp = fast_fft_size(H + s), fast_fft_size(W + s)
        gx, gy = _fwd_diff(x.float())
        bx, by = _fwd_diff(y.float())
        # the last row / column of a forward difference is undefined: Ω stops one pixel short there
        self.crop = (slice(2 * r, H - 1), slice(2 * r, W - 1))
        self.A = torch.stack([torch.fft.rfft2(g[0, 0], s=(self.Hp, self.Wp)) for g in (gx, gy)])
        self.b = torch.stack([g[0, 0, r : H - r - 1, r : W - r - 1] for g in (bx, by)])
        self.norm = max(float((self.b**2).sum()), 1e-12)
        ax2 = float(gx.pow(2).sum() + gy.pow(2).sum())
        self.gamma = gamma * ax2 / self.norm
        # Lipschitz constant of ∇E: 2 (max_f Σ_d |A_d(f)|² / norm + γ)
        self.lipschitz = 2 * (float(self.A.abs().pow(2).sum(0).max()) / self.norm + self.gamma)

    def _residual(self, k: torch.Tensor) -> torch.Tensor:
        K = torch.fft.rfft2(k, s=(self.Hp, self.Wp))
        full = torch.fft.irfft2(self.A * K, s=(self.Hp, self.Wp))  # full[q] = (k ⊛ ∂x)(q − r)
        return full[(slice(None), *self.crop)] - self.b

    def __call__(self, k: torch.Tensor) -> torch.Tensor:
        """``E(k)`` (0-d tensor, differentiable in the ``(s, s)`` kernel ``k``)."""
        kk = k.float()
        return (self._residual(kk) ** 2).sum() / self.norm + self.gamma * (kk**2).sum()

    def gradient(self, k: torch.Tensor) -> torch.Tensor:
        """``∇E(k)`` ``(s, s)``: ``2 Σ_d (∂_d x ⋆ M(k ⊛ ∂_d x − ∂_d y)) / norm + 2γk`` (closed form, no autograd)."""
        s = self.side
        kk = k.detach().float()
        with torch.no_grad():
            res = torch.zeros(2, self.Hp, self.Wp, dtype=kk.dtype, device=kk.device)
            res[(slice(None), *self.crop)] = self._residual(kk)
            corr = torch.fft.irfft2((self.A.conj() * torch.fft.rfft2(res)).sum(0), s=(self.Hp, self.Wp))
            return 2 * corr[:s, :s] / self.norm + 2 * self.gamma * kk


def _fwd_diff(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward differences with a zero last column / row (no wrap-around)."""
    gx = torch.zeros_like(t)
    gy = torch.zeros_like(t)
    gx[..., :, :-1] = t[..., :, 1:] - t[..., :, :-1]
    gy[..., :-1, :] = t[..., 1:, :] - t[..., :-1, :]
    return gx, gy


def project_simplex(v: torch.Tensor) -> torch.Tensor:
    """Euclidean projection of ``v`` (any shape) onto ``{k ≥ 0, Σk = 1}`` (Duchi et al., ICML 2008, Fig. 1)."""
    flat = v.reshape(-1)
    u, _ = torch.sort(flat, descending=True)
    css = torch.cumsum(u, 0) - 1
    ind = torch.arange(1, flat.numel() + 1, dtype=flat.dtype, device=flat.device)
    rho = int(torch.nonzero(u - css / ind > 0).max())
    theta = css[rho] / (rho + 1)
    return (flat - theta).clamp(min=0).reshape(v.shape)


def prune_kernel(k: torch.Tensor, threshold: float = 0.05, min_mass: float = 0.1) -> torch.Tensor:
    """Pan et al.'s kernel clean-up after each estimate (``blind_deconv_main.m``, ``estimate_psf.m``).

    Taps below ``threshold · max k`` are zeroed, then every 8-connected component of the support
    holding less than ``min_mass`` of the kernel's mass, and the kernel is renormalised.

    Args:
        k: ``(s, s)`` non-negative kernel; threshold: relative to the peak (0 disables);
        min_mass: smallest mass of a component that is kept.

    Returns:
        ``(s, s)`` float32 kernel, non-negative, sum 1 (``k`` unchanged if nothing would remain).
    """
    if threshold <= 0:
        return k
    import cv2

    kk = k.detach().float().clamp(min=0)
    kk = torch.where(kk >= threshold * kk.max(), kk, torch.zeros_like(kk))
    n, labels = cv2.connectedComponents((kk > 0).numpy().astype(np.uint8), connectivity=8)
    lab = torch.from_numpy(labels)
    total = float(kk.sum())
    for c in range(1, n):
        part = lab == c
        if float(kk[part].sum()) < min_mass * total:
            kk[part] = 0
    if float(kk.sum()) <= 0:
        return k
    return kk / kk.sum()


def free_kernel_update(term: KernelDataTerm, k0: torch.Tensor, steps: int) -> torch.Tensor:
    """``argmin_{k ∈ simplex} E(k)`` by FISTA from ``k0`` (Beck & Teboulle 2009), ``steps`` iterations.

    Args:
        term: the level's data term.
        k0: ``(s, s)`` starting kernel.
        steps: iterations.

    Returns:
        ``(s, s)`` float32 kernel on the simplex.
    """
    k = project_simplex(k0.float())
    z, t = k, 1.0
    step = 1.0 / term.lipschitz
    for _ in range(steps):
        k_new = project_simplex(z - step * term.gradient(z))
        t_new = (1 + math.sqrt(1 + 4 * t * t)) / 2
        z = k_new + ((t - 1) / t_new) * (k_new - k)
        k, t = k_new, t_new
    return k


def latent_kernel_update(
    term: KernelDataTerm, generator: KernelGenerator, w: torch.Tensor, steps: int, lr: float
) -> torch.Tensor:
    """Adam steps on ``w_k`` of ``E(resize(G_k^{(w)}(w_k), s))`` through the frozen generator (GLKM Eq. (6)).

    Args:
        term: the level's data term (its ``side`` is ``s``).
        generator: frozen, eval-mode kernel generator.
        w: ``(1, 256, k1, k1)`` starting feature map.
        steps: Adam steps.
        lr: absolute Adam learning rate.

    Returns:
        ``(1, 256, k1, k1)`` float32 updated feature map (detached).
    """
    w = w.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([w], lr=lr)
    for _ in range(steps):
        k = resize_kernel(generator.from_w(w), term.side)[0, 0]
        loss = term(k)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return w.detach()


def level_residual(y: torch.Tensor, k: torch.Tensor, noise_std: float) -> float:
    """No-reference fit of a kernel to one level's observation: MSE of ``k ⊛ x̂ − y`` (valid region).

    ``x̂`` is the hyper-Laplacian non-blind deconvolution of ``y`` by ``k``
    (:func:`deblurkit.solvers.nonblind.deconvolve`, weight from ``noise_std``), the estimate the
    product's residual check uses at full resolution.

    Args:
        y: ``(1, 1, h, w)`` observation; k: ``(s, s)`` kernel; noise_std: σ̂ of ``y`` (``[0, 1]`` units).

    Returns:
        The MSE (float, ``[0, 1]²`` units).
    """
    cfg = HyperLaplacianConfig()
    cfg = HyperLaplacianConfig(lam=cfg.lam_for(noise_std))
    x = deconvolve(y[0], k, cfg)[None]
    s = k.shape[-1]
    yk = F.conv2d(x.float(), k.flip(-1, -2).float()[None, None])
    r = s // 2
    return float(F.mse_loss(yk, y[..., r : y.shape[-2] - r, r : y.shape[-1] - r].float()))


# --------------------------------------------------------------------------------------------
# the estimator


def estimate_kernel_c2f(
    y: torch.Tensor,
    kernel_size: int,
    kernel_model: str = "glkm",
    generator: KernelGenerator | None = None,
    starts: list[tuple[str, torch.Tensor]] | None = None,
    config: PyramidConfig | None = None,
    noise_std: float = 0.0,
    seed: int = 0,
    progress: Progress | None = None,
) -> C2FResult:
    """Blind kernel estimation, coarse to fine (module docstring).

    Args:
        y: ``(1, 1, H, W)`` float32 luminance in ``[0, 1]`` (the estimation window).
        kernel_size: full-resolution kernel side ``S`` in pixels (odd; ``"glkm"``: the generator's).
        kernel_model: ``"glkm"`` (latent ``w_k`` of ``generator``) or ``"free"`` (pixel kernel on the simplex).
        generator: the frozen kernel generator (``"glkm"``).
        starts: ``[(name, w_k⁰), ...]`` starting feature maps ``(1, 256, k1, k1)`` (``"glkm"``); the
            mean code ``g1(0)`` and ``config.starts`` random codes ``g1(z)``, ``z ~ N(0, I)`` drawn
            from ``seed``, are added. ``"free"`` starts from a centred 3×3 box, Pan et al.'s start.
        config: pyramid settings.
        noise_std: estimated noise std of ``y`` (``[0, 1]`` units): it sets the floor of λ
            (:meth:`PyramidConfig.lambda_floor`) and the start selection's residual, where at a
            level of scale ``s`` it is taken as ``noise_std · s`` (area averaging).
        seed: seeds the random starts.
        progress: ``progress(step, total, energy)`` after every kernel update.

    Returns:
        :class:`C2FResult`.

    Raises:
        ValueError: unknown ``kernel_model``; ``"glkm"`` without a generator or with a
            ``kernel_size`` other than its size; an image too small for the kernel.
    """
    cfg = config or PyramidConfig()
    if kernel_model not in ("glkm", "free"):
        raise ValueError(f"unknown kernel model {kernel_model!r}; use 'glkm' or 'free'")
    if kernel_model == "glkm":
        if generator is None:
            raise ValueError("the latent kernel model needs a kernel generator")
        if kernel_size != generator.config.size:
            raise ValueError(f"kernel size {kernel_size} differs from the generator's {generator.config.size}")
        generator.eval()
        for p in generator.parameters():
            p.requires_grad_(False)
    H, W = y.shape[-2:]
    if min(H, W) < kernel_size + 2:
        raise ValueError(f"a {kernel_size}-px kernel needs an estimation window of at least {kernel_size + 2} px, got {H}×{W}")
    y = y.float()
    # levels whose image is too small for their kernel (rounding on tiny inputs) are left out
    levels = [lv for lv in pyramid_levels(H, W, kernel_size, cfg) if min(lv.height, lv.width) >= lv.kernel + 2]
    ys = [resize_image(y, lv.height, lv.width) for lv in levels]
    total = len(levels) * cfg.iterations
    lam_floor = cfg.lambda_floor(noise_std)
    n_sel = min(cfg.select_levels, len(levels))

    # the states that run through the selection levels: (name, kernel parameter)
    if kernel_model == "glkm":
        dev = next(generator.parameters()).device
        cand = list(starts or [])
        with torch.no_grad():
            cand.append(("mean code", generator.first_layer(torch.zeros(1, generator.config.latent_dim, 1, 1, device=dev))))
            zs = generator.sample_latent(cfg.starts, torch.Generator().manual_seed(seed))
            for i in range(cfg.starts):
                cand.append((f"random code {i + 1}", generator.first_layer(zs[i : i + 1].to(dev))))
        rms = [float(w.pow(2).mean().sqrt()) for _, w in cand]
    else:
        box = torch.zeros(levels[0].kernel, levels[0].kernel)
        m = levels[0].kernel // 2
        box[m - 1 : m + 2, m - 1 : m + 2] = 1 / 9
        cand = [("box 3×3", box)]
        rms = [1.0]

    def kernel_of(param: torch.Tensor, side: int) -> torch.Tensor:
        if param.ndim == 4:
            with torch.no_grad():
                return resize_kernel(generator.from_w(param), side)[0, 0].float()
        return resize_kernel(param, side) if param.shape[-1] != side else param

    def run_level(i: int, param: torch.Tensor, lam: float, lr: float, energies: list[float], step0: int):
        lv, yl = levels[i], ys[i]
        x = yl
        for it in range(cfg.iterations):
            k = kernel_of(param, lv.kernel)
            x = l0_restore(yl, k, lam, cfg.kappa, cfg.beta_max)
            term = KernelDataTerm(x, yl, lv.kernel, cfg.gamma)
            if param.ndim == 4:
                param = latent_kernel_update(term, generator, param, cfg.latent_steps, lr)
            else:
                param = prune_kernel(free_kernel_update(term, k, cfg.free_steps), cfg.prune)
            with torch.no_grad():
                e = float(term(kernel_of(param, lv.kernel)))
            energies.append(e)
            lam = max(lam / cfg.lambda_decay, lam_floor)
            if progress is not None:
                progress(step0 + it + 1, total, e)
        return param, lam, x

    states = []
    records = []
    for j, (name, p0) in enumerate(cand):
        param, lam, energies = p0, cfg.lambda_l0, []
        for i in range(n_sel):
            param, lam, x = run_level(i, param, lam, cfg.latent_lr * rms[j], energies, i * cfg.iterations if j == 0 else 0)
        lv = levels[n_sel - 1]
        res = level_residual(ys[n_sel - 1], kernel_of(param, lv.kernel), noise_std * lv.scale)
        states.append((param, lam, x, energies))
        records.append({"name": name, "residual": res})
    chosen = min(range(len(states)), key=lambda j: records[j]["residual"])
    param, lam, x, energies = states[chosen]
    for i in range(n_sel, len(levels)):
        if param.ndim == 4 and i >= cfg.latent_levels:
            param = kernel_of(param, levels[i].kernel)  # pixel refinement from the generator's kernel
        if param.ndim == 2:
            param = resize_kernel(param, levels[i].kernel)
        param, lam, x = run_level(i, param, lam, cfg.latent_lr * rms[chosen], energies, i * cfg.iterations)
    k = kernel_of(param, kernel_size)
    return C2FResult(
        kernel=k.detach().cpu().numpy().astype(np.float32),
        w=param.detach().clone() if param.ndim == 4 else None,
        latent=x.detach().float(),
        levels=levels,
        starts=records,
        chosen=chosen,
        energies=energies,
    )
