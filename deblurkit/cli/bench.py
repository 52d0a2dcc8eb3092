"""``deblurkit bench``: deblur a whole benchmark (resumable) and evaluate it, in one command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import typer

from deblurkit import __version__
from deblurkit.cli.common import (
    DeviceOpt,
    OverwriteOpt,
    QuietOpt,
    existing_outputs,
    info,
    setup,
)
from deblurkit.cli.eval import MaxshiftOpt, MetricsOpt, SheetImagesOpt, run_evaluation
from deblurkit.errors import DeblurkitError
from deblurkit.eval.bench import (
    LAYOUT_PROTOCOL,
    discover,
    pairs_from_run,
)
from deblurkit.eval.report import report_paths
from deblurkit.io import atomic_write_bytes

LayoutName = Literal["levin", "lai", "synth", "folder"]


def bench(
    ctx: typer.Context,
    layout: Annotated[LayoutName, typer.Argument(help="Dataset layout: levin, lai, synth (a synth-set folder) or folder (no ground truth).")],
    data: Annotated[Path, typer.Option("--data", help="Dataset folder in that layout.")],
    rundir: Annotated[
        Path, typer.Option("--output", "-o", help="Run folder: deblurred/, report.csv|json|md, sheet.png, bench.json.")
    ],
    pred: Annotated[
        Path | None,
        typer.Option("--pred", help="Evaluate this folder of existing results instead of deblurring (<key>.png, <key>_kernel.npy)."),
    ] = None,
    metrics: MetricsOpt = None,
    maxshift: MaxshiftOpt = None,
    sheet_images: SheetImagesOpt = None,
    device: DeviceOpt = "auto",
    overwrite: OverwriteOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Deblur every image of a benchmark into RUNDIR, then evaluate it (report + contact sheet).

    Options after the known ones (e.g. `-- --prior dip --steps 5000`) are passed to `deblur`.
    Re-running resumes: finished images are not deblurred again and a finished report is kept.
    """
    setup(quiet)
    deblur_options = list(ctx.args)
    items = discover(layout, data)
    if rundir.resolve() == data.resolve() or (pred is not None and rundir.resolve() == pred.resolve()):
        raise DeblurkitError("the run folder -o must differ from --data and --pred (inputs are never overwritten)")
    if pred is not None and deblur_options:
        raise DeblurkitError(f"deblur options {' '.join(deblur_options)} make no sense with --pred (nothing is deblurred)")
    pred_dir = pred if pred is not None else rundir / "deblurred"
    report = rundir / "report"
    sheet = rundir / "sheet.png"
    if pred is None:
        from deblurkit.cli import app  # the deblur command itself: its batch machinery and options

        args = ["deblur", *(str(it.blurry) for it in items), "-o", str(pred_dir), "--device", device, *deblur_options]
        code = app(args + (["--overwrite"] if overwrite else []) + (["--quiet"] if quiet else []), standalone_mode=False)
        if code:
            raise DeblurkitError(f"deblurring failed for some inputs (exit status {code}); re-run to retry them")
    if existing_outputs([*report_paths(report), sheet], overwrite):
        info(f"{report}.* exist; skipping the evaluation (use --overwrite to redo)")
        return
    pairs = pairs_from_run(items, pred_dir)
    info(f"{layout}: {len(items)} images in {data}, results in {pred_dir}")
    settings = {
        "layout": layout,
        "data": str(data),
        "pred": str(pred_dir),
        "deblur_options": deblur_options,
        "metrics": metrics,
        "maxshift": maxshift,
        "deblurkit": __version__,
    }
    atomic_write_bytes(rundir / "bench.json", (json.dumps(settings, indent=2) + "\n").encode())
    meta = {"layout": layout, "data": str(data), "pred": str(pred_dir), "gt": str(data / "gt") if layout != "folder" else None}
    code = run_evaluation(
        pairs,
        LAYOUT_PROTOCOL[layout],
        metrics,
        maxshift,
        report,
        meta,
        device,
        sheet=sheet,
        sheet_images=sheet_images,
        blurry={it.key: it.blurry for it in items},
    )
    if code:
        raise typer.Exit(code)
