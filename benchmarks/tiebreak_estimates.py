"""Extra kernel estimates for the tie-breaker study of issue #5 (docs/benchmarks.md, session 20).

The ``fast`` preset makes two 32-channel estimates (windows 0 and 1, seeds 0 and 2) and, when they
do not settle, a third one (32 channels, window 2, seed 4). To compare that third estimate with
48-channel alternatives without recomputing the first two, this script computes, for every image
of ``SET/blurry``:

* ``new2``: one 48-channel estimate on window 0 with seed 4 (a 48-channel tie-breaker on the best
  window);
* ``w48``: three 48-channel estimates on windows 0, 1, 2 with seeds 0, 2, 4 (an all-48 preset).

Each estimate's record (window, seed, width, residual ratio, cleaned kernel: the ``attempts``
records of :class:`deblurkit.solvers.deblur.DeblurResult`) goes to ``OUT/<stem>.json``; finished
images are skipped when re-run. Kernel size 31 (``auto`` for 255–256-px images), FCN prior.
:mod:`benchmarks.score_tiebreak` scores them.

Usage: ``python benchmarks/tiebreak_estimates.py SET OUT`` (SET made by ``deblurkit synth-set``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from deblurkit.io import read_image
from deblurkit.solvers.deblur import deblur_image
from deblurkit.solvers.presets import FAST

INF = float("inf")


def main(set_dir: Path, out: Path) -> None:
    """Write the extra estimates of every image of ``set_dir/blurry`` to ``out/<stem>.json``."""
    out.mkdir(parents=True, exist_ok=True)
    for f in sorted((set_dir / "blurry").glob("*.png")):
        dst = out / f"{f.stem}.json"
        if dst.exists():
            continue
        img, _ = read_image(f)
        one = FAST.with_(width=48, min_estimates=1, residual_retries=0)
        # never settle (agreement only for identical kernels, every ratio accepted): all three estimates
        three = FAST.with_(width=48, wide_width=None, agree_mnc=1.0, accept_residual_ratio=INF, max_residual_ratio=INF)
        rec = {
            "new2": deblur_image(img, "fcn", one, kernel_size=31, seed=4).attempts,
            "w48": deblur_image(img, "fcn", three, kernel_size=31, seed=0).attempts,
        }
        dst.write_text(json.dumps(rec))
        print(f.stem, [round(a["residual_ratio"], 2) for a in rec["new2"] + rec["w48"]], flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
