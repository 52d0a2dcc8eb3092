"""Metrics: one place for every image and kernel score.

- :mod:`deblurkit.metrics.protocols` — the shift-aligned Levin/Lai protocol (``comp_upto_shift.m``).
- :mod:`deblurkit.metrics.ssim` — Wang's ``ssim.m`` and the scripts' ``psnr.m``.
- :mod:`deblurkit.metrics.kernels` — MNC and kernel L1/L2 errors after alignment.
- :mod:`deblurkit.metrics.iqa` — pyiqa metrics (LPIPS, NIQE, BRISQUE, PIQE ...), never downloading.
- :mod:`deblurkit.metrics.nr_params` — NIQE's and BRISQUE's published parameters from installed packages' data files.
"""

from deblurkit.metrics.kernels import (
    KernelErrors,
    MNCResult,
    kernel_errors,
    mnc,
    mnc_batch,
)
from deblurkit.metrics.protocols import PROTOCOLS, AlignedResult, compare_upto_shift
from deblurkit.metrics.ssim import psnr_matlab, ssim_wang

__all__ = [
    "PROTOCOLS",
    "AlignedResult",
    "KernelErrors",
    "MNCResult",
    "compare_upto_shift",
    "kernel_errors",
    "mnc",
    "mnc_batch",
    "psnr_matlab",
    "ssim_wang",
]
