"""Non-uniform camera-shake blur: random 3-D camera motion rendered per pixel by homographies.

After Whyte et al. ("Non-uniform deblurring for shaken images", IJCV 2012) and Lai et al.
(CVPR 2016): during the exposure the camera rotates (roll about the optical axis, small pitch and
yaw) and translates parallel to the image plane at a constant scene depth, so the image at time
``t`` is the sharp image warped by the homography ``H_t = T(τ_t) · K R_t K⁻¹`` (``K``: pinhole
intrinsics with focal length ``f`` pixels and the principal point at the image centre; ``τ_t``:
the translation in pixels at the scene depth). The blurred image is the time average::

    y(q) = (1 / T) Σ_t x(H_t⁻¹ q)          (bilinear sampling, reflected borders)

and the PSF at a pixel ``c`` is the path its light takes, ``k_c = (1 / T) Σ_t δ(· − (H_t c − c))``
in the true-convolution convention of :mod:`deblurkit.physics` (``y ≈ k_c ⊛ x`` near ``c``).

Every degree of freedom follows its own Matérn-3/2 Gaussian process over the exposure (the
smooth, varying-speed paths of :mod:`deblurkit.kernels.gp`), centred on its time mean so the
sharp image sits at the mean pose and every PSF is centred to first order. The amplitudes are
drawn so that roll makes the blur visibly space-variant, then the whole motion is scaled so that
the largest PSF in the frame spans a target extent.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from deblurkit.kernels.gp import LENGTH_SCALES, _matern32_cholesky
from deblurkit.kernels.render import splat
from deblurkit.physics.camera_field import pose_homographies
from deblurkit.physics.svola import grid_centres


@dataclass(frozen=True)
class CameraShakeConfig:
    """Settings of :func:`random_camera_shake`.

    Attributes:
        num_steps: time samples of the exposure ``T``.
        min_extent, max_extent: the largest PSF in the frame spans a length drawn uniformly in
            this range (pixels; the longer side of its bounding box).
        roll_share: range of roll's share of the motion (the rest is translation and pitch/yaw);
            roll is what makes the blur vary across the frame.
        tilt_share: range of pitch/yaw's share relative to translation.
        focal: focal length in pixels; ``None``: the image's longer side (≈ 53° field of view).
    """

    num_steps: int = 96
    min_extent: float = 9.0
    max_extent: float = 25.0
    roll_share: tuple[float, float] = (0.4, 0.8)
    tilt_share: tuple[float, float] = (0.0, 0.3)
    focal: float | None = None


@dataclass
class CameraShake:
    """A sampled camera motion over the exposure.

    Attributes:
        height, width: image size in pixels.
        focal: focal length in pixels.
        angles: ``(T, 3)`` float64 (roll, pitch, yaw) in radians, mean 0 over time.
        shifts: ``(T, 2)`` float64 (dx, dy) translation in pixels, mean 0 over time.
    """

    height: int
    width: int
    focal: float
    angles: np.ndarray
    shifts: np.ndarray

    def homographies(self) -> np.ndarray:
        """``(T, 3, 3)`` float64 maps from sharp-image pixels ``(col, row, 1)`` to their position at time ``t``."""
        Hs = pose_homographies(torch.from_numpy(self.angles), torch.from_numpy(self.shifts), self.focal, self.height, self.width)
        return Hs.numpy()

    def displacements(self, points: np.ndarray) -> np.ndarray:
        """Paths of image points over the exposure.

        Args:
            points: ``(N, 2)`` pixel positions ``(row, col)`` in the sharp image.

        Returns:
            ``(N, T, 2)`` float64 displacements ``(drow, dcol)`` in pixels, ``H_t c − c``.
        """
        Hs = self.homographies()
        p = np.stack([points[:, 1], points[:, 0], np.ones(len(points))], axis=1)  # (N, 3) as (x, y, 1)
        q = np.einsum("tij,nj->nti", Hs, p)
        q = q[..., :2] / q[..., 2:3]
        return np.stack([q[..., 1] - points[:, None, 0], q[..., 0] - points[:, None, 1]], axis=-1)

    def to_dict(self) -> dict:
        """JSON-friendly record (lists)."""
        return {
            "height": self.height,
            "width": self.width,
            "focal": self.focal,
            "angles_rad": self.angles.tolist(),
            "shifts_px": self.shifts.tolist(),
        }


def _probe_points(height: int, width: int, n: int = 9) -> np.ndarray:
    r = np.linspace(0, height - 1, n)
    c = np.linspace(0, width - 1, n)
    return np.stack(np.meshgrid(r, c, indexing="ij"), axis=-1).reshape(-1, 2)


def max_extent(shake: CameraShake) -> float:
    """The longest PSF in the frame: max over a 9×9 probe grid of the path's bounding-box side (pixels)."""
    d = shake.displacements(_probe_points(shake.height, shake.width))
    span = d.max(axis=1) - d.min(axis=1)  # (N, 2)
    return float(span.max())


