"""``deblurkit eval``: score deblurred images (and kernels) the way the benchmarks do, and write reports."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Annotated, Literal

import typer

from deblurkit import __version__
from deblurkit.cli.common import (
    DeviceOpt,
    OverwriteOpt,
    QuietOpt,
    error_line,
    existing_outputs,
    info,
    progress_bar,
    setup,
)
from deblurkit.errors import DeblurkitError, DeblurkitWarning
from deblurkit.eval.pairing import Pair, pair_files
from deblurkit.eval.report import report_paths, write_report
from deblurkit.eval.runner import (
    evaluate,
    parse_metric_names,
    render_sheet,
    select_for_sheet,
)
from deblurkit.io import IMAGE_EXTENSIONS, write_image
from deblurkit.metrics.protocols import PROTOCOLS
from deblurkit.runtime import resolve_device

ProtocolName = Literal["levin", "lai", "plain"]
MetricsOpt = Annotated[
    str | None,
    typer.Option(
        "--metrics",
        "-m",
        help="Comma-separated: PSNR, SSIM, MNC, KERNEL_L1, KERNEL_L2, LPIPS, NIQE, BRISQUE, PIQE or any pyiqa "
        "name. Default: PSNR,SSIM (+ kernel scores) with --gt, else NIQE,BRISQUE,PIQE.",
    ),
]
MaxshiftOpt = Annotated[
    int | None,
    typer.Option("--maxshift", min=0, max=15, help="Largest alignment shift in pixels (default: 10 for levin/lai)."),
]
SheetOpt = Annotated[
    Path | None, typer.Option("--sheet", help="Also draw a contact sheet PNG (blurry | deblurred | ground truth).")
]
SheetImagesOpt = Annotated[
    str | None, typer.Option("--sheet-images", help="Comma-separated image names for the sheet (default: the first 6).")
]


def run_evaluation(
    pairs: list[Pair],
    protocol: str,
    metrics: str | None,
    maxshift: int | None,
    output: Path,
    meta: dict,
    device: str,
    sheet: Path | None = None,
    sheet_images: str | None = None,
    blurry: dict[str, Path] | None = None,
) -> int:
    """Evaluate, write the report (and sheet), print the summary; return the exit status (0 or 1).

    Shared by ``eval`` and ``bench``. A metric that could not be built gets one ``error:`` line and
    the exit status 1, after the report of the other metrics has been written.
    """
    has_gt = all(p.gt is not None for p in pairs)
    has_kernels = all(p.pred_kernel is not None and p.gt_kernel is not None for p in pairs)
    names = parse_metric_names(metrics, has_gt, has_kernels)
    sheet_pairs = select_for_sheet(pairs, [k.strip() for k in sheet_images.split(",") if k.strip()] if sheet_images else None)
    dev = str(resolve_device(device))
    with progress_bar(f"eval {protocol}", total=len(pairs)) as advance:
        ev = evaluate(pairs, protocol, names, maxshift, dev, progress=lambda done: advance(completed=done))
    for line in ev.failures[:3]:
        warnings.warn(line, DeblurkitWarning, stacklevel=2)
    if len(ev.failures) > 3:
        warnings.warn(f"{len(ev.failures) - 3} more metric failures (NaN in the report)", DeblurkitWarning, stacklevel=2)
    protect = [p.pred for p in pairs] + [p.gt for p in pairs if p.gt] + [p.pred_kernel for p in pairs if p.pred_kernel]
    meta = {
        **meta,
        "protocol": protocol,
        "maxshift": (PROTOCOLS[protocol].maxshift if maxshift is None else maxshift) if PROTOCOLS[protocol].aligned else None,
        "metrics": [{"name": m.name, "higher_better": m.higher_better, "unit": m.unit} for m in ev.metrics],
        "unavailable": ev.unavailable,
        "deblurkit": __version__,
    }
    paths = write_report(output, ev.rows, ev.metrics, meta, ev.extra_columns, protect=protect)
    if sheet is not None:
        write_image(sheet, render_sheet(sheet_pairs, ev.rows, ev.metrics, blurry), bit_depth=8, protect=protect)
        paths.append(sheet)
    means = []
    overall = {m.name: [r.get(m.name) for r in ev.rows] for m in ev.metrics}
    for m in ev.metrics:
        vals = [v for v in overall[m.name] if isinstance(v, float) and not math.isnan(v)]
        if vals:
            means.append(f"{m.name} {sum(vals) / len(vals):.{m.digits}f}{' ' + m.unit if m.unit else ''}")
    info(f"{len(ev.rows)} images: {', '.join(means) or 'no metric computed'}")
    info(f"wrote {', '.join(str(p) for p in paths)}")
    for msg in ev.unavailable.values():
        error_line("error", msg)
    return 1 if ev.unavailable else 0


def blurry_lookup(folder: Path | None, pairs: list[Pair]) -> dict[str, Path] | None:
    """Key → blurry input in ``folder`` (stem = key, or key without ``_deblurred`` / SelfDeblur's ``_x``)."""
    if folder is None:
        return None
    if not folder.is_dir():
        raise DeblurkitError(f"--blurry: no such folder: {folder}")
    out = {}
    for p in pairs:
        stems = [p.key] + [p.key[: -len(sfx)] for sfx in ("_deblurred", "_x") if p.key.endswith(sfx)]
        for stem in stems:
            hit = next((folder / f"{stem}{e}" for e in IMAGE_EXTENSIONS if (folder / f"{stem}{e}").is_file()), None)
            if hit is not None and hit.resolve() != p.pred.resolve():
                out[p.key] = hit
                break
    return out


def eval_command(
    pred: Annotated[Path, typer.Option("--pred", help="Folder of deblurred images.")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Report stem: writes STEM.csv, STEM.json and STEM.md.")
    ],
    gt: Annotated[Path | None, typer.Option("--gt", help="Folder of ground-truth images (omit: no-reference metrics).")] = None,
    protocol: Annotated[
        ProtocolName, typer.Option("--protocol", "-p", help="levin/lai: shift-aligned PSNR/SSIM (MATLAB scripts); plain: none.")
    ] = "plain",
    metrics: MetricsOpt = None,
    pred_kernels: Annotated[
        Path | None, typer.Option("--pred-kernels", help="Folder of estimated kernels (<name>_kernel.npy|png).")
    ] = None,
    gt_kernels: Annotated[Path | None, typer.Option("--gt-kernels", help="Folder of true kernels.")] = None,
    pair: Annotated[
        str,
        typer.Option(
            "--pair",
            help="Name rule: auto (from --protocol), levin (imM_kernelN_img ↔ imM), lai (<cat>_0M_kernel_0N ↔ "
            "<cat>_0M), same (equal stems), or a regex with named groups gt, group, kernel.",
        ),
    ] = "auto",
    maxshift: MaxshiftOpt = None,
    blurry: Annotated[Path | None, typer.Option("--blurry", help="Folder of blurry inputs (for --sheet).")] = None,
    sheet: SheetOpt = None,
    sheet_images: SheetImagesOpt = None,
    device: DeviceOpt = "auto",
    overwrite: OverwriteOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Score deblurred images against ground truth (or without), write CSV, JSON and Markdown reports."""
    setup(quiet)
    rule = {"levin": "levin", "lai": "lai", "plain": "same"}[protocol] if pair == "auto" else pair
    outputs = report_paths(output) + ([sheet] if sheet else [])
    if existing_outputs(outputs, overwrite):
        info(f"{report_paths(output)[0].with_suffix('')}.* exist; skipping (use --overwrite to redo)")
        return
    if gt is None and protocol != "plain":
        raise DeblurkitError(f"--protocol {protocol} needs --gt")
    pairs, skipped = pair_files(pred, gt, rule, pred_kernels, gt_kernels)
    if skipped:
        warnings.warn(f"skipped {len(skipped)} files of {pred} that do not follow the {rule} rule (e.g. {skipped[0].name})", DeblurkitWarning, stacklevel=2)
    meta = {"pred": str(pred), "gt": str(gt) if gt else None, "pair": rule}
    code = run_evaluation(pairs, protocol, metrics, maxshift, output, meta, device, sheet, sheet_images, blurry_lookup(blurry, pairs))
    if code:
        raise typer.Exit(code)
