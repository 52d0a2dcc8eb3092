"""Cost of one kernel-estimation step of the ``fast`` preset (issue #5), and of its SSIM loss.

Reproduces the per-step figures quoted in :mod:`deblurkit.solvers.presets` and docs/benchmarks.md
("Current (session 19)"): :func:`deblurkit.solvers.deblur.joint_optimize` on a random 128² crop
with a 31-px FCN kernel prior, for each network width, one intra-op thread, wall seconds per step
(after a short warm-up run); and the forward + backward time of ``1 − SSIM`` on a 128² image with
the separable window (:func:`deblurkit.solvers.losses.ssim`) against the 2-D 11×11 window it
replaced (the textbook filtering, written out here only as the reference).

Usage: ``python benchmarks/estimate_step.py [--widths 32,48] [--steps 100] [--threads 1]``.
Prints a Markdown table. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from deblurkit.solvers.deblur import joint_optimize, make_prior
from deblurkit.solvers.losses import gaussian_window, ssim
from deblurkit.solvers.presets import FAST


def step_seconds(width: int, steps: int) -> float:
    """Wall seconds per step of ``joint_optimize`` (``FAST`` schedule, ``width`` channels)."""
    y = torch.rand(1, 1, 128, 128, generator=torch.Generator().manual_seed(0))
    joint_optimize(y, make_prior("fcn", 31), FAST.with_(steps=5, width=width))  # warm-up
    t = time.perf_counter()
    joint_optimize(y, make_prior("fcn", 31), FAST.with_(steps=steps, width=width))
    return (time.perf_counter() - t) / steps


def ssim_2d(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The 2-D-window SSIM (reference for the timing only)."""
    c = x.shape[1]
    w = gaussian_window(11, 1.5, x.dtype).expand(c, 1, 11, 11)
    f = lambda t: F.conv2d(t, w, groups=c)  # noqa: E731
    mx, my = f(x), f(y)
    sxx, syy, sxy = f(x * x) - mx**2, f(y * y) - my**2, f(x * y) - mx * my
    return ((2 * mx * my + 1e-4) * (2 * sxy + 9e-4) / ((mx**2 + my**2 + 1e-4) * (sxx + syy + 9e-4))).mean()


def loss_ms(fn, repeat: int = 30) -> float:  # noqa: ANN001
    """Milliseconds per forward + backward of ``1 − fn(x, y)`` on 128² images."""
    x = torch.rand(1, 1, 128, 128, requires_grad=True)
    y = torch.rand(1, 1, 128, 128)
    (1 - fn(x, y)).backward()
    t = time.perf_counter()
    for _ in range(repeat):
        (1 - fn(x, y)).backward()
    return (time.perf_counter() - t) / repeat * 1000


def main() -> None:
    """Parse the options, time, print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--widths", default="32,48")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)\n")
    print("| what | time |\n| --- | --- |")
    for w in (int(v) for v in args.widths.split(",")):
        print(f"| estimation step, {w} channels, 128² crop, 31-px kernel | {step_seconds(w, args.steps):.3f} s |")
    print(f"| 1 − SSIM fwd+bwd, separable window | {loss_ms(ssim):.1f} ms |")
    print(f"| 1 − SSIM fwd+bwd, 2-D window | {loss_ms(ssim_2d):.1f} ms |")


if __name__ == "__main__":
    main()