def random_camera_shake(
    height: int, width: int, rng: np.random.Generator, cfg: CameraShakeConfig | None = None
) -> CameraShake:
    """Draw a random camera motion for an image of ``height × width`` pixels (module docstring).

    Args:
        height, width: image size in pixels (≥ 8).
        rng: NumPy random generator (the only source of randomness).
        cfg: settings (default :class:`CameraShakeConfig`).

    Returns:
        A :class:`CameraShake` whose largest PSF spans ``U(min_extent, max_extent)`` pixels (to
        within 2 %).

    Raises:
        ValueError: for an image under 8×8 or an empty extent range.
    """
    cfg = cfg or CameraShakeConfig()
    if min(height, width) < 8:
        raise ValueError(f"image {height}×{width} is too small for camera-shake synthesis")
    if not 0 < cfg.min_extent <= cfg.max_extent:
        raise ValueError(f"need 0 < min_extent ≤ max_extent, got {cfg.min_extent}, {cfg.max_extent}")
    T = cfg.num_steps
    focal = float(cfg.focal or max(height, width))
    paths = []
    for _ in range(5):  # roll, pitch, yaw, dx, dy
        ell = float(rng.choice(LENGTH_SCALES))
        p = _matern32_cholesky(T, ell) @ rng.standard_normal(T)
        p = p - p.mean()
        paths.append(p / max(np.abs(p).max(), 1e-12))
    roll_share = rng.uniform(*cfg.roll_share)
    tilt_share = rng.uniform(*cfg.tilt_share)
    radius = 0.5 * np.hypot(height, width)
    # amplitudes in pixels of displacement: roll at the frame's corner, tilt/translation anywhere
    roll = roll_share * paths[0] / radius
    tilt = (1 - roll_share) * tilt_share / focal * np.stack(paths[1:3], axis=1)
    trans = (1 - roll_share) * (1 - tilt_share) * np.stack(paths[3:5], axis=1)
    target = rng.uniform(cfg.min_extent, cfg.max_extent)
    angles = np.concatenate([roll[:, None], tilt], axis=1)
    shake = CameraShake(height, width, focal, angles, trans)
    for _ in range(3):  # small angles: the extent is nearly linear in the amplitude
        scale = target / max(max_extent(shake), 1e-9)
        shake = CameraShake(height, width, focal, shake.angles * scale, shake.shifts * scale)
    return shake


def render_camera_shake(x: torch.Tensor, shake: CameraShake) -> torch.Tensor:
    """Blur an image by a camera motion: ``y(q) = mean_t x(H_t⁻¹ q)`` (module docstring).

    Args:
        x: ``(B, C, H, W)`` float image (``[0, 1]`` intensities), ``(H, W)`` = the shake's size.
        shake: the motion.

    Returns:
        ``(B, C, H, W)`` blurred image, same dtype and device (reflected borders).

    Raises:
        ValueError: if the image size differs from the shake's.
    """
    B, C, H, W = x.shape
    if (H, W) != (shake.height, shake.width):
        raise ValueError(f"image is {H}×{W} but the camera shake was drawn for {shake.height}×{shake.width}")
    inv = np.linalg.inv(shake.homographies())  # (T, 3, 3)
    rows, cols = np.meshgrid(np.arange(H, dtype=np.float64), np.arange(W, dtype=np.float64), indexing="ij")
    q = np.stack([cols, rows, np.ones_like(rows)], axis=-1).reshape(-1, 3)
    out = torch.zeros_like(x)
    for Hi in inv:
        s = q @ Hi.T
        sx, sy = s[:, 0] / s[:, 2], s[:, 1] / s[:, 2]
        grid = np.stack([2 * sx / (W - 1) - 1, 2 * sy / (H - 1) - 1], axis=-1).reshape(1, H, W, 2)
        g = torch.from_numpy(grid).to(x.dtype).to(x.device).expand(B, H, W, 2)
        out += F.grid_sample(x, g, mode="bilinear", padding_mode="reflection", align_corners=True)
    return out / len(inv)


