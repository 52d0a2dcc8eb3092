"""Where does the initializer lose accuracy: unseen photos, unseen kernels, or noise? (issue #4, analysis only)

``deblurkit initializer-report`` scores ``G(E(y))`` (MNC against the true kernel,
:func:`deblurkit.metrics.mnc_batch`, shift- and flip-tolerant) on the validation split of the sharp
photos blurred by *fresh* kernels (synthesis seed ``seed + 10 000``) with noise σ ≤ 0.01. This
scores the same encoder, by the same :func:`deblurkit.reports.initializer.initializer_report`, on
four sets of ``--count`` 256-px crops that change one thing at a time:

- ``val_photos_fresh_kernels``: the report's validation set;
- ``val_photos_fresh_kernels_noise_free``: the same crops and kernels, no noise;
- ``val_photos_training_kernels``: held-out photos, ``count`` training kernels (seed ``seed``) taken at an
  even stride, so both halves of the ``mix`` family (trajectory, then Gaussian-process) are in it as in the
  fresh set;
- ``training_photos_training_kernels``: training photos and training kernels (what the encoder was fitted on,
  new crops and noise draws).

The gap between the last and the first splits into kernel and photo generalisation; the
training-set score against ``benchmarks/initializer_ceiling.py``'s per-kernel optimum (≈ 0.74 in
``z``) shows how far the encoder is from fitting even its own data. No ground truth selects
anything the product returns.

Usage::

    python benchmarks/initializer_gaps.py --size 31 --synth 8192 --count 200 --json gaps31.json
    python benchmarks/initializer_gaps.py --initializer other.safetensors --json gaps_other.json
"""

from __future__ import annotations

import argparse
import json
import time

from initializer_common import add_model_args, load_models

from deblurkit.datasets import load_sharp_images
from deblurkit.kernels import synthesize_training_set
from deblurkit.reports.initializer import initializer_report, validation_samples


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_model_args(ap, count=200)
    ap.add_argument("--synth", type=int, default=8192, help="the training synthesis size N (mix family)")
    ap.add_argument("--json", required=True)
    args = ap.parse_args()
    G, E = load_models(args)
    S = args.size
    train_kernels, _ = synthesize_training_set(S, args.synth, "mix", args.seed)
    fresh, _ = synthesize_training_set(S, args.count, "mix", args.seed + 10_000)
    val_photos = load_sharp_images(args.images, split="val", min_side=256)
    train_photos = load_sharp_images(args.images, split="train", min_side=256)
    n = args.count
    seen = train_kernels[:: max(1, len(train_kernels) // n)][:n]  # both families, like the fresh set
    sets = {
        "val_photos_fresh_kernels": validation_samples(val_photos, fresh, n, seed=args.seed),
        "val_photos_fresh_kernels_noise_free": validation_samples(val_photos, fresh, n, noise=0.0, seed=args.seed),
        "val_photos_training_kernels": validation_samples(val_photos, seen, n, seed=args.seed),
        "training_photos_training_kernels": validation_samples(train_photos, seen, n, seed=args.seed),
    }
    t0 = time.perf_counter()
    out = {"size": S, "count": n, "seed": args.seed, "initializer": args.initializer or "shipped", "sets": {}}
    for name, samples in sets.items():
        rep = initializer_report(E, G, train_kernels, validation=samples, seed=args.seed)["validation"]
        out["sets"][name] = {k: v for k, v in rep.items() if k != "per_image"}
        print(
            f"{name:<38} init {rep['mean_mnc_init']:.3f}  random latent {rep['mean_mnc_random_latent']:.3f}  "
            f"mean kernel {rep['mean_mnc_mean_kernel']:.3f}",
            flush=True,
        )
    out["wall_s"] = round(time.perf_counter() - t0, 1)
    with open(args.json, "w") as f:
        json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
