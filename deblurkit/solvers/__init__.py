"""Solvers: the optimisations that recover kernels (and images) from blurry observations."""

from deblurkit.solvers.attempts import estimate_workers
from deblurkit.solvers.deblur import deblur_image
from deblurkit.solvers.initial_kernel import (
    initial_feature_map,
    initial_kernel,
    initial_latent,
    luminance_tensor,
)
from deblurkit.solvers.joint import SolveResult, check_collapse, joint_optimize
from deblurkit.solvers.kernel_priors import FCNPrior, GLKMPrior, KernelPrior, make_prior
from deblurkit.solvers.kernel_size import auto_kernel_size
from deblurkit.solvers.nonblind import (
    HyperLaplacianConfig,
    deconvolve,
    deconvolve_image,
)
from deblurkit.solvers.presets import FAST, PAPER, PRESETS, Preset, get_preset
from deblurkit.solvers.result import DeblurResult

__all__ = [
    "FAST",
    "PAPER",
    "PRESETS",
    "DeblurResult",
    "FCNPrior",
    "GLKMPrior",
    "HyperLaplacianConfig",
    "KernelPrior",
    "Preset",
    "SolveResult",
    "auto_kernel_size",
    "check_collapse",
    "deblur_image",
    "deconvolve",
    "deconvolve_image",
    "estimate_workers",
    "get_preset",
    "initial_feature_map",
    "initial_kernel",
    "initial_latent",
    "joint_optimize",
    "luminance_tensor",
    "make_prior",
]
