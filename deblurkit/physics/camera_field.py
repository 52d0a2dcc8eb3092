"""Kernel field of one camera motion: every patch's PSF rendered from the same set of camera poses.

The projective blur model of Whyte et al. ("Non-uniform deblurring for shaken images", IJCV 2012,
Eq. 2–4): the blurry image is a weighted sum of the sharp image seen from ``N`` camera poses,
``y = Σ_j a_j · x ∘ H_j⁻¹`` with ``a_j ≥ 0``, ``Σ_j a_j = 1`` (the motion's time density over the
poses, unordered) and the homography of pose ``j``

    ``H_j = T(τ_j) · K R_j K⁻¹``      (``K``: pinhole intrinsics, focal ``f`` px, centre principal point)

(the same parametrisation as the synthesis of :mod:`deblurkit.kernels.camera_shake`). The PSF at
pixel ``c`` is the light path ``k_c = Σ_j a_j δ(· − (H_j c − c))``, splatted bilinearly onto the
``S × S`` grid of the true-convolution convention of :mod:`deblurkit.physics`; under the SVOLA
model (:mod:`deblurkit.physics.svola`) each patch uses the PSF of its centre.

The field estimated by the product uses the in-plane motions of Gupta et al.'s motion density
function ("Single image deblurring using motion density functions", ECCV 2010, §3): a roll about
the optical axis and a translation per pose, pitch and yaw left at 0. Pitch and yaw move the frame
as a translation up to a second-order perspective term, and a roll about another point equals a
roll about the centre plus a translation, so the three in-plane degrees of freedom per pose cover
what varies across the frame at first order.

Rendering is differentiable in the roll angles, translations and (log-)weights of the poses:
the bilinear splatting weights are piecewise linear in the positions.
"""

from __future__ import annotations

import math

import torch


def pose_homographies(
    angles: torch.Tensor, shifts: torch.Tensor, focal: float, height: int, width: int
) -> torch.Tensor:
    """Homographies ``H_j = T(τ_j) K R_j K⁻¹`` of camera poses (module docstring).

    Args:
        angles: ``(N, 3)`` float (roll, pitch, yaw) in radians; ``R = R_z(roll) R_x(pitch) R_y(yaw)``.
        shifts: ``(N, 2)`` float translations ``(dx, dy)`` in pixels (columns, rows).
        focal: focal length in pixels (> 0).
        height, width: image size in pixels (principal point at ``((W − 1)/2, (H − 1)/2)``).

    Returns:
        ``(N, 3, 3)`` maps of homogeneous pixel coordinates ``(col, row, 1)``, ``angles``' dtype,
        differentiable in ``angles`` and ``shifts``.

    Raises:
        ValueError: shapes other than ``(N, 3)`` / ``(N, 2)``, or ``focal ≤ 0``.
    """
    if angles.ndim != 2 or angles.shape[1] != 3 or shifts.shape != (angles.shape[0], 2):
        raise ValueError(f"need angles (N, 3) and shifts (N, 2), got {tuple(angles.shape)} and {tuple(shifts.shape)}")
    if focal <= 0:
        raise ValueError(f"focal length must be positive, got {focal}")
    dt, dev = angles.dtype, angles.device
    cx, cy = (width - 1) / 2, (height - 1) / 2
    K = torch.tensor([[focal, 0, cx], [0, focal, cy], [0, 0, 1.0]], dtype=dt, device=dev)
    Kinv = torch.linalg.inv(K)
    roll, pitch, yaw = angles.unbind(1)
    one, zero = torch.ones_like(roll), torch.zeros_like(roll)

    def mat(rows):
        return torch.stack([torch.stack(r, dim=-1) for r in rows], dim=-2)

    rz = mat([[roll.cos(), -roll.sin(), zero], [roll.sin(), roll.cos(), zero], [zero, zero, one]])
    rx = mat([[one, zero, zero], [zero, pitch.cos(), -pitch.sin()], [zero, pitch.sin(), pitch.cos()]])
    ry = mat([[yaw.cos(), zero, yaw.sin()], [zero, one, zero], [-yaw.sin(), zero, yaw.cos()]])
    dx, dy = shifts.to(dt).unbind(1)
    T = mat([[one, zero, dx], [zero, one, dy], [zero, zero, one]])
    return T @ K @ (rz @ rx @ ry) @ Kinv


