"""Speed benchmarks (``make bench``): kernel synthesis and the uniform blur operator.

Prints a Markdown report (machine, command, tables) to stdout; paste it into docs/benchmarks.md.
Usage: ``python benchmarks/run.py [--count 10000] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch

from deblurkit.kernels import FAMILIES, SynthesisConfig, synthesize_kernels
from deblurkit.physics import blur


def machine() -> str:
    """One line describing the machine the numbers come from."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    return f"{os.cpu_count()} CPU cores ({cpu}), {gpu}, torch {torch.__version__}, {torch.get_num_threads()} threads"


def best_of(fn, repeat: int) -> float:  # noqa: ANN001
    """Smallest wall time of ``repeat`` calls, in seconds (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    """Run the benchmarks and print the Markdown report."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    print(f"Machine: {machine()}\n")
    print(f"### Kernel synthesis ({args.count} kernels, wall time of one run after a warm-up run)\n")
    print("| family | 31×31 | 55×55 | 75×75 |\n| --- | --- | --- | --- |")
    for family in sorted(FAMILIES):
        cells = []
        for size in (31, 55, 75):
            cfg = SynthesisConfig(family=family, size=size, count=args.count, seed=0)
            t = best_of(lambda: synthesize_kernels(cfg), 1)
            cells.append(f"{t:.1f} s")
        print(f"| {family} | " + " | ".join(cells) + " |")

    print("\n### Uniform blur, `same` mode, forward, ms (best of %d)\n" % args.repeat)
    print("| image | kernel | direct | fft | auto picks |\n| --- | --- | --- | --- | --- |")
    from deblurkit.physics.functional import FFT_MIN_TAPS

    for shape in ((1, 1, 255, 255), (1, 3, 1024, 1024)):
        x = torch.rand(*shape)
        for s in (3, 5, 9, 15, 31, 55, 75):
            k = torch.rand(s, s)
            k /= k.sum()
            with torch.no_grad():
                direct = best_of(lambda: blur(x, k, "same", "direct"), args.repeat) * 1e3
                fft = best_of(lambda: blur(x, k, "same", "fft"), args.repeat) * 1e3
            auto = "fft" if s * s >= FFT_MIN_TAPS else "direct"
            print(f"| {shape[1]}×{shape[2]}×{shape[3]} | {s}×{s} | {direct:.1f} | {fft:.1f} | {auto} |")


if __name__ == "__main__":
    main()
