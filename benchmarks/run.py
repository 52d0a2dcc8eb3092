"""Speed benchmarks (``make bench``): kernel synthesis, the uniform blur operator, and the wall
time and peak memory of the deblurring commands against the product's targets.

Prints a Markdown report (machine, command, tables) to stdout; paste it into docs/benchmarks.md.
Usage: ``python benchmarks/run.py [--sections synth,blur,deblur] [--count 10000] [--repeat 3]
[--commands deblur,deblur-nonuniform]``.
The ``deblur`` section runs the real commands (``deblurkit deblur`` / ``deblur-nonuniform`` with
the default settings) as child processes on inputs it makes from scikit-image sample images with
``deblurkit blur``; it takes about 20 minutes on 2 CPU cores. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def run_child(args: list[str]) -> tuple[float, float]:
    """Run ``deblurkit ARGS`` as a child process.

    Returns:
        ``(wall seconds, peak resident memory of the child in GiB)``.

    Raises:
        RuntimeError: the command failed (its output is included).
    """
    exe = shutil.which("deblurkit") or str(Path(sys.executable).with_name("deblurkit"))
    with tempfile.TemporaryFile() as log:  # a file, not a pipe: a full pipe would block the child
        t = time.perf_counter()
        proc = subprocess.Popen([exe, *args], stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
        log.seek(0)
        out = log.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"deblurkit {' '.join(args)} failed:\n{out}")
    return wall, usage.ru_maxrss / 2**20  # ru_maxrss is in KiB on Linux


def deblur_section(commands: set[str]) -> None:
    """Wall time and peak memory of the deblurring commands, default settings (and ``--prior dip``).

    Args:
        commands: which commands' cases to run (``deblur``, ``deblur-nonuniform``).
    """
    import cv2

    from deblurkit.examples import example_image
    from deblurkit.io import write_image

    work = Path(tempfile.mkdtemp(prefix="deblurkit-bench-"))
    try:
        cam = example_image("camera")  # (512, 512) gray
        h = (cam.shape[0] - 255) // 2
        write_image(work / "camera255.png", cam[h : h + 255, h : h + 255])
        astro = example_image("astronaut")  # (512, 512, 3)
        write_image(work / "astronaut512.png", astro)
        write_image(work / "astronaut1mp.png", cv2.resize(astro, (1024, 1024), interpolation=cv2.INTER_CUBIC).clip(0, 1))
        cases = [
            ("255×255 gray, 31-px kernel, σ 0.005", "camera255", ["--size", "31", "--noise", "0.005"], "deblur", [], "≤ 60 s, ≤ 3 GiB"),
            ("255×255 gray, 31-px kernel, σ 0.005", "camera255", ["--size", "31", "--noise", "0.005"], "deblur", ["--prior", "dip"], "(DIP prior: reported)"),
            ("1024×1024 colour (1 MP), 55-px kernel, σ 0.005", "astronaut1mp", ["--size", "55", "--noise", "0.005"], "deblur", [], "≤ 3 min, ≤ 3 GiB"),
            ("512×512 colour, camera shake, σ 0.01", "astronaut512", ["--nonuniform", "--noise", "0.01"], "deblur-nonuniform", [], "≤ 15 min"),
        ]
        print("\n### Deblurring commands, default settings, one process\n")
        print("| input | command | wall time | peak RSS | target | kernel size, outcome |")
        print("| --- | --- | --- | --- | --- | --- |")
        for i, (label, stem, blur_args, command, extra, target) in enumerate(c for c in cases if c[3] in commands):
            blurry = work / "in" / f"{stem}.png"
            if not blurry.exists():
                kernel_args = [] if "--nonuniform" in blur_args else ["--random-kernel"]
                run_child(["blur", str(work / f"{stem}.png"), *kernel_args, *blur_args, "--seed", "3", "-o", str(blurry), "-q"])
            out = work / f"out{i}"
            wall, rss = run_child([command, str(blurry), "-o", str(out), *extra, "-q"])
            record = json.loads((out / f"{stem}.json").read_text())
            outcome = record["result"].get("fallback") or ("input returned" if record["result"].get("returned_input") else "deblurred")
            detail = f"{record['kernel_size']} px, {outcome}"
            shown = " ".join([f"`{command}", *extra]) + "`"
            print(f"| {label} | {shown} | {wall / 60:.1f} min ({wall:.0f} s) | {rss:.2f} GiB | {target} | {detail} |", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    """Run the benchmarks and print the Markdown report."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--sections", default="synth,blur,deblur", help="comma-separated: synth, blur, deblur")
    ap.add_argument("--count", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--commands", default="deblur,deblur-nonuniform", help="deblur section: comma-separated commands to time")
    args = ap.parse_args()
    sections = set(args.sections.split(","))

    print(f"Machine: {machine()}\n")
    if "synth" in sections:
        _synth_section(args)
    if "blur" in sections:
        _blur_section(args)
    if "deblur" in sections:
        deblur_section(set(args.commands.split(",")))


def _synth_section(args: argparse.Namespace) -> None:
    print(f"### Kernel synthesis ({args.count} kernels, wall time of one run after a warm-up run)\n")
    print("| family | 31×31 | 55×55 | 75×75 |\n| --- | --- | --- | --- |")
    for family in sorted(FAMILIES):
        cells = []
        for size in (31, 55, 75):
            cfg = SynthesisConfig(family=family, size=size, count=args.count, seed=0)
            t = best_of(lambda: synthesize_kernels(cfg), 1)
            cells.append(f"{t:.1f} s")
        print(f"| {family} | " + " | ".join(cells) + " |")


def _blur_section(args: argparse.Namespace) -> None:
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
