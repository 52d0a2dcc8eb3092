"""The colour pipeline: restoring the full-resolution input with a kernel estimated on its luminance.

The kernel is estimated on the BT.601 luminance of a window; the image is restored afterwards:

1. the estimate is cleaned (:func:`clean_kernel`: small taps zeroed, connected mass kept, recentred
   on its centroid, trimmed to its support; Cho & Lee, "Fast motion deblurring", SIGGRAPH Asia
   2009, threshold 1/20 of the maximum);
2. every colour channel is deconvolved at full resolution by the hyper-Laplacian non-blind step
   (:func:`deblurkit.solvers.nonblind.deconvolve`, Krishnan & Fergus 2009, on the valid blur model
   of Almeida & Figueiredo 2013), its data weight set from the input's estimated noise;
3. GLKM's own output (the ``paper`` preset's ``final="dip"``) is the DIP image instead: its
   luminance replaces that of the deconvolved image, whose chroma is kept
   (:func:`with_dip_luminance`);
4. the restored image must not be collapsed (:func:`reject_collapsed`), and the *residual*
   (:func:`residual_mse`: the restored luminance re-blurred by the kernel against the input's, a
   no-reference check) is compared with the noise budget ``σ̂² + τ²`` (:func:`noise_budget`) by
   the callers' residual check (:attr:`deblurkit.solvers.presets.Preset.accept_residual_ratio`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from deblurkit.color import rgb_to_ycbcr, ycbcr_to_rgb
from deblurkit.physics.blur import UniformBlur
from deblurkit.physics.functional import centre_crop
from deblurkit.solvers.initial_kernel import luminance_tensor
from deblurkit.solvers.joint import check_collapse
from deblurkit.solvers.nonblind import HyperLaplacianConfig


def clean_kernel(k: torch.Tensor, threshold: float) -> torch.Tensor:
    """Zero taps below ``threshold × max``, recentre on the centroid, trim to the support.

    Args:
        k: ``(S, S)`` non-negative kernel (any float dtype; negative taps are clipped to 0).
        threshold: fraction of the maximum below which taps are zeroed, ``[0, 1)`` (0: no zeroing).

    Returns:
        ``(S', S')`` float64 kernel summing to 1, odd side ``S' ≤ S``: trimmed to its support plus
        one pixel, centroid at the centre tap (a whole-pixel shift of the estimate, which only
        translates the deconvolved image).
    """
    k = k.detach().double().clamp(min=0)
    if threshold > 0:
        k = torch.where(k >= threshold * k.max(), k, torch.zeros_like(k))
    k = k / k.sum()
    S = k.shape[0]
    r = torch.arange(S, dtype=k.dtype)
    cy, cx = float((k.sum(1) * r).sum()), float((k.sum(0) * r).sum())
    nz = torch.nonzero(k > 0)
    y0, x0 = nz.min(0).values.tolist()
    y1, x1 = nz.max(0).values.tolist()
    cyi, cxi = round(cy), round(cx)
    half = min(max(cyi - y0, y1 - cyi, cxi - x0, x1 - cxi) + 1, (S - 1) // 2)
    big = F.pad(k, (half, half, half, half))
    out = big[cyi : cyi + 2 * half + 1, cxi : cxi + 2 * half + 1]
    return out / out.sum()


def with_dip_luminance(out: torch.Tensor, x_dip: torch.Tensor) -> torch.Tensor:
    """The restored image ``out`` with its luminance replaced by the DIP image's.

    Args:
        out: ``(C, H, W)`` restored image in ``[0, 1]``, ``C ∈ {1, 3}`` (RGB for 3).
        x_dip: ``(1, 1, H', W')`` DIP luminance (BT.601 Y, the channel the kernel was fitted to),
            ``H' ≥ H``, ``W' ≥ W``; its centred ``H × W`` region is used.

    Returns:
        ``(C, H, W)`` in ``[0, 1]``, ``out``'s dtype and device: the DIP luminance for grey, else
        RGB from the DIP's Y and ``out``'s Cb, Cr.
    """
    C, H, W = out.shape
    ydip = centre_crop(x_dip, H, W)[0].to(device=out.device, dtype=out.dtype)
    if C == 1:
        return ydip.clamp(0, 1)
    ycc = torch.cat([ydip, rgb_to_ycbcr(out)[1:]], dim=0)
    return ycbcr_to_rgb(ycc).clamp(0, 1)


def reject_collapsed(
    out: torch.Tensor, rgb: torch.Tensor, y: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, str | None]:
    """The last safety net: a collapsed restoration (:func:`~deblurkit.solvers.joint.check_collapse`) is replaced by the input.

    Args:
        out: ``(C, H, W)`` restored image in ``[0, 1]``.
        rgb: ``(C, H, W)`` the input.
        y: ``(1, 1, H, W)`` the input's luminance.

    Returns:
        ``(image, luminance, reason)``: ``out``, its ``(1, 1, H, W)`` CPU luminance and ``None``
        when plausible; else a copy of ``rgb``, ``y`` on the CPU and the reason.
    """
    lum = luminance_tensor(out.permute(1, 2, 0).cpu().numpy())
    reason = check_collapse(lum, y.cpu())
    if reason is not None:
        return rgb.clone(), y.cpu(), reason
    return out, lum, None


def residual_mse(lum: torch.Tensor, y: torch.Tensor, k: torch.Tensor) -> float:
    """MSE between ``y`` and the restored luminance ``lum`` re-blurred by ``k`` (valid region).

    Args:
        lum: ``(1, 1, H, W)`` restored luminance in ``[0, 1]`` (CPU).
        y: ``(1, 1, H, W)`` observed luminance.
        k: ``(s, s)`` kernel, true-convolution orientation, odd ``s``.

    Returns:
        The mean over the ``(H − s + 1) × (W − s + 1)`` valid region (``[0, 1]²`` intensity units),
        ``nan`` when the image is not larger than the kernel.
    """
    H, W = lum.shape[-2:]
    kk = k.float()
    if min(H, W) <= kk.shape[0]:
        return float("nan")
    with torch.no_grad():
        reblurred = UniformBlur(mode="valid").A(lum, kk)
        return float(F.mse_loss(reblurred, centre_crop(y.cpu(), H - kk.shape[0] + 1, W - kk.shape[1] + 1)))


def noise_budget(noise_std: float, nonblind: HyperLaplacianConfig) -> float:
    """The residual a right kernel leaves: ``σ̂² + τ²`` (``[0, 1]²`` intensity units).

    ``σ̂`` is the input's estimated noise std, ``τ`` the kernel-error std of the non-blind λ rule
    (:attr:`deblurkit.solvers.nonblind.HyperLaplacianConfig.lam_tau`). The *residual ratio* is
    :func:`residual_mse` divided by this.
    """
    return noise_std**2 + nonblind.lam_tau**2
