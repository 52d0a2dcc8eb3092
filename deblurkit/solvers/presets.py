"""Solver presets: small frozen dataclasses consumed by :func:`deblurkit.solvers.deblur.deblur_image`.

``paper`` — GLKM Algorithm 2 with the reference settings (notes §2–§4): the whole image, SelfDeblur's
skip network (5 × 128 channels), 5000 Adam steps, image-net lr 1e-2, kernel lr of the prior (GLKM
5e-4, FCN 1e-4), all halved at steps 2000/3000/4000, MSE for 500 steps then 1 − SSIM; the DIP output
is the result (for colour, its luminance is combined with the non-blindly deconvolved chroma). Meant
for a GPU (on 2 CPU cores: ≈1.5 s per step on a 255² image, ≈2 h).

``fast`` — the CPU default (measured numbers in the report of issue #5 / docs):

1. the kernel is estimated on the most informative square crop of the luminance (largest mean
   squared gradient of the blurry image; side ``crop``, at least 4× the kernel side; a
   re-estimate of the residual check uses the next distinct window), with a lighter
   skip network (``width`` channels) and ``steps`` Adam steps on a compressed schedule (the paper's
   milestones 40/60/80 % of the run, MSE for the first ``mse_fraction``). The kernel learning rate
   is scaled by ``kernel_lr_scale = 5`` (≈ 5000 / 800, the paper's steps over ours) so that the kernel
   can travel as far as in the full schedule; the image net keeps 1e-2 (larger rates make DIP
   unstable). On Levin im2/kernel4 (27 px) with FCN this took 17.2 → 24.4 dB, on im1/kernel1 32.1 →
   31.6 dB (two measurements, not a tuning sweep).
   The kernel is estimated at least twice, on distinct windows with new seeds, and an estimate is
   accepted only when another one agrees with it (``min_estimates = 2``, ``agree_mnc``; a third
   window breaks a disagreement) — a wrong kernel usually comes from one window's content;
2. the kernel is cleaned (taps below ``kernel_threshold`` × max set to 0, renormalised, recentred
   on its centroid) and
3. the full-resolution image — every colour channel — is restored by a hyper-Laplacian
   non-blind deconvolution (Krishnan & Fergus' prior) solved by ADMM on the valid blur model, so
   the image borders need no guess (Almeida & Figueiredo 2013), with a data weight set from the
   estimated noise level (:mod:`deblurkit.solvers.nonblind`).

Cost of step 1 depends only on ``crop``, ``width`` and ``steps``, not on the image size; step 3 is
a few FFTs per channel (seconds for a megapixel). ``width = 32``: on a
128² crop one step costs 0.095 s instead of 0.137 s on one CPU thread
(``python benchmarks/estimate_step.py``), so that the two or three
cross-checked estimates of a 255² image fit in the 3-minute budget when they run concurrently
(``deblur_image(workers=…)``); the Levin figures of docs/benchmarks.md were re-measured with it
(every Levin window is 128 px). Larger windows (kernels above 32 px: 180 px for 45, 220 px for
55) keep the 48 channels they were used with before (``wide_width``): 32 channels were not
validated there, and on the one real photo checked (house, 55 px, first window, seed 0) the
32-channel estimate's residual ratio was 8.29 against 0.72 with 48.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from deblurkit.solvers.nonblind import HyperLaplacianConfig


@dataclass(frozen=True)
class Preset:
    """Settings of one blind-deblurring run.

    Attributes:
        name: preset name (``paper`` or ``fast``).
        steps: Adam steps of the joint optimisation (GLKM Algorithm 2's ``T``).
        mse_fraction: fraction of ``steps`` with the MSE loss; ``1 − SSIM`` afterwards.
        milestones: fractions of ``steps`` where every learning rate is multiplied by ``gamma``.
        gamma: learning-rate decay factor.
        lr_image: Adam learning rate of the image network (1e-2).
        kernel_lr_scale: multiplier of the kernel prior's own learning rate (GLKM 5e-4, FCN 1e-4);
            short schedules use a larger one.
        width: channels of every scale of the skip network (128 = SelfDeblur).
        wide_width: with ``crop`` set, the channels used instead of ``width`` when the estimation
            window is wider than ``crop`` (kernels larger than ``crop / 4``); ``None``: ``width``.
        scales: number of scales of the skip network (5 = SelfDeblur).
        skip_channels: skip-branch channels (16 = SelfDeblur).
        crop: side (pixels) of the square luminance crop the kernel is estimated on; ``None`` = the
            whole image.
        input_noise_std: std of the Gaussian perturbation of the DIP input at every step (1e-3).
        kernel_warmup: fraction of ``steps`` at the start during which the kernel is held at its
            starting value while the image network fits the data (0: the paper's joint updates
            from the first step). For a stage that starts from an estimated kernel (the
            non-uniform joint stage), so that the kernels are not moved by the gradients of a
            still-random image.
        latent_anchor: weight ``λ_a`` of the GLKM prior's anchor term
            ``λ_a ‖w_k − w_k⁰‖² / ‖w_k⁰‖²`` added to the data term
            (:meth:`deblurkit.solvers.kernel_priors.GLKMPrior.anchor_penalty`; 0 disables it, as in
            the paper; the FCN prior ignores it).
        estimate_denoise: strength (in units of the estimated noise std) of the non-local-means
            filter applied to the copy of the input the kernel is estimated on
            (:func:`deblurkit.solvers.denoise.estimation_image`); the image is still restored from
            the original input. 0 disables it (the paper estimates on the input).
        denoise_min_noise: estimated noise std (``[0, 1]`` units) below which no filter is applied.
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
        accept_residual_ratio: no-reference check of the result. The *residual ratio* is the MSE
            between the input luminance and the restored luminance re-blurred by the kernel,
            divided by the noise budget ``σ̂² + τ²`` (noise estimate and kernel-error std of the
            non-blind λ rule). At or below this value the estimate is accepted; above it the
            kernel is estimated again (``residual_retries`` times, new seeds, each on the next
            most informative window that overlaps the earlier ones by ≤ 50 %,
            :func:`deblurkit.solvers.deblur.informative_crops`) and the attempt
            with the lowest ratio is kept. 0.3: on Levin (development set) every estimate within
            1 dB of its image's best had a ratio ≤ 0.2 and 6 of the 7 failures (≥ 5 dB lost) had
            0.31–0.82; on the synthetic non-uniform set of issue #7 (noise 0.01, other images)
            every ratio ≤ 0.3 gained over the input and every ratio ≥ 0.6 lost 0.7–6.8 dB.
        max_residual_ratio: if even the kept attempt's ratio exceeds this, no kernel explains the
            input and it is returned unchanged ("do no harm"). ``inf`` disables the check.
        residual_retries: extra estimates after a ratio above ``accept_residual_ratio`` (2: on the
            six Levin images above 0.3, one new seed fixed three of them, 20.4 → 30.4 dB and
            23.8 → 32.9 dB among them, and not the others, which converged to a similar wrong
            kernel for every seed — hence the other window).
        min_estimates: kernel estimates (on distinct windows) made before one may be accepted. With
            1, the first estimate within ``accept_residual_ratio`` is kept. With ≥ 2 the estimates
            cross-check each other: an estimate is accepted only when it is within
            ``accept_residual_ratio`` *and* another estimate agrees with it
            (:func:`deblurkit.solvers.deblur.kernel_agreement` ≥ ``agree_mnc``); otherwise the next
            window is tried (never more than ``1 + residual_retries`` estimates in all). The
            estimate kept is, in this order of preference: within ``accept_residual_ratio``,
            agreed with by the most other estimates, lowest ratio (two estimates that agree on a
            kernel that the residual check rejects do not beat an accepted one). Why: the
            residual check cannot see a wrong kernel that the non-blind step still fits well
            (Levin: three such images at ratios 0.13–0.20), but a wrong kernel is usually caused
            by one window's content and is not reproduced on another window, while a right one is.
        agree_mnc: the agreement threshold (MNC up to a shift, ``[0, 1]``) of two estimates. 0.8
            was set before any measurement and not tuned (the Levin estimates within 1 dB of
            their image's best score ≳ 0.8 MNC against the true kernel).
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
    latent_anchor: float = 0.0
    estimate_denoise: float = 0.0
    denoise_min_noise: float = 0.005
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
        if self.latent_anchor < 0:
            raise ValueError(f"latent_anchor must be ≥ 0, got {self.latent_anchor}")
        if self.estimate_denoise < 0 or self.denoise_min_noise < 0:
            raise ValueError("need estimate_denoise ≥ 0 and denoise_min_noise ≥ 0")
        if self.min_estimates < 1 or not 0 <= self.agree_mnc <= 1:
            raise ValueError("need min_estimates ≥ 1 and 0 ≤ agree_mnc ≤ 1")
        if not 0 < self.accept_residual_ratio <= self.max_residual_ratio or self.residual_retries < 0:
            raise ValueError("need 0 < accept_residual_ratio ≤ max_residual_ratio and residual_retries ≥ 0")

    def with_(self, **changes) -> Preset:
        """A copy with some fields changed (``dataclasses.replace``)."""
        return replace(self, **changes)


# The paper's Algorithm 2. Its output is the DIP image, fitted to the input through the kernel, so the
# residual check (accept_residual_ratio) sees a small ratio whatever the kernel: on an H200 (four
# camera-shake images, σ 0.01) the ratios were 0.002–0.20 and an image 5.95 dB worse than
# its input was accepted. The check guards the `fast` preset's non-blind output.
PAPER = Preset(name="paper", steps=5000, mse_fraction=0.1, final="dip", estimator="dip")
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
    """Settings of the non-uniform (SVOLA) solver, GLKM Algorithm 4 coarse-to-fine.

    Attributes:
        name: preset name (``paper`` or ``fast``).
        global_: the first stage, one global kernel by the uniform solver.
        joint: the second stage, all patch kernels ``w_ki`` (started from the global ``w_k``) and
            the DIP image optimised jointly under the SVOLA operator on the whole luminance
            (``crop`` must be ``None``: every patch needs its data). ``final`` picks the output as
            for the uniform solver; ``"nonblind"`` deconvolves patch-wise
            (:func:`deblurkit.solvers.nonblind.deconvolve_patchwise`).
        global_scale: the global kernel is estimated on a copy of the input resized by this factor
            and brought back to full resolution as the joint stage's start
            (:func:`deblurkit.solvers.multiscale.deblur_image_at_scale`); ``1`` estimates at full
            resolution, as the paper does.

    Raises:
        ValueError: a joint stage with a ``crop``; ``global_scale`` outside ``(0, 1]``.
    """

    name: str
    global_: Preset
    joint: Preset
    global_scale: float = 1.0

    def __post_init__(self) -> None:
        if self.joint.crop is not None:
            raise ValueError("the non-uniform joint stage runs on the whole image (joint.crop must be None)")
        if not 0 < self.global_scale <= 1:
            raise ValueError(f"global_scale must be in (0, 1], got {self.global_scale}")


NONUNIFORM_PRESETS: dict[str, NonUniformPreset] = {
    # Algorithm 4 with the paper's settings in both stages.
    "paper": NonUniformPreset(name="paper", global_=PAPER, joint=PAPER),
    # CPU: the uniform fast preset, then a short joint stage with the light network on the whole
    # luminance. The patch kernels start at the global estimate, so they only need to move a
    # little: 300 steps at the fast kernel-lr scale, the kernels held for the first 30 % while
    # the new image network catches up (on two images of the synthetic set this turned a
    # rejected patch-wise result, residual ratio 1.34, into an accepted one, 0.21, and
    # lowered the other's ratio 0.21 → 0.17). One kernel cannot explain a spatially
    # varying blur to the uniform accept level, so the global stage re-estimates only when its
    # residual is above the give-up limit (gross failures), not on every image.
    # Both stages keep the 48-channel network with which the non-uniform figures of issue #7
    # were measured (the uniform preset's 32 channels were validated on Levin).
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
