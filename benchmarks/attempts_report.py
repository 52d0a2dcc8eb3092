"""Per-attempt table of a finished Levin ``deblurkit deblur`` run (the evidence for
``Preset.min_estimates`` / ``agree_mnc``, issue #5).

Every ``<stem>.json`` of the run folder lists its kernel estimates (``result.attempts``: window,
seed, residual ratio, support, cleaned kernel). For analysis only — the solver never sees it —
this script deconvolves the blurry input again with *each* attempt's kernel, with the run's own
non-blind settings (the λ rule of :class:`deblurkit.solvers.nonblind.HyperLaplacianConfig`,
deterministic), and scores it against the ground truth with the shift-aligned Levin protocol.
So it shows what every estimate would have given, which one the rule kept, and what the
single-estimate rule of session 7 (first estimate within ``accept_residual_ratio``, else the
lowest ratio among the re-estimates) would have kept from the same estimates.

Usage::

    python benchmarks/attempts_report.py runs/bench18/levin [--blurry ../shared/data/levin] [--gt ../shared/data/levin/gt]

Prints a Markdown table and the means; reads ``<stem>_deblurred.png`` for the kept result's score (its 8-bit file, so it can
differ from the kept attempt's re-deconvolution by a few hundredths of a dB).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from deblurkit.io.images import read_image
from deblurkit.metrics.protocols import compare_upto_shift
from deblurkit.solvers.deblur import _choose, _settled, kernel_agreement
from deblurkit.solvers.nonblind import deconvolve
from deblurkit.solvers.presets import FAST


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run", type=Path, help="deblurkit deblur output folder (Levin inputs)")
    ap.add_argument("--blurry", type=Path, default=Path("../shared/data/levin"))
    ap.add_argument("--gt", type=Path, default=Path("../shared/data/levin/gt"))
    args = ap.parse_args()
    single = FAST.with_(min_estimates=1)
    rows, kept_all, old_all = [], [], []
    print("| image | attempts: PSNR dB (residual ratio, support) | pairwise agreement | kept | PSNR kept | single-estimate rule | PSNR single | seconds |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for path in sorted(args.run.glob("*.json")):
        rec = json.loads(path.read_text())
        res = rec["result"]
        stem = path.stem  # imM_kernelN_img
        gt = read_image(args.gt / f"{stem.split('_')[0]}.png")[0][..., 0]
        blurry = torch.from_numpy(read_image(args.blurry / f"{stem}.png")[0]).permute(2, 0, 1)
        cfg, _ = FAST.nonblind.resolve_with_noise(blurry)
        scores = []
        for att in res["attempts"]:
            k = torch.tensor(att["kernel"], dtype=torch.float64)
            out = deconvolve(blurry, k / k.sum(), cfg)[0].numpy()
            scores.append(compare_upto_shift(out, gt).psnr)
        kept_img = read_image(args.run / f"{stem}_deblurred.png")[0][..., 0]
        kept = compare_upto_shift(kept_img, gt).psnr
        ratios = [a["residual_ratio"] if a["residual_ratio"] is not None else float("inf") for a in res["attempts"]]
        # session-7 rule (--estimates 1) on the same estimates, through the solver's own stop/choice rules
        atts = [SimpleNamespace(ratio=r) for r in ratios]
        n_old = next((n for n in range(1, len(atts) + 1) if _settled(atts[:n], [0] * n, single)), len(atts))
        old = _choose(atts[:n_old], [0] * n_old, single)
        ks = [torch.tensor(a["kernel"]) for a in res["attempts"]]
        agree = ", ".join(
            f"{i + 1}-{j + 1}: {kernel_agreement(ks[i], ks[j]):.2f}" for i in range(len(ks)) for j in range(i + 1, len(ks))
        )
        kept_note = next((n for n in res["notes"] if n.startswith("kept attempt ")), "kept attempt 1 ")
        kept_idx = int(kept_note.split()[2]) - 1
        cells = " · ".join(f"{s:.2f} ({r:.2f}, {a['support']})" for s, r, a in zip(scores, ratios, res["attempts"]))
        kept_label = "input" if res["returned_input"] else str(kept_idx + 1)
        print(
            f"| {stem} | {cells} | {agree or '—'} | {kept_label} | {kept:.2f} | {old + 1} | {scores[old]:.2f} | "
            f"{res['timings']['total']:.0f} |"
        )
        rows.append(stem)
        kept_all.append(kept)
        old_all.append(scores[old])
    print(f"\n{len(rows)} images: mean PSNR kept {np.mean(kept_all):.2f} dB; single-estimate rule on the same estimates {np.mean(old_all):.2f} dB")


if __name__ == "__main__":
    main()