def pose_displacements(homographies: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Where each point goes under each pose: ``H_j c − c``.

    Args:
        homographies: ``(N, 3, 3)`` (:func:`pose_homographies`).
        points: ``(P, 2)`` pixel positions ``(row, col)``.

    Returns:
        ``(P, N, 2)`` displacements ``(drow, dcol)`` in pixels, differentiable in ``homographies``.
    """
    p = torch.stack([points[:, 1], points[:, 0], torch.ones_like(points[:, 0])], dim=1).to(homographies)
    q = torch.einsum("nij,pj->pni", homographies, p)
    q = q[..., :2] / q[..., 2:3]
    return torch.stack([q[..., 1] - p[:, None, 1], q[..., 0] - p[:, None, 0]], dim=-1)


def splat_paths(displacements: torch.Tensor, weights: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear splatting of weighted displacements into ``S × S`` kernels (differentiable).

    The kernel's centre tap ``((S − 1)/2, (S − 1)/2)`` is displacement 0; a displacement outside
    the window is clamped to its border.

    Args:
        displacements: ``(P, N, 2)`` ``(drow, dcol)`` in pixels.
        weights: ``(N,)`` non-negative pose weights (any sum).
        size: odd kernel side ``S``.

    Returns:
        ``(P, S, S)`` kernels, non-negative, each summing to 1, ``displacements``' dtype.

    Raises:
        ValueError: an even ``size`` or a weight vector of the wrong length.
    """
    if size % 2 == 0:
        raise ValueError(f"kernel size must be odd, got {size}")
    P, N, _ = displacements.shape
    if weights.shape != (N,):
        raise ValueError(f"need {N} pose weights, got shape {tuple(weights.shape)}")
    half = (size - 1) / 2
    pos = (displacements + half).clamp(0.0, size - 1.0)
    r, c = pos[..., 0], pos[..., 1]
    r0 = r.detach().floor().clamp(max=size - 2)
    c0 = c.detach().floor().clamp(max=size - 2)
    fr, fc = r - r0, c - c0
    base = (torch.arange(P, device=pos.device)[:, None] * size * size + r0.long() * size + c0.long())
    w = weights.to(pos.dtype)[None, :]
    out = torch.zeros(P * size * size, dtype=pos.dtype, device=pos.device)
    for dr, dc, wt in ((0, 0, (1 - fr) * (1 - fc)), (0, 1, (1 - fr) * fc), (1, 0, fr * (1 - fc)), (1, 1, fr * fc)):
        out = out.index_add(0, (base + dr * size + dc).reshape(-1), (wt * w).reshape(-1))
    out = out.reshape(P, size, size)
    return out / out.sum(dim=(1, 2), keepdim=True).clamp(min=1e-12)


class CameraMotionField(torch.nn.Module):
    """A camera motion as ``N`` weighted in-plane poses; renders the PSF of any pixel (module docstring).

    Parameters (``torch.nn.Parameter``, float64): ``roll`` ``(N,)`` — roll angle expressed as the
    displacement in pixels it causes at the image's half-diagonal ``ρ`` (so all three degrees of
    freedom share one unit and one learning rate; radians = ``roll / ρ``); ``shifts`` ``(N, 2)`` —
    translation ``(dx, dy)`` in pixels; ``logits`` ``(N,)`` — pose weights ``a = softmax(logits)``.

    Args:
        height, width: image size in pixels.
        roll: ``(N,)`` roll in pixels at the half-diagonal.
        shifts: ``(N, 2)`` ``(dx, dy)`` in pixels.
        weights: ``(N,)`` positive pose weights.
        focal: focal length in pixels; ``None``: the image's longer side (≈ 53° field of view,
            the synthesis's default).

    Raises:
        ValueError: mismatched shapes, a non-positive weight, or an empty pose set.
    """

    def __init__(
        self,
        height: int,
        width: int,
        roll: torch.Tensor,
        shifts: torch.Tensor,
        weights: torch.Tensor,
        focal: float | None = None,
    ) -> None:
        super().__init__()
        n = roll.shape[0]
        if n < 1 or roll.shape != (n,) or shifts.shape != (n, 2) or weights.shape != (n,):
            raise ValueError(f"need roll (N,), shifts (N, 2), weights (N,), got {tuple(roll.shape)}, {tuple(shifts.shape)}, {tuple(weights.shape)}")
        if bool((weights <= 0).any()):
            raise ValueError("pose weights must be positive")
        self.height, self.width = int(height), int(width)
        self.focal = float(focal or max(height, width))
        self.radius = 0.5 * math.hypot(height, width)
        self.roll = torch.nn.Parameter(roll.double().clone())
        self.shifts = torch.nn.Parameter(shifts.double().clone())
        self.logits = torch.nn.Parameter(weights.double().log().clone())

    @classmethod
    def from_kernel(cls, kernel: torch.Tensor, height: int, width: int, threshold: float = 0.05, focal: float | None = None) -> "CameraMotionField":
        """The pure translation that renders a uniform kernel: one pose per tap above ``threshold · max``.

        With the roll at 0 every pixel's PSF is the thresholded, renormalised ``kernel``, exactly.

        Args:
            kernel: ``(S, S)`` non-negative kernel (true convolution; odd ``S``).
            height, width: image size in pixels.
            threshold: taps below ``threshold · max kernel`` get no pose (in ``[0, 1)``).
            focal: as for the constructor.

        Returns:
            A field of ``N`` = (taps kept) poses: roll 0, shifts = tap offsets ``(dx, dy)`` from the
            centre in pixels, weights = the taps' values.

        Raises:
            ValueError: an all-zero or even-sided kernel.
        """
        k = kernel.detach().double().clamp(min=0)
        S = k.shape[-1]
        if k.ndim != 2 or k.shape[0] != S or S % 2 == 0:
            raise ValueError(f"need a square kernel with an odd side, got {tuple(kernel.shape)}")
        if float(k.max()) <= 0:
            raise ValueError("the kernel is all zero")
        rows, cols = torch.nonzero(k >= max(threshold, 1e-12) * k.max(), as_tuple=True)
        half = (S - 1) / 2
        shifts = torch.stack([cols.double() - half, rows.double() - half], dim=1)
        return cls(height, width, torch.zeros(len(rows), dtype=torch.float64), shifts, k[rows, cols], focal)

    @property
    def num_poses(self) -> int:
        """``N``."""
        return int(self.roll.shape[0])

    def weights(self) -> torch.Tensor:
        """``(N,)`` pose weights ``softmax(logits)`` (sum 1)."""
        return torch.softmax(self.logits, dim=0)

    def homographies(self) -> torch.Tensor:
        """``(N, 3, 3)`` float64 pose homographies (pitch = yaw = 0)."""
        angles = torch.stack([self.roll / self.radius, torch.zeros_like(self.roll), torch.zeros_like(self.roll)], dim=1)
        return pose_homographies(angles, self.shifts, self.focal, self.height, self.width)

    def kernels(self, centres: torch.Tensor, size: int) -> torch.Tensor:
        """PSFs at pixels: ``(P, 2)`` ``(row, col)`` → ``(P, S, S)`` float64 kernels summing to 1 (differentiable)."""
        d = pose_displacements(self.homographies(), centres.double())
        return splat_paths(d, self.weights(), size)

    def record(self) -> dict:
        """JSON-friendly description: poses (roll in radians, shifts in pixels, weights) and the focal length."""
        with torch.no_grad():
            return {
                "focal_px": self.focal,
                "roll_rad": (self.roll / self.radius).tolist(),
                "shifts_px": self.shifts.tolist(),
                "weights": self.weights().tolist(),
            }
