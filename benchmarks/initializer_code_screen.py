"""Screen: an initializer that encodes into ``z`` (as shipped) or into the first-layer code ``w_k``.

Analysis only (issue #4). ``benchmarks/initializer_ceiling.py`` shows that the generator's
100-d ``z`` space fits the validation kernels at MNC ≈ 0.74 at best, its first-layer ``w`` space
at ≈ 0.96. This trains the same encoder by the same Algorithm 1 trainer
(:func:`deblurkit.train.initializer.train_initializer`, cached recipe) for a few hundred steps,
once with the generator as it is (``--code z``) and once with the truncated generator
``G_k^{(w)}`` of GLKM Eq. (6) seen as a generator of the flattened code ``w`` (``--code w``: the
encoder's head has ``256·k1²`` outputs, the inner inversion runs in ``w`` space, λ weighs
``‖E(y) − w*‖²``), and scores ``G(E(y))`` with :func:`deblurkit.reports.initializer.initializer_report`
on the report's validation samples (fresh kernels) and on Levin.

Usage (one thread each, two arms side by side)::

    python benchmarks/initializer_code_screen.py --code z --steps 300 --json scr_z.json
    python benchmarks/initializer_code_screen.py --code w --steps 300 --json scr_w.json
    python benchmarks/initializer_code_screen.py --code w --steps 300 --lam 0.01 --json scr_w_lam0.01.json

``--full`` trains with the shipped recipe instead (``RECIPES["cpu"]`` unchanged: 256-px crops,
30 epochs × 256 steps; only ``--lam`` and ``--seed`` apply) on ``--synth`` kernels, keeping its
checkpoints in ``--workdir`` (``--resume`` continues them)::

    python benchmarks/initializer_code_screen.py --code w --full --synth 8192 --workdir wfull --json full_w.json

``--target kernel`` fits the true kernel directly (``‖G(E(y)) − k‖₁``, no inversion, no latent term;
``--flip-tolerant`` takes the better of ``k`` and its 180° rotation), e.g. in ``w ≥ 0``::

    python benchmarks/initializer_code_screen.py --code w --nonnegative --target kernel --flip-tolerant --full \
        --synth 8192 --workdir wk --json full_w_kernel.json

``--score-only`` skips training and scores the encoder of ``--workdir``'s checkpoint (a run going on
or stopped); the JSON also gives the range and mean squared norm of the cached inverted codes and of
256 random codes of the generator (``cached_codes``, ``random_codes``). ``--nonnegative`` (``w``
only) trains the product's ``w`` encoder (``InitializerRecipe.code = "w"``): the generator reads
``relu(code)`` and the trainer's inversion is projected onto ``w ≥ 0``; without it the codes are
unconstrained (:class:`~deblurkit.models.kernel_gan.WCodeGenerator` with ``nonnegative=False``).

Results (``docs/benchmarks.md``, "Encoding into w instead of z"): the 300-step screens tie; over the
full schedule the ``w`` encoder stays 0.05 below the shipped ``z`` one on validation (0.565 vs 0.612
at epoch 24), its cached ``w*`` far outside the ``g1(z) ≥ 0`` set (the inversion is unconstrained);
with ``--nonnegative`` it ties with ``z`` (0.616 vs 0.614 at the end; Levin 0.595 vs 0.610).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from deblurkit.datasets import load_sharp_images
from deblurkit.kernels import synthesize_training_set
from deblurkit.models.initializer import InitializerConfig, KernelInitializer
from deblurkit.models.kernel_gan import WCodeGenerator, code_generator
from deblurkit.models.serialization import load_kernel_generator
from deblurkit.reports.initializer import (
    initializer_report,
    levin_samples,
    validation_samples,
)
from deblurkit.train.checkpoint import load_checkpoint
from deblurkit.train.initializer import (
    CHECKPOINT_NAME,
    RECIPES,
    train_initializer,
)


def code_sizes(codes: torch.Tensor) -> dict | None:
    """Range and mean squared norm of ``(N, D, 1, 1)`` codes (how far the inverted targets wander);
    ``None`` for no codes (a run with ``target="kernel"`` inverts nothing)."""
    if not len(codes):
        return None
    return {
        "min": float(codes.min()),
        "max": float(codes.max()),
        "mean_sq_norm": float(codes.pow(2).flatten(1).sum(1).mean()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--code", choices=["z", "w"], required=True)
    ap.add_argument("--size", type=int, default=31)
    ap.add_argument("--images", default="../shared/data/train/cbsd432")
    ap.add_argument("--levin", default="../shared/data/levin")
    ap.add_argument("--synth", type=int, default=4096)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--lam", type=float, default=0.1)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--full", action="store_true", help="the shipped cpu recipe (ignores --steps/--lr/--crop)")
    ap.add_argument("--workdir", default=None, help="keep checkpoints here (default: a temporary folder)")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument(
        "--nonnegative",
        action="store_true",
        help="w only: the generator reads relu(code) and the inversion projects onto w ≥ 0 after every step",
    )
    ap.add_argument(
        "--score-only",
        action="store_true",
        help="no training: score the encoder of --workdir's checkpoint (a run still going or stopped)",
    )
    ap.add_argument("--target", choices=["inversion", "kernel"], default="inversion",
                    help="what the outer step fits (InitializerRecipe.target): Algorithm 1's z*/w*, or k directly")
    ap.add_argument("--flip-tolerant", action="store_true", help="InitializerRecipe.flip_tolerant")
    ap.add_argument("--json", required=True)
    args = ap.parse_args()
    if args.nonnegative and args.code != "w":
        ap.error("--nonnegative applies to --code w only")
    if args.score_only and not args.workdir:
        ap.error("--score-only needs --workdir")
    torch.manual_seed(args.seed)
    G, _ = load_kernel_generator(f"weights/kernel_gan_{args.size}.safetensors", size=args.size)
    G.eval()
    if args.code == "w" and not args.nonnegative:  # analysis only: unconstrained w codes, seen as a z generator
        gen, code = WCodeGenerator(G, nonnegative=False).eval(), "z"
    else:  # the product's encoders: z, or w read through relu with the inversion projected onto w ≥ 0
        gen, code = G, args.code
    decode = code_generator(gen, code)
    kernels, _ = synthesize_training_set(args.size, args.synth, "mix", args.seed)
    recipe = replace(
        RECIPES["cpu"], lam=args.lam, seed=args.seed, code=code, target=args.target, flip_tolerant=args.flip_tolerant
    )
    if not args.full:
        recipe = replace(recipe, lr=args.lr, crop=args.crop, max_steps=args.steps)
    sharp = load_sharp_images(args.images, split="train", min_side=recipe.crop)

    def report_progress(ev) -> None:
        if ev.step % 100 == 0:
            print(
                f"step {ev.step}/{ev.total_steps} loss {ev.loss:.4f} inner_l1 {ev.inner_l1:.3f} {time.perf_counter() - t0:.0f} s",
                flush=True,
            )

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.workdir or tmp)
        if not args.score_only:
            train_initializer(sharp, kernels, gen, recipe, work, resume=args.resume, progress=report_progress)
        state = load_checkpoint(work / CHECKPOINT_NAME, map_location="cpu")
    rec = state["recipe"]
    encoder = KernelInitializer(
        InitializerConfig(
            args.size, decode.config.latent_dim, rec["features"], stem_pool=rec.get("stem_pool", True), code=code
        )
    )
    encoder.load_state_dict(state["encoder"])
    fresh, _ = synthesize_training_set(args.size, args.count, "mix", args.seed + 10_000)
    val = validation_samples(
        load_sharp_images(args.images, split="val", min_side=256), fresh, args.count, seed=args.seed
    )
    rep = initializer_report(encoder.eval(), gen, kernels, val, levin_samples(args.levin), seed=args.seed)
    out = {
        "code": args.code,
        "nonnegative": args.nonnegative,
        "target": rec.get("target", "inversion"),
        "flip_tolerant": rec.get("flip_tolerant", False),
        "steps": state["step"],
        "train_wall_s": round(state["wall_s"], 1),
        "lam": args.lam,
        "lr": args.lr,
        "crop": args.crop,
        "synth": args.synth,
        "history": state["history"],
        "cached_codes": code_sizes(state["cache"][state["cached"]]),
        "random_codes": code_sizes(decode.sample_latent(256, torch.Generator().manual_seed(0))),
        **{s: {k: v for k, v in rep[s].items() if k != "per_image"} for s in ("validation", "levin")},
    }
    print(json.dumps(out, indent=1))
    with open(args.json, "w") as f:
        json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
