"""Test-time augmentation of the initializer over the 8 dihedral transforms (issue #4, analysis only).

Flips and 90° rotations ``T`` commute with convolution (``T(k ⊛ x) = T(k) ⊛ T(x)``), so each gives
an estimate ``T⁻¹(G(E(T y)))`` of the same kernel. On the samples of ``deblurkit initializer-report``
(the validation split of the sharp photos, fresh kernels of synthesis seed ``seed + 10 000``, noise
σ ≤ 0.01; and Levin's 32 images) this prints the mean MNC (:func:`deblurkit.metrics.mnc_batch`) against
the true kernel of

- ``identity``: ``G(E(y))``, what the report scores;
- ``each transform``: the mean over the 8 single estimates;
- ``aligned average``: the 8 estimates aligned (integer shift and 180° rotation, the MNC maximiser of
  :func:`deblurkit.metrics.kernel_errors`) to their running mean, twice, then averaged;
- ``average re-encoded in z``: that average inverted into the generator (100 Adam steps of
  :func:`deblurkit.train.initializer.invert_latents` from ``E(y)``), since the deblurring starts from a code.

No ground truth selects anything; the true kernel only scores.

Usage::

    python benchmarks/initializer_tta.py --size 31 --count 200 --json tta31.json
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from initializer_common import add_model_args, load_models, report_validation_set

from deblurkit.metrics import kernel_errors, mnc_batch
from deblurkit.reports.initializer import levin_samples
from deblurkit.train.initializer import invert_latents


def dihedral(x: torch.Tensor, i: int, inverse: bool = False) -> torch.Tensor:
    """Transform ``i`` in ``0..7`` of the dihedral group on the last two axes (``i ≥ 4``: transpose first)."""
    if inverse:
        x = torch.rot90(x, -(i % 4), dims=(-2, -1))
        return x.transpose(-2, -1) if i >= 4 else x
    x = x.transpose(-2, -1) if i >= 4 else x
    return torch.rot90(x, i % 4, dims=(-2, -1))


def align(k: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """``(S, S)`` kernel ``k`` rotated by 180° if that fits ``ref`` better and moved (zero fill) to the
    integer shift that maximises its cross-correlation with ``ref``."""
    e = kernel_errors(k, ref)
    a = torch.flip(k, dims=(-2, -1)) if e.flipped else k
    dy, dx = e.shift
    s = a.shape[-1]
    padded = torch.nn.functional.pad(a, (s, s, s, s))
    return padded[s + dy : 2 * s + dy, s + dx : 2 * s + dx]


def score(E, G, samples, inversion_steps: int) -> dict:  # noqa: ANN001
    """Mean MNC of the four kernels of the module doc over ``samples`` ``(name, y, kernel)``."""
    rows = {"identity": [], "each transform": [], "aligned average": [], "average re-encoded in z": []}
    mnc = lambda k, t: float(mnc_batch(k, t).mnc[0])  # noqa: E731
    for _, y, k_true in samples:
        with torch.no_grad():
            z0 = E(y)
            ks = [dihedral(G(E(dihedral(y, i)))[0, 0], i, inverse=True) for i in range(8)]
        mean = ks[0]
        for _ in range(2):
            mean = torch.stack([align(k, mean) for k in ks]).mean(0)
        z = invert_latents(G, (mean / mean.sum())[None, None], z0, inversion_steps)
        with torch.no_grad():
            k_z = G(z)[0, 0]
        rows["identity"].append(mnc(ks[0], k_true))
        rows["each transform"].append(float(np.mean([mnc(k, k_true) for k in ks])))
        rows["aligned average"].append(mnc(mean, k_true))
        rows["average re-encoded in z"].append(mnc(k_z, k_true))
    return {k: float(np.mean(v)) for k, v in rows.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_model_args(ap, count=200)
    ap.add_argument("--levin", default="../shared/data/levin")
    ap.add_argument("--inversion-steps", type=int, default=100)
    ap.add_argument("--json", required=True)
    args = ap.parse_args()
    G, E = load_models(args, z_only=True)
    S = args.size
    val = report_validation_set(args)
    t0 = time.perf_counter()
    out = {"size": S, "count": args.count, "seed": args.seed, "initializer": args.initializer or "shipped"}
    for name, samples in (("validation", val), ("levin", levin_samples(args.levin))):
        out[name] = score(E, G, samples, args.inversion_steps)
        print(name, "  ".join(f"{k} {v:.3f}" for k, v in out[name].items()), flush=True)
    out["wall_s"] = round(time.perf_counter() - t0, 1)
    with open(args.json, "w") as f:
        json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
