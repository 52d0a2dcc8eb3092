"""Score a non-uniform benchmark run against the uniform one; writes Markdown + a contact sheet.

Usage::

    python benchmarks/probes/nonuniform_report.py --set runs/nu_set --uniform runs/u_fast \
        --nonuniform runs/nu_fast -o docs/nonuniform

``--set`` is a folder made by ``deblurkit synth-set`` (camera shake) (``blurry/``, ``gt/``,
``kernels/``, ``*_shake.json``); the two run folders are ``deblurkit deblur`` and ``deblurkit deblur-nonuniform``
outputs on ``SET/blurry``. Scores: shift-aligned PSNR/SSIM of the Lai protocol on the BT.601 Y
channel (:func:`deblurkit.metrics.protocols.compare_upto_shift`, the same as ``deblurkit eval
--protocol lai``), and the kernel MNC against every patch's true kernel (uniform: its one kernel
against each patch's; non-uniform: patch against patch), averaged over the patches. Images that a
run has not finished are left out of that run's mean and marked ``—``. ``--oracle-grid RxC`` adds
the ceiling of a perfect kernel field: every channel deconvolved patch-wise
(:func:`deblurkit.solvers.nonblind.deconvolve_patchwise`, the product's non-blind step) with the
true PSFs of the recorded camera motion at the centres of an ``R × C`` grid — a benchmark, never
part of the product. Writes ``OUT.md`` and
``OUT_sheet.png`` (blurry | uniform | non-uniform | estimated kernel field | true kernel field drawn on the
ground truth, for a few images).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

import torch

from deblurkit.io import read_image, write_image
from deblurkit.kernels.camera_shake import CameraShake, patch_kernels
from deblurkit.physics.svola import grid_centres, parse_grid
from deblurkit.solvers.nonblind import HyperLaplacianConfig, deconvolve_patchwise
from deblurkit.metrics.kernels import mnc
from deblurkit.metrics.protocols import compare_upto_shift
from deblurkit.viz import SheetRow, contact_sheet, kernel_field


def _score(img: np.ndarray, gt: np.ndarray) -> tuple[float, float]:
    r = compare_upto_shift(img, gt, luma=img.ndim == 3 and img.shape[2] == 3)
    return r.psnr, r.ssim


def _oracle(blurry: np.ndarray, shake_json: Path, grid: tuple[int, int]) -> np.ndarray:
    """Patch-wise deconvolution of ``blurry`` with the true PSFs of the recorded motion on ``grid``."""
    rec = json.loads(shake_json.read_text())["camera_shake"]
    shake = CameraShake(rec["height"], rec["width"], rec["focal"], np.array(rec["angles_rad"]), np.array(rec["shifts_px"]))
    H, W = blurry.shape[:2]
    centres = grid_centres(H, W, grid).numpy().astype(np.float64)
    reach = float(np.abs(shake.displacements(centres)).max())
    S = 2 * int(np.ceil(reach)) + 3
    S += 1 - S % 2
    ks = torch.from_numpy(patch_kernels(shake, centres, S)).float()
    rgb = torch.from_numpy(np.ascontiguousarray(blurry)).permute(2, 0, 1)
    return deconvolve_patchwise(rgb, ks, grid, HyperLaplacianConfig()).permute(1, 2, 0).numpy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--set", type=Path, required=True)
    ap.add_argument("--uniform", type=Path, required=True)
    ap.add_argument("--nonuniform", type=Path, required=True)
    ap.add_argument("-o", "--output", type=Path, required=True)
    ap.add_argument("--sheet-count", type=int, default=4)
    ap.add_argument("--oracle-grid", type=parse_grid, default=None, help="add the true-kernel field's ceiling on a ROWSxCOLS grid")
    a = ap.parse_args()

    names = [p.stem for p in sorted((a.set / "blurry").glob("*.png"))]
    rows, sheet = [], []
    sums: dict[str, list[float]] = {}
    for name in names:
        gt, _ = read_image(a.set / "gt" / f"{name}.png")
        blurry, _ = read_image(a.set / "blurry" / f"{name}.png")
        truth = np.load(a.set / "kernels" / f"{name}_kernels.npy")
        row = {"name": name, "blurry": _score(blurry, gt)}
        if a.oracle_grid is not None:
            row["oracle"] = _score(_oracle(blurry, a.set / "kernels" / f"{name}_shake.json", a.oracle_grid), gt)
        u_img = a.uniform / f"{name}_deblurred.png"
        n_img = a.nonuniform / f"{name}_deblurred.png"
        u = n = None
        if (a.uniform / f"{name}.json").is_file():
            u, _ = read_image(u_img)
            k = np.load(a.uniform / f"{name}_kernel.npy")
            row["uniform"] = _score(u, gt)
            row["mnc_u"] = float(np.mean([mnc(k, t)[0] for t in truth.reshape(-1, *truth.shape[2:])]))
            row["sec_u"] = json.loads((a.uniform / f"{name}.json").read_text())["seconds"]
        if (a.nonuniform / f"{name}.json").is_file():
            n, _ = read_image(n_img)
            ks = np.load(a.nonuniform / f"{name}_kernels.npy")
            rec = json.loads((a.nonuniform / f"{name}.json").read_text())
            row["nonuniform"] = _score(n, gt)
            row["mnc_n"] = float(np.mean([mnc(k, t)[0] for k, t in zip(ks.reshape(-1, *ks.shape[2:]), truth.reshape(-1, *truth.shape[2:]))]))
            row["sec_n"] = rec["seconds"]
            row["fallback"] = rec["result"]["fallback"]
            if len(sheet) < a.sheet_count and u is not None:
                centres = np.array(rec["result"]["patch_centres"])
                field = kernel_field(n, ks, centres)
                true_field = kernel_field(gt, truth, centres)
                sheet.append(SheetRow([blurry, u, n, field, true_field], [None, np.load(a.uniform / f"{name}_kernel.npy"), None, None, None], name))
        rows.append(row)

    def fmt(v, i=0, d=2):  # noqa: ANN001, ANN202
        return "—" if v is None else f"{v[i]:.{d}f}" if isinstance(v, tuple) else f"{v:.{d}f}"

    both = [r for r in rows if "uniform" in r and "nonuniform" in r]
    orc = a.oracle_grid is not None
    og = f"true field {a.oracle_grid[0]}x{a.oracle_grid[1]}" if orc else ""
    lines = [
        "| image | blurry PSNR/SSIM | uniform (`deblur`) | non-uniform (`deblur-nonuniform`) | gain over input | kernel MNC uniform / patches | s uniform / non-uniform |"
        + (f" {og} |" if orc else ""),
        "| --- | --- | --- | --- | --- | --- | --- |" + (" --- |" if orc else ""),
    ]
    for r in rows:
        lines.append(
            f"| {r['name']} | {fmt(r['blurry'])} / {fmt(r['blurry'], 1, 3)} | {fmt(r.get('uniform'))} / {fmt(r.get('uniform'), 1, 3)} | "
            f"{fmt(r.get('nonuniform'))} / {fmt(r.get('nonuniform'), 1, 3)}{' (fallback)' if r.get('fallback') else ''} | "
            f"{'—' if 'nonuniform' not in r else format(r['nonuniform'][0] - r['blurry'][0], '+.2f')} | "
            f"{fmt(r.get('mnc_u'), d=3)} / {fmt(r.get('mnc_n'), d=3)} | {fmt(r.get('sec_u'), d=0)} / {fmt(r.get('sec_n'), d=0)} |"
            + (f" {fmt(r['oracle'])} |" if orc else "")
        )
    if both:
        m = lambda key, i: float(np.mean([r[key][i] for r in both]))  # noqa: E731
        mk = lambda key: float(np.mean([r[key] for r in both]))  # noqa: E731
        lines.append(
            f"| **mean of {len(both)}** | {m('blurry', 0):.2f} / {m('blurry', 1):.3f} | {m('uniform', 0):.2f} / {m('uniform', 1):.3f} | "
            f"{m('nonuniform', 0):.2f} / {m('nonuniform', 1):.3f} | {m('nonuniform', 0) - m('blurry', 0):+.2f} "
            f"(worst {min(r['nonuniform'][0] - r['blurry'][0] for r in both):+.2f}) | {mk('mnc_u'):.3f} / {mk('mnc_n'):.3f} | "
            f"{mk('sec_u'):.0f} / {mk('sec_n'):.0f} |" + (f" {m('oracle', 0):.2f} |" if orc else "")
        )
    a.output.parent.mkdir(parents=True, exist_ok=True)
    a.output.with_suffix(".md").write_text("\n".join(lines) + "\n")
    if sheet:
        img = contact_sheet(sheet, titles=["blurry", "uniform deblur", "deblur-nonuniform", "estimated kernel field", "true field on the sharp image"], height=200)
        write_image(a.output.with_name(a.output.name + "_sheet.png"), img, bit_depth=8)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
