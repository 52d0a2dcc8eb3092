"""Check NIQE, BRISQUE and PIQE as ``deblurkit eval`` computes them against published MATLAB values.

pyiqa's source distribution ships five calibration images (``ResultsCalibra/dist_dir``) with the
scores of the official MATLAB releases (``ResultsCalibra/results_official.csv``, rows ``niqe``,
``brisque``, ``piqe``). This prints a Markdown table of those values beside deblurkit's
(:func:`deblurkit.metrics.iqa.load_metric`, offline).

Usage::

    pip download pyiqa==0.1.16 --no-deps --no-binary :all: -d /tmp/pyiqa && tar xzf /tmp/pyiqa/pyiqa-0.1.16.tar.gz -C /tmp/pyiqa
    python benchmarks/probes/nr_metric_calibration.py /tmp/pyiqa/pyiqa-0.1.16/ResultsCalibra
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from deblurkit.io import read_image
from deblurkit.metrics.iqa import load_metric


def main() -> None:
    """Print the table (one row per metric and source, one column per image)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("calibra", type=Path, help="pyiqa's ResultsCalibra folder")
    args = ap.parse_args()
    with (args.calibra / "results_official.csv").open() as f:
        rows = {r["Method"]: r for r in csv.DictReader(f)}
    images = [k for k in rows["niqe"] if k != "Method"]
    print("| metric | " + " | ".join(images) + " |")
    print("|---" * (len(images) + 1) + "|")
    for name in ("NIQE", "BRISQUE", "PIQE"):
        metric = load_metric(name)
        ours = [metric(read_image(args.calibra / "dist_dir" / im)[0]) for im in images]
        print(f"| {name} MATLAB | " + " | ".join(f"{float(rows[name.lower()][im]):.4f}" for im in images) + " |")
        print(f"| {name} deblurkit | " + " | ".join(f"{v:.4f}" for v in ours) + " |")


if __name__ == "__main__":
    main()
