"""Solver presets: small frozen dataclasses consumed by :func:`deblurkit.solvers.deblur.deblur_image`.

``paper`` — GLKM Algorithm 2 with the reference settings (notes §2–§4): the whole image, SelfDeblur's
skip network (5 × 128 channels), 5000 Adam steps, image-net lr 1e-2, kernel lr of the prior (GLKM
5e-4, FCN 1e-4), all halved at steps 2000/3000/4000, MSE for 500 steps then 1 − SSIM; the DIP output
is the result (for colour, its luminance with the non-blindly deconvolved chroma). Meant for a GPU
(≈ 1.5 s per step on a 255² image on 2 CPU cores, ≈ 2 h).

``fast`` — the CPU default. GLKM and the free kernel use the coarse-to-fine estimator
(:mod:`deblurkit.solvers.blind`; the DIP settings below then serve only ``--prior dip``'s
refinement); the FCN prior runs the DIP pipeline (:mod:`deblurkit.solvers.dip_pipeline`):

1. the kernel is estimated on the most informative square window of the luminance
   (:mod:`deblurkit.solvers.windows`; side ``crop``, at least 4× the kernel side) by a light skip
   network (``width`` channels) in ``steps`` Adam steps on the paper's schedule compressed to 800
   steps, with the kernel learning rate scaled by the ratio of the step counts (``kernel_lr_scale``);
2. it is estimated at least twice, on distinct windows with new seeds, and an estimate is accepted
   only when the residual check passes and another estimate agrees with it (``min_estimates``,
   :mod:`deblurkit.solvers.attempts`);
3. the kernel is cleaned and every colour channel of the full-resolution image is restored by the
   hyper-Laplacian non-blind deconvolution (:mod:`deblurkit.solvers.restore`).

The cost of step 1 depends on ``crop``, ``width`` and ``steps``, not on the image size; step 3 is a
few FFTs per channel (seconds for a megapixel). On the 32 Levin images ``fast`` with the FCN prior
gives 32.08 dB / SSIM 0.923 (``deblurkit bench levin --data ../shared/data/levin -o runs/lv_fcn --
--kernel-prior fcn``).

The non-uniform presets (:data:`NONUNIFORM_PRESETS`) pair a uniform global stage with the joint
SVOLA stage of GLKM Algorithm 4 (:mod:`deblurkit.solvers.nonuniform`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from deblurkit.solvers.camera_field import CameraFieldConfig
from deblurkit.solvers.nonblind import HyperLaplacianConfig


@dataclass(frozen=True)
class Preset:
    """Settings of one uniform blind-deblurring run.

    Attributes:
        name: preset name (``paper`` or ``fast``).
        steps: Adam steps of the joint optimisation (GLKM Algorithm 2's ``T``).
        mse_fraction: fraction of ``steps`` with the MSE loss; ``1 − SSIM`` afterwards (SelfDeblur:
            500 of 5000).
        milestones: fractions of ``steps`` where every learning rate is multiplied by ``gamma``
            (SelfDeblur: 2000, 3000, 4000 of 5000).
        gamma: learning-rate decay factor (0.5).
        lr_image: Adam learning rate of the image network (1e-2; larger rates make DIP unstable).
        kernel_lr_scale: multiplier of the kernel prior's own learning rate (GLKM 5e-4, FCN 1e-4), so
            that in a short schedule the kernel can travel as far as in the paper's; ``fast``: 5 ≈
            5000 / 800, which on Levin im2_kernel4 with FCN gave 24.4 dB against 17.2 dB with 1.
        width: channels of every scale of the skip network (128 = SelfDeblur). ``fast``: 32, so that
            the cross-checked estimates of a 255² image fit in 3 minutes (an estimation step on a
            128² window: 0.095 s against 0.137 s with 48 channels, one CPU thread); every Levin
            window is 128 px.
        wide_width: with ``crop`` set, the channels used instead of ``width`` when the estimation
            window is wider than ``crop`` (kernels larger than ``crop / 4``); ``None``: ``width``.
            ``fast``: 48, since on the photo house (55-px kernel, 220-px window) the first estimate
            had residual ratio 8.29 with 32 channels and 0.72 with 48 (``deblur_image(img, "fcn",
            FAST.with_(width=W, min_estimates=1, residual_retries=0), kernel_size=55, seed=0)``).
        scales: number of scales of the skip network (5 = SelfDeblur).
        skip_channels: skip-branch channels (16 = SelfDeblur).
        crop: side (pixels) of the square luminance window the kernel is estimated on; ``None`` =
            the whole image (the paper).
        input_noise_std: std of the Gaussian perturbation of the DIP input at every step (1e-3,
            SelfDeblur).
        kernel_warmup: fraction of ``steps`` at the start during which the kernel is held at its
            starting value while the image network fits the data (0: the paper's joint updates from
            the first step). For a stage that starts from an estimated kernel (the non-uniform joint
            stage), so that the kernels are not moved by the gradients of a still-random image.
        final: ``"dip"`` (the network's image, as in the paper; needs ``crop=None``) or
            ``"nonblind"`` (full-resolution deconvolution with the estimated kernel).
        kernel_threshold: taps below this fraction of the kernel's maximum are zeroed before the
            non-blind step (0 disables; Cho & Lee 2009 use 1/20).
        nonblind: parameters of the non-blind deconvolution.
        estimator: how the GLKM kernel is estimated: ``"pyramid"`` (the coarse-to-fine estimator,
            :mod:`deblurkit.solvers.blind`; the DIP settings above then serve only ``--prior dip``'s
            refinement) or ``"dip"`` (GLKM Algorithm 2's joint DIP optimisation from the start, as
            in the paper).
        max_restarts: restarts (new seed) after a detected divergence before falling back.
        accept_residual_ratio: acceptance limit of the no-reference residual check. The *residual
            ratio* is the MSE between the input luminance and the restored luminance re-blurred by
            the kernel, divided by the noise budget ``σ̂² + τ²`` (noise estimate and kernel-error std
            of the non-blind λ rule, :mod:`deblurkit.solvers.restore`). At or below this value an
            estimate is accepted; above it the kernel is estimated again (``residual_retries``) and
            the estimate with the lowest ratio is kept. 0.3: on Levin (FCN, ``fast``) every estimate
            within 1 dB of its image's best had a ratio ≤ 0.2 and 6 of the 7 that lost ≥ 5 dB had
            0.31–0.82 (the ``attempts`` of the JSONs of the Levin command in the module docstring).
            The paper preset's DIP output is fitted to the input through the kernel, so its ratio is
            small whatever the kernel: the check guards the non-blind output.
        max_residual_ratio: if even the kept estimate's ratio exceeds this, no kernel explains the
            input and it is returned unchanged ("do no harm"). ``inf`` disables the check.
        residual_retries: extra estimates after a ratio above ``accept_residual_ratio``, each with a
            new seed on the next most informative window (:func:`deblurkit.solvers.windows.informative_crops`).
            2: of the six Levin images above 0.3, a new seed on the same window fixed three
            (e.g. 20.4 → 30.4 dB) and the others converged to a similar wrong kernel for every seed —
            hence the other window.
        min_estimates: kernel estimates (on distinct windows) made before one may be accepted. With
            1, the first estimate within ``accept_residual_ratio`` is kept. With ≥ 2 the estimates
            cross-check each other: an estimate is accepted only when it is within
            ``accept_residual_ratio`` *and* another estimate agrees with it
            (:func:`deblurkit.solvers.attempts.kernel_agreement` ≥ ``agree_mnc``); otherwise the next
            window is tried (never more than ``1 + residual_retries`` estimates in all); the choice
            is :func:`deblurkit.solvers.attempts.choose`. ``fast``: 2, since the residual check
            cannot see a wrong kernel that the non-blind step still fits well (three such Levin
            images at ratios 0.13–0.20), but a wrong kernel usually comes from one window's
            content and is not reproduced on another window.
        agree_mnc: the agreement threshold (MNC up to a shift, ``[0, 1]``) of two estimates. 0.8, not
            tuned: the Levin estimates within 1 dB of their image's best score ≳ 0.8 MNC against the
            true kernel.
    """

    name: str
    steps: int
    mse_fraction: float = 0.1
    milestones: tuple[float, ...] = (0.4, 0.6, 0.8)
    gamma: float = 0.5
    lr_image: float = 1e-2
    kernel_lr_scale: float = 1.0
    width: int = 128
    wide_width: int | None = None
    scales: int = 5
    skip_channels: int = 16
    crop: int | None = None
    input_noise_std: float = 1e-3
    kernel_warmup: float = 0.0
    final: str = "dip"
    kernel_threshold: float = 0.0
    nonblind: HyperLaplacianConfig = field(default_factory=HyperLaplacianConfig)
    estimator: str = "pyramid"
    max_restarts: int = 1
    accept_residual_ratio: float = 0.3
    max_residual_ratio: float = 1.0
    residual_retries: int = 2
    min_estimates: int = 1
    agree_mnc: float = 0.8

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps must be ≥ 1, got {self.steps}")
        if self.final not in ("dip", "nonblind"):
            raise ValueError(f"final must be 'dip' or 'nonblind', got {self.final!r}")
        if self.final == "dip" and self.crop is not None:
            raise ValueError("final='dip' needs the kernel to be estimated on the whole image (crop=None)")
        if not 0 <= self.mse_fraction <= 1:
            raise ValueError(f"mse_fraction must be in [0, 1], got {self.mse_fraction}")
        if not 0 <= self.kernel_warmup < 1:
            raise ValueError(f"kernel_warmup must be in [0, 1), got {self.kernel_warmup}")
        if self.min_estimates < 1 or not 0 <= self.agree_mnc <= 1:
            raise ValueError("need min_estimates ≥ 1 and 0 ≤ agree_mnc ≤ 1")
        if not 0 < self.accept_residual_ratio <= self.max_residual_ratio or self.residual_retries < 0:
            raise ValueError("need 0 < accept_residual_ratio ≤ max_residual_ratio and residual_retries ≥ 0")

    def with_(self, **changes) -> Preset:
        """A copy with some fields changed (``dataclasses.replace``)."""
        return replace(self, **changes)


#: GLKM Algorithm 2 with the paper's settings (module docstring).
PAPER = Preset(name="paper", steps=5000, mse_fraction=0.1, final="dip", estimator="dip")
#: The CPU default (module docstring).
FAST = Preset(
    name="fast",
    steps=800,
    mse_fraction=0.1,
    width=32,
    wide_width=48,
    crop=128,
    final="nonblind",
    kernel_threshold=0.05,
    kernel_lr_scale=5.0,
    min_estimates=2,
    agree_mnc=0.8,
)

PRESETS: dict[str, Preset] = {"paper": PAPER, "fast": FAST}


def get_preset(name: str | Preset) -> Preset:
    """Look a preset up by name (a :class:`Preset` is returned unchanged).

    Raises:
        ValueError: for an unknown name.
    """
    return name if isinstance(name, Preset) else _lookup(PRESETS, name)


@dataclass(frozen=True)
class NonUniformPreset:
    """Settings of the non-uniform (SVOLA) solver, GLKM Algorithm 4.

    Attributes:
        name: preset name (``paper`` or ``fast``).
        global_: the first stage, one global kernel by the uniform solver.
        camera: settings of the camera-motion field (``field="camera"``,
            :class:`~deblurkit.solvers.camera_field.CameraFieldConfig`).
        joint: the second stage of ``field="free"``, all patch kernels ``w_ki`` (started from the global ``w_k``) and
            the DIP image optimised jointly under the SVOLA operator on the whole luminance
            (``crop`` must be ``None``: every patch needs its data). ``final`` picks the output as
            for the uniform solver; ``"nonblind"`` deconvolves patch-wise
            (:func:`deblurkit.solvers.nonblind.deconvolve_patchwise`).

    Raises:
        ValueError: a joint stage with a ``crop``.
    """

    name: str
    global_: Preset
    joint: Preset
    camera: CameraFieldConfig = CameraFieldConfig()

    def __post_init__(self) -> None:
        if self.joint.crop is not None:
            raise ValueError("the non-uniform joint stage runs on the whole image (joint.crop must be None)")


NONUNIFORM_PRESETS: dict[str, NonUniformPreset] = {
    # GLKM Algorithm 4 with the paper's settings in both stages.
    "paper": NonUniformPreset(name="paper", global_=PAPER, joint=PAPER),
    # CPU: the uniform fast preset (one estimate, re-estimated only above the give-up limit: one
    # kernel cannot explain a spatially varying blur to the uniform acceptance level), then a
    # 300-step joint stage on the whole luminance with the patch kernels held for the first 30 %
    # while the new image network catches up (on two images of the synthetic non-uniform set it
    # turned a rejected patch-wise result, residual ratio 1.34, into an accepted one, 0.21). Both
    # stages use 48 channels, the width the non-uniform results of docs/benchmarks.md were measured
    # with (`deblurkit synth-set ../shared/data/train/cbsd432 --count 20 --split val --crop 256
    # --seed 0 -o runs/nu_set`, then `deblurkit deblur-nonuniform runs/nu_set/blurry -o runs/nu_fast`).
    "fast": NonUniformPreset(
        name="fast",
        global_=FAST.with_(accept_residual_ratio=FAST.max_residual_ratio, min_estimates=1, width=48),
        joint=FAST.with_(name="fast-svola", steps=300, crop=None, kernel_warmup=0.3, width=48),
    ),
}


def get_nonuniform_preset(name: str | NonUniformPreset) -> NonUniformPreset:
    """Look a non-uniform preset up by name (a :class:`NonUniformPreset` is returned unchanged).

    Raises:
        ValueError: for an unknown name.
    """
    return name if isinstance(name, NonUniformPreset) else _lookup(NONUNIFORM_PRESETS, name)


def _lookup(table: dict, name: str):  # noqa: ANN202
    if name not in table:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(table)}")
    return table[name]
