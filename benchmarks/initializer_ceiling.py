"""How much of the kernel generator's latent space can the initializer use? (issue #4, analysis only)

The encoder is trained (GLKM Algorithm 1) towards inverted codes ``z* = argmin_z ‖G(z) − k‖₁``,
so ``G(E(y))`` can hardly fit the true kernel better than ``G(z*)`` does. On the same validation
samples as ``deblurkit initializer-report`` (the validation split of the sharp photos, fresh
kernels of synthesis seed ``seed + 10 000``, noise σ ≤ 0.01), this prints the mean MNC
(:func:`deblurkit.metrics.mnc_batch`, shift- and flip-tolerant) against the true kernel of

- ``G(E(y))`` — the initial kernel the report scores;
- ``G(z*)`` after N Adam steps (lr 0.01, the training recipe's inversion) started from ``E(y)``;
- ``G(z*)`` after N steps from the best of R random codes ``z ~ N(0, I)`` (the lowest final L1);
- how well two such fits from different random starts agree with each other (MNC, and the squared
  distance of their codes against that of two independent ``N(0, I)`` codes) — whether the
  inversion's target ``z*`` is well defined at all;
- ``G_k^{(w)}(w*)`` (GLKM Eq. (6)): the same L1 fit in the generator's first-layer feature space
  ``w`` (Adam, lr 0.1, ``w`` kept ≥ 0 as after g1's ReLU), started from ``g1(E(y))`` — how much a
  ``w``-space code could hold.

No ground truth selects anything the product returns; this only measures the ceiling.

Usage::

    python benchmarks/initializer_ceiling.py --size 31 --count 64 --steps 30 200 --restarts 4
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from initializer_common import add_model_args, load_models, report_validation_set

from deblurkit.metrics import mnc_batch
from deblurkit.train.initializer import _l1, invert_latents


def _mean_mnc(kernels: torch.Tensor, truth: torch.Tensor) -> float:
    """Mean MNC of ``(B, 1, S, S)`` kernels against ``(B, 1, S, S)`` true kernels."""
    return float(np.mean([mnc_batch(kernels[i, 0], truth[i, 0].numpy()).mnc[0] for i in range(len(kernels))]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_model_args(ap, count=64)
    ap.add_argument("--steps", type=int, nargs="+", default=[30, 200])
    ap.add_argument("--restarts", type=int, default=4)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    G, E = load_models(args, z_only=True)
    S = args.size
    val = report_validation_set(args)
    y = torch.cat([v[1] for v in val])
    k = torch.from_numpy(np.stack([v[2] for v in val])).float()[:, None]
    t0 = time.perf_counter()
    with torch.no_grad():
        z_hat = E(y)
        rows = {"init G(E(y))": _mean_mnc(G(z_hat), k)}
    for n in args.steps:
        rows[f"G(z*), {n} steps from E(y)"] = _mean_mnc(G(invert_latents(G, k, z_hat, n)), k)
    n = max(args.steps)
    consistency = {}
    best, best_l1, starts = z_hat, torch.full((len(k),), float("inf")), []
    for _ in range(args.restarts):
        z = invert_latents(G, k, torch.randn_like(z_hat), n)
        starts.append(z)
        with torch.no_grad():
            l1 = _l1(G(z), k)
        best = torch.where((l1 < best_l1).view(-1, 1, 1, 1), z, best)
        best_l1 = torch.minimum(l1, best_l1)
    with torch.no_grad():
        rows[f"G(z*), {n} steps, best of {args.restarts} random starts"] = _mean_mnc(G(best), k)
        if len(starts) >= 2:  # is the inversion's target well defined? two random starts for the same kernel
            z1, z2 = starts[:2]
            rows["agreement of two random-start fits: MNC(G(z1*), G(z2*))"] = _mean_mnc(G(z1), G(z2))
            consistency = {
                "mean_sq_distance_z1_z2": float((z1 - z2).pow(2).flatten(1).sum(1).mean()),
                "mean_sq_norm_z1": float(z1.pow(2).flatten(1).sum(1).mean()),
                "latent_dim": int(z1[0].numel()),
            }
            print(
                f"two random-start fits of the same kernel: mean ‖z1* − z2*‖² {consistency['mean_sq_distance_z1_z2']:.0f}, "
                f"mean ‖z1*‖² {consistency['mean_sq_norm_z1']:.0f} (two independent N(0, I) codes: "
                f"{2 * consistency['latent_dim']})"
            )
    # w space: the generator's first-layer feature map, fitted from g1(E(y))
    with torch.no_grad():
        w0 = G.first_layer(z_hat)
    w = invert_latents(G.from_w, k, w0, n, lr=0.1, nonnegative=True)  # w_k follows a ReLU
    with torch.no_grad():
        rows[f"G.from_w(w*), {n} steps from g1(E(y))"] = _mean_mnc(G.from_w(w), k)
    for name, v in rows.items():
        print(f"{name:<52} {v:.3f}")
    print(f"({args.count} validation samples, size {S}, {time.perf_counter() - t0:.0f} s)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {"size": S, "count": args.count, "seed": args.seed, "mean_mnc": rows, "random_starts": consistency},
                f,
                indent=2,
            )


if __name__ == "__main__":
    main()
