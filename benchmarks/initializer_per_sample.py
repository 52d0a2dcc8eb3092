"""Where the initializer loses accuracy: MNC of ``G(E(y))`` by quarters of kernel support and image texture.

Analysis only (issue #4). On the report's validation set (``initializer_common.report_validation_set``:
200 crops of held-out photos, fresh kernels), the per-sample MNC of the initial kernel against the
true kernel (:func:`deblurkit.metrics.mnc_batch`, shift- and flip-tolerant) is grouped by quarters of

- the true kernel's support: the number of pixels above 10 % of its peak (an area, not a length);
- the blurry crop's gradient RMS (forward differences of the luminance in [0, 1] units), a proxy
  for how much texture the blur has to be read from (it also falls with the blur).

Usage::

    python benchmarks/initializer_per_sample.py --size 31 --json ps.json
    python benchmarks/initializer_per_sample.py --initializer other.safetensors --json ps_other.json

Results: ``docs/benchmarks.md``, "Session 25".
"""

from __future__ import annotations

import argparse
import itertools
import json

import numpy as np
import torch
from initializer_common import add_model_args, load_models, report_validation_set

from deblurkit.metrics import mnc_batch
from deblurkit.solvers import initial_kernel


def quarters(values: np.ndarray, scores: np.ndarray) -> list[dict]:
    """Mean score in each quarter of ``values`` (``(N,)`` arrays): ``[{"lo", "hi", "n", "mnc"}]``."""
    edges = np.quantile(values, [0, 0.25, 0.5, 0.75, 1])
    out = []
    for i, (lo, hi) in enumerate(itertools.pairwise(edges)):
        sel = (values >= lo) & ((values < hi) if i < 3 else (values <= hi))
        out.append({"lo": float(lo), "hi": float(hi), "n": int(sel.sum()), "mnc": float(scores[sel].mean())})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_model_args(ap, count=200)
    ap.add_argument("--json", required=True)
    args = ap.parse_args()
    G, E = load_models(args)
    val = report_validation_set(args)
    y = torch.cat([v[1] for v in val])
    k = torch.from_numpy(np.stack([v[2] for v in val]))
    k_hat = initial_kernel(E, G, y)[:, 0]  # G(E(y)) for z encoders, G_k^(w)(relu(E(y))) for w
    mnc = mnc_batch(k_hat, k).mnc.numpy()
    support = (k > 0.1 * k.amax(dim=(-2, -1), keepdim=True)).sum(dim=(-2, -1)).numpy().astype(float)
    lum = y[:, 0]
    gx, gy = lum[:, :-1, 1:] - lum[:, :-1, :-1], lum[:, 1:, :-1] - lum[:, :-1, :-1]
    grad_rms = (gx.square() + gy.square()).mean(dim=(-2, -1)).sqrt().numpy()
    out = {
        "initializer": args.initializer or f"weights/initializer_{args.size}.safetensors",
        "count": len(val),
        "mean_mnc": float(mnc.mean()),
        "by_kernel_support_px": quarters(support, mnc),
        "by_gradient_rms": quarters(grad_rms, mnc),
    }
    print(f"mean MNC {out['mean_mnc']:.3f}")
    for key in ("by_kernel_support_px", "by_gradient_rms"):
        for q in out[key]:
            print(f"{key} {q['lo']:.3g}–{q['hi']:.3g}: n={q['n']} MNC {q['mnc']:.3f}")
    with open(args.json, "w") as f:
        json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
