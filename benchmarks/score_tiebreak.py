"""Score tie-breaker variants of the ``fast`` preset offline (issue #5, docs/benchmarks.md, session 20).

Applies :func:`deblurkit.solvers.deblur.deblur_image`'s own stop and choice rules (``_settled``,
``_choose``, ``kernel_support``, ``max_residual_ratio``) to recorded kernel estimates, restores the
kept kernel with the preset's non-blind step and scores it against the ground truth with the
shift-aligned PSNR (:func:`deblurkit.metrics.protocols.compare_upto_shift`; Y channel for colour).
The ground truth only scores the kept estimate; it never chooses one.

Estimates: ``cheap`` = the 32-channel estimates of a default ``deblurkit deblur`` run (its JSONs;
windows 0, 1, 2, seeds 0, 2, 4); ``wide[w]`` = a 48-channel estimate on window ``w``:

* ``uval`` mode: ``benchmarks/tiebreak_estimates.py`` output (``w48``: seeds 0, 2, 4; ``new2``:
  window 0, seed 4);
* ``levin`` mode: the JSONs of a ``FAST.with_(width=48)`` run over Levin (session 18's run:
  same windows, seeds and rules, 48 channels).

Variants: ``s19`` = the cheap run as made (the shipped rule); ``w0``/``w1``/``w2`` = the first
two cheap estimates, then a 48-channel tie-breaker on window 0/1/2; ``best`` = the tie-breaker on
the window of the lower-ratio cheap estimate; ``w48`` = 48 channels throughout; ``new2`` (uval) =
``w0`` with seed 4. A variant only uses its third estimate when its first two do not settle.

Usage:
    python benchmarks/score_tiebreak.py uval SET CHEAP_DIR EXTRA_DIR
    python benchmarks/score_tiebreak.py levin LEVIN_GT_DIR CHEAP_DIR WIDE_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from deblurkit.io import read_image
from deblurkit.metrics.protocols import compare_upto_shift
from deblurkit.solvers.deblur import _choose, _settled, kernel_support
from deblurkit.solvers.nonblind import deconvolve
from deblurkit.solvers.presets import FAST


def _ns(a: dict) -> SimpleNamespace:
    r = a["residual_ratio"]
    return SimpleNamespace(k_used=torch.tensor(a["kernel"]), fallback=a["fallback"], ratio=float("inf") if r is None else r)


def kept(atts: list[dict | None]) -> tuple[int | None, int] | None:
    """Index of the estimate the preset keeps (``None``: input returned) and the estimates used;
    ``None`` when an estimate the rule asks for was not computed (a ``None`` record)."""
    used: list[SimpleNamespace] = []
    for a in atts:
        if a is None:
            return None
        used.append(_ns(a))
        support = kernel_support(used, FAST.agree_mnc)
        if _settled(used, support, FAST):
            break
    i = _choose(used, support, FAST)
    return (None if used[i].ratio > FAST.max_residual_ratio else i), len(used)


def items(mode: str, args: list[str]):  # noqa: ANN201
    """(name, blurry path, gt path, cheap records, {window: wide record}, new2 record or None)."""
    if mode == "uval":
        root, cheap, extra = map(Path, args)
        for f in sorted(extra.glob("*.json")):
            v = json.loads(f.read_text())
            o = json.loads((cheap / f.name).read_text())["result"]["attempts"]
            yield f.stem, root / "blurry" / f"{f.stem}.png", root / "gt" / f"{f.stem}.png", o, dict(enumerate(v["w48"])), v["new2"][0]
    else:
        gt_dir, cheap, wide = map(Path, args)
        for f in sorted(cheap.glob("im*_img.json")):
            o = json.loads(f.read_text())["result"]["attempts"]
            w = json.loads((wide / f.name).read_text())["result"]["attempts"]
            assert all(a["crop"] == b["crop"] for a, b in zip(o, w)), f"{f.stem}: different windows"
            yield f.stem, gt_dir.parent / f"{f.stem}.png", gt_dir / (f.stem.split("_")[0] + ".png"), o, dict(enumerate(w)), None


def main(mode: str, args: list[str]) -> None:
    """Print per-image and mean PSNR of every variant."""
    names = ["s19", "w0", "w1", "w2", "best", "w48"] + (["new2"] if mode == "uval" else [])
    table: dict[str, list] = {k: [] for k in names}
    blurry_all = []
    for stem, bpath, gpath, o, wide, new2 in items(mode, args):
        img, _ = read_image(bpath)
        gt, _ = read_image(gpath)
        luma = img.shape[2] == 3
        rgb = torch.from_numpy(img).permute(2, 0, 1)
        nb, _ = FAST.nonblind.resolve_with_noise(rgb)
        blurry = compare_upto_shift(img, gt, luma=luma).psnr
        blurry_all.append(blurry)

        scores: dict[int, float] = {}  # by record: the variants share most of their estimates

        def psnr(a: dict) -> float:
            if id(a) not in scores:
                k = torch.tensor(a["kernel"], dtype=torch.float32)
                x = deconvolve(rgb, k / k.sum(), nb).permute(1, 2, 0).numpy()
                scores[id(a)] = compare_upto_shift(np.clip(x, 0, 1), gt, luma=luma).psnr
            return scores[id(a)]

        c = (o + [None, None])[:2]
        better = 0 if _ns(c[0]).ratio <= _ns(c[1]).ratio else 1
        third = {"s19": o[2:3], "w0": [wide.get(0)], "w1": [wide.get(1)], "w2": [wide.get(2)], "best": [wide.get(better)]}
        variants = {k: c + t for k, t in third.items()} | {"w48": [wide.get(w) for w in range(3)]}
        if new2 is not None:
            variants["new2"] = c + [new2]
        line = []
        for k in names:
            atts = variants[k]
            res = kept(atts)
            if res is None:
                table[k].append(None)
                line.append(f"{k} -")
                continue
            i, n = res
            value = blurry if i is None else psnr(atts[i])
            table[k].append((value, n))
            line.append(f"{k} {value:.2f}/{n}")
        print(stem, f"blurry {blurry:.2f}", " ".join(line), flush=True)
    print(f"blurry: mean PSNR {np.mean(blurry_all):.2f} over {len(blurry_all)} images")
    for k in names:
        ok = [r for r in table[k] if r is not None]
        print(f"{k}: mean PSNR {np.mean([r[0] for r in ok]):.2f} over {len(ok)} images, {sum(r[1] for r in ok)} estimates")
    common = [j for j in range(len(blurry_all)) if all(table[k][j] is not None for k in names)]
    print(f"on the {len(common)} images every variant covers:", {k: round(float(np.mean([table[k][j][0] for j in common])), 2) for k in names})


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