def patch_kernels(shake: CameraShake, centres: np.ndarray, size: int) -> np.ndarray:
    """Ground-truth PSFs of the motion at given pixels (bilinear splatting of their paths).

    Args:
        shake: the motion.
        centres: ``(N, 2)`` pixel positions ``(row, col)``.
        size: odd kernel side ``S``; the PSF's origin is the centre tap (not recentred, so the
            kernels are the exact local blur, including its shift).

    Returns:
        ``(N, S, S)`` float64 kernels, non-negative, summing to 1 (true-convolution convention).

    Raises:
        ValueError: for an even ``size`` or a path that leaves the ``S × S`` window.
    """
    if size % 2 == 0:
        raise ValueError(f"kernel size must be odd, got {size}")
    d = shake.displacements(np.asarray(centres, dtype=np.float64))  # (N, T, 2)
    half = (size - 1) / 2
    if np.abs(d).max() > half:
        raise ValueError(f"the blur reaches {np.abs(d).max():.1f} px from its centre; a {size}×{size} window holds {half:.0f}")
    pts = (d[..., 1] + half) + 1j * (d[..., 0] + half)
    return splat(pts, size)


def config_dict(cfg: CameraShakeConfig) -> dict:
    """JSON-friendly copy of a :class:`CameraShakeConfig`."""
    return asdict(cfg)


@dataclass
class NonUniformSample:
    """A non-uniformly blurred image with its ground truth (from :func:`synthesize_nonuniform`).

    Attributes:
        blurry: ``(H, W, C)`` float32 blurred (and noisy) image in ``[0, 1]``.
        kernels: ``(rows, cols, S, S)`` float32 PSFs at the patch centres (true convolution).
        centres: ``(rows, cols, 2)`` int patch centres ``(row, col)`` in pixels.
        shake: the camera motion.
        noise: Gaussian noise σ added (``[0, 1]`` intensity units).
    """

    blurry: np.ndarray
    kernels: np.ndarray
    centres: np.ndarray
    shake: CameraShake
    noise: float

    def record(self) -> dict:
        """JSON-friendly description (grid, centres, kernel size, noise, motion)."""
        return {
            "grid": list(self.kernels.shape[:2]),
            "kernel_size": int(self.kernels.shape[-1]),
            "patch_centres": self.centres.tolist(),
            "noise": self.noise,
            "max_extent_px": max_extent(self.shake),
            "camera_shake": self.shake.to_dict(),
        }


def synthesize_nonuniform(
    sharp: np.ndarray,
    rng: np.random.Generator,
    grid: tuple[int, int],
    size: int = 31,
    noise: float = 0.01,
    cfg: CameraShakeConfig | None = None,
) -> NonUniformSample:
    """Blur a sharp image by a random camera shake and record the per-patch kernels on a grid.

    The grid is the SVOLA layout of :func:`deblurkit.physics.svola.axis_grid`; the PSF of every
    patch centre is rendered at ``size`` (enlarged to the next odd side that holds the longest
    path when needed).

    Args:
        sharp: ``(H, W, C)`` float image in ``[0, 1]``.
        rng: the only source of randomness (motion, then noise).
        grid: ``(rows, cols)``.
        size: odd kernel side of the recorded PSFs.
        noise: Gaussian noise σ in ``[0, 1]`` units (clipped to ``[0, 1]`` afterwards).
        cfg: motion settings.

    Returns:
        A :class:`NonUniformSample`.

    Raises:
        ValueError: bad image shape, or as :func:`random_camera_shake`.
    """
    img = np.asarray(sharp, dtype=np.float32)
    if img.ndim != 3:
        raise ValueError(f"expected an (H, W, C) image, got shape {img.shape}")
    H, W = img.shape[:2]
    shake = random_camera_shake(H, W, rng, cfg)
    with torch.no_grad():
        x = torch.from_numpy(img).permute(2, 0, 1)[None].double()
        y = render_camera_shake(x, shake)[0].permute(1, 2, 0).numpy()
    if noise > 0:
        y = y + rng.normal(0.0, noise, y.shape)
    centres = grid_centres(H, W, grid).reshape(grid[0], grid[1], 2).numpy()
    reach = np.abs(shake.displacements(centres.reshape(-1, 2).astype(np.float64))).max()
    S = max(size, 2 * int(np.ceil(reach)) + 3)
    S += 1 - S % 2
    k = patch_kernels(shake, centres.reshape(-1, 2), S).reshape(grid[0], grid[1], S, S)
    return NonUniformSample(np.clip(y, 0, 1).astype(np.float32), k.astype(np.float32), centres, shake, noise)
