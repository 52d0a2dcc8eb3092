"""Several kernel estimates of one image and the choice among them: the residual check and the cross-check.

The DIP pipeline (:mod:`deblurkit.solvers.dip_pipeline`) makes up to ``1 + Preset.residual_retries``
kernel estimates ("attempts"), each on its own window and seed. Each is scored by its *residual
ratio* — the restored luminance re-blurred by the kernel against the input, over the noise budget
``σ̂² + τ²`` (:mod:`deblurkit.solvers.restore`) — and, with ``Preset.min_estimates ≥ 2``, by how
many other estimates agree with it (:func:`kernel_support`). :func:`run_attempts` makes estimates
until one is accepted (:func:`settled`), :func:`choose` picks the one to keep. Estimates are
independent, so several run at once (:class:`EstimatePool`, :func:`estimate_workers`) with the same
result as one after the other.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from deblurkit.metrics.kernels import mnc
from deblurkit.solvers.joint import Progress, SolveResult
from deblurkit.solvers.kernel_priors import KernelPrior
from deblurkit.solvers.presets import Preset

#: ``(top, left, height, width)`` of an estimation window in pixels.
Window = tuple[int, int, int, int]


@dataclass(eq=False)
class Attempt:
    """One kernel estimate and its restoration.

    Attributes:
        best: the accepted joint optimisation, ``None`` when every restart diverged.
        best_prior: its kernel prior (holds the optimised parameters), or ``None``.
        k_raw: ``(S, S)`` float32 CPU kernel as estimated (or the fall-back kernel).
        k_used: ``(S', S')`` float64 kernel the image was restored with.
        out: ``(C, H, W)`` restored image in ``[0, 1]``.
        fit: residual MSE (:func:`deblurkit.solvers.restore.residual_mse`).
        notes: human-readable remarks.
        restarts: divergence restarts.
        fallback: ``None`` or what was used instead of a diverged or collapsed result.
        t_est, t_rest: seconds of estimation and restoration.
        crop: the estimation window.
        ratio: residual ratio ``fit / (σ̂² + τ²)`` (``inf`` when not finite).
        seed: base seed of the estimate.
        width: skip-network channels used.
    """

    best: SolveResult | None
    best_prior: KernelPrior | None
    k_raw: torch.Tensor
    k_used: torch.Tensor
    out: torch.Tensor
    fit: float
    notes: list[str]
    restarts: int
    fallback: str | None
    t_est: float
    t_rest: float
    crop: Window
    ratio: float = math.inf
    seed: int = 0
    width: int = 0

    def record(self, support: int) -> dict:
        """JSON record: window, seed, network width, residual ratio, ``support``, fall-back and cleaned kernel."""
        return {
            "crop": list(self.crop),
            "seed": self.seed,
            "width": self.width,
            "residual_ratio": self.ratio if math.isfinite(self.ratio) else None,
            "support": support,
            "fallback": self.fallback,
            "kernel": np.round(self.k_used.float().numpy(), 6).tolist(),
        }


def kernel_agreement(a: torch.Tensor, b: torch.Tensor) -> float:
    """How well two kernel estimates agree: MNC up to a shift, **no** 180° flip.

    A blind estimate fixes the kernel only up to a translation (which merely translates the
    deconvolved image), so shifts are free; a rotated kernel is a different blur, so it is not.

    Args:
        a, b: ``(h, w)`` non-negative kernels (any sizes; true-convolution orientation).

    Returns:
        Maximum normalised cross-correlation in ``[0, 1]`` (Hu & Yang 2012;
        :func:`deblurkit.metrics.mnc` with ``flip=False``).
    """
    return mnc(a, b, flip=False)[0]


def kernel_support(attempts: list, agree_mnc: float) -> list[int]:
    """For every estimate, how many of the *other* estimates agree with it.

    Two estimates agree when :func:`kernel_agreement` of their cleaned kernels is at least
    ``agree_mnc``; an estimate that fell back (diverged) neither gives nor gets support.

    Args:
        attempts: objects with ``k_used`` (a 2-D kernel) and ``fallback`` (:class:`Attempt`).
        agree_mnc: agreement threshold in ``[0, 1]``.

    Returns:
        ``len(attempts)`` counts.
    """
    ok = [t.fallback is None for t in attempts]
    support = [0] * len(attempts)
    for i in range(len(attempts)):
        for j in range(i + 1, len(attempts)):
            if ok[i] and ok[j] and kernel_agreement(attempts[i].k_used, attempts[j].k_used) >= agree_mnc:
                support[i] += 1
                support[j] += 1
    return support


def settled(attempts: list, support: list[int], p: Preset) -> bool:
    """Whether the estimates made so far may stop (rule of :attr:`Preset.min_estimates`).

    Args:
        attempts: objects with a residual ``ratio``, in the order made.
        support: :func:`kernel_support` of ``attempts``.
        p: the run's preset (``min_estimates``, ``accept_residual_ratio``).

    Returns:
        With ``min_estimates ≤ 1``: the last ratio is within ``accept_residual_ratio``. Otherwise
        at least ``min_estimates`` were made and one within ``accept_residual_ratio`` is agreed
        with by another.
    """
    if len(attempts) < p.min_estimates:
        return False
    if p.min_estimates <= 1:
        return attempts[-1].ratio <= p.accept_residual_ratio
    return any(t.ratio <= p.accept_residual_ratio and n > 0 for t, n in zip(attempts, support))


def choose(attempts: list, support: list[int], p: Preset) -> int:
    """Index of the estimate to keep.

    With ``min_estimates ≤ 1`` the lowest residual ratio. With cross-checked estimates
    (``min_estimates ≥ 2``): an accepted estimate (ratio within ``accept_residual_ratio``) before
    any other, then the most-confirmed one, then the lowest ratio — agreement ranks the estimates
    that the residual check accepts; it does not promote two estimates that agree on a kernel that
    the check rejects.

    Args:
        attempts: objects with a residual ``ratio`` (at least one).
        support: :func:`kernel_support` of ``attempts``.
        p: the run's preset.
    """
    if p.min_estimates <= 1:
        return min(range(len(attempts)), key=lambda i: attempts[i].ratio)
    return min(
        range(len(attempts)),
        key=lambda i: (attempts[i].ratio > p.accept_residual_ratio, -support[i], attempts[i].ratio),
    )


def estimate_workers(workers: int | None, preset: Preset, device: torch.device | str = "cpu") -> int:
    """How many kernel estimates run concurrently.

    Args:
        workers: the request (``None``: automatic).
        preset: the run's preset (its ``min_estimates`` estimates are always needed).
        device: on a CUDA device the automatic choice is 1 (one stream of work per GPU).

    Returns:
        ``workers`` when given; else ``min(Preset.min_estimates, torch.get_num_threads())`` on the
        CPU, 1 on CUDA.

    Raises:
        ValueError: ``workers < 1``.
    """
    if workers is not None:
        if workers < 1:
            raise ValueError(f"workers must be ≥ 1, got {workers}")
        return workers
    if torch.device(device).type != "cpu":
        return 1
    return max(1, min(preset.min_estimates, torch.get_num_threads()))


class EstimatePool:
    """Runs ``attempt(a)`` for the estimates asked for, ``workers`` at a time.

    Threads, each with ``torch.get_num_threads() // workers`` intra-op threads (restored on exit).
    With one worker every estimate runs in the caller's thread when its result is asked for.
    """

    def __init__(self, attempt: Callable[[int], Attempt], workers: int) -> None:
        self.attempt, self.workers = attempt, workers
        self.futures: dict[int, Future] = {}
        self.pool: ThreadPoolExecutor | None = None
        self.threads = torch.get_num_threads()
        self.threads_per_estimate = max(1, self.threads // workers)

    def __enter__(self) -> EstimatePool:
        if self.workers > 1:
            torch.set_num_threads(self.threads_per_estimate)
            self.pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="kernel-estimate")
        return self

    def submit(self, a: int) -> None:
        """Start estimate ``a`` (a no-op when already started or with one worker)."""
        if self.pool is not None and a not in self.futures:
            self.futures[a] = self.pool.submit(self.attempt, a)

    def result(self, a: int) -> Attempt:
        """Estimate ``a``, waiting for it (or computing it, with one worker)."""
        if self.pool is None:
            return self.attempt(a)
        self.submit(a)
        return self.futures[a].result()

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            torch.set_num_threads(self.threads)


class ProgressMux:
    """Merges the per-step progress of concurrent estimates into one ``progress(step, total, loss)``.

    ``step`` and ``total`` count the steps of all the estimates started so far.
    """

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.done: dict[int, int] = {}
        self.lock = threading.Lock()

    def for_attempt(self, a: int) -> Progress:
        """The progress callback of estimate ``a``."""
        with self.lock:
            self.done.setdefault(a, 0)

        def report(step: int, total: int, loss: float) -> None:
            with self.lock:
                self.done[a] = step
                done, total_all = sum(self.done.values()), total * len(self.done)
                self.progress(done, total_all, loss)

        return report


def run_attempts(
    attempt: Callable[[int], Attempt], plan: list[tuple[int, Window]], workers: int, p: Preset
) -> tuple[list[Attempt], list[int], int]:
    """Make kernel estimates until one is accepted (:func:`settled`), a fall-back occurs or ``plan`` is used up.

    As many estimates as there are workers start at once: the first ``min_estimates`` are needed
    unless one falls back; any beyond them are speculative (used only if the cross-check asks for
    them). Every estimate that is not the last gets a note saying why another one follows.

    Args:
        attempt: ``attempt(a)`` makes estimate ``a`` (0-based) with ``plan[a]``; it sets ``ratio``.
        plan: ``(seed, window)`` of every estimate that may be made (``1 + residual_retries``).
        workers: estimates computed concurrently (:func:`estimate_workers`).
        p: the run's preset.

    Returns:
        ``(attempts, support, threads_per_estimate)``: the estimates made, in order; their
        :func:`kernel_support`; the intra-op threads each one ran with.
    """
    attempts: list[Attempt] = []
    support: list[int] = []
    with EstimatePool(attempt, workers) as pool:
        for a in range(min(len(plan), workers)):
            pool.submit(a)
        for a in range(len(plan)):
            att = pool.result(a)
            attempts.append(att)
            support = kernel_support(attempts, p.agree_mnc)
            if att.fallback is not None or settled(attempts, support, p):
                break
            if a + 1 < len(plan):
                pool.submit(a + 1)  # no-op if already submitted or if estimates run in this thread
                why = (
                    f"the restored image leaves a residual {att.ratio:.2f}× the noise budget (σ̂² + τ²) unexplained "
                    f"(accepted: ≤ {p.accept_residual_ratio:g}): kernel estimate doubtful"
                    if att.ratio > p.accept_residual_ratio
                    else f"no accepted estimate is yet confirmed by another (≥ {p.min_estimates} estimates, agreement MNC ≥ {p.agree_mnc:g})"
                )
                seed, window = plan[a + 1]
                att.notes.append(f"{why}; estimating again with seed {seed} on window (top, left, height, width) = {window}")
    return attempts, support, pool.threads_per_estimate
