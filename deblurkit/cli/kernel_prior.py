"""``deblurkit kernel-prior-report``: how well a kernel generator represents reference kernels.

Thin layer over :func:`deblurkit.reports.kernel_prior.kernel_prior_report`: prints a table on
stdout and optionally writes the JSON report.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import torch
import typer

from deblurkit.cli.common import DeviceOpt, OverwriteOpt, QuietOpt, SeedOpt, existing_outputs, info, progress_bar, setup
from deblurkit.errors import DeblurkitError
from deblurkit.io import atomic_write_bytes
from deblurkit.models.serialization import load_kernel_generator
from deblurkit.reports.kernel_prior import FitConfig, kernel_prior_report, load_reference_kernels
from deblurkit.runtime import resolve_device


def kernel_prior_report_cmd(
    weights: Annotated[Path, typer.Option("--weights", "-w", help="Kernel-generator weights (.safetensors).")],
    kernels: Annotated[
        Path, typer.Option("--kernels", "-k", help="Reference kernels: a folder of .png/.npy files, a quoted glob ('gt/kernel*.png'), a .npz set, or one file.")
    ],
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the report as JSON here.")] = None,
    steps: Annotated[int, typer.Option("--steps", min=1, help="Adam steps per fit (w and z).")] = 1000,
    restarts_w: Annotated[int, typer.Option("--restarts-w", min=1, help="Random starts of the w fit.")] = 8,
    restarts_z: Annotated[int, typer.Option("--restarts-z", min=1, help="Random starts of the z fit.")] = 8,
    lr_w: Annotated[float, typer.Option("--lr-w", min=0.0, help="Adam learning rate in w space (cosine decay).")] = 0.1,
    lr_z: Annotated[float, typer.Option("--lr-z", min=0.0, help="Adam learning rate in z space (cosine decay).")] = 0.05,
    samples: Annotated[int, typer.Option("--samples", min=2, help="Random samples for the diversity score.")] = 64,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
    overwrite: OverwriteOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Fit the generator to reference kernels in w and z space; report MNC and sample diversity."""
    setup(quiet)
    if json_out is not None and existing_outputs([json_out], overwrite):
        info(f"{json_out} exists; skipping (use --overwrite to redo)")
        return
    if json_out is not None and json_out.suffix.lower() != ".json":
        raise DeblurkitError(f"--json must name a .json file, got {json_out}")
    dev = resolve_device(device)
    generator, meta = load_kernel_generator(weights, device=dev)
    refs = load_reference_kernels(kernels)
    cfg = FitConfig(
        steps_w=steps, lr_w=lr_w, restarts_w=restarts_w, steps_z=steps, lr_z=lr_z, restarts_z=restarts_z,
        num_samples=samples, seed=seed,
    )
    torch.manual_seed(seed)
    with progress_bar(f"fitting {len(refs)} kernels", total=2 * steps) as advance:
        report = kernel_prior_report(generator, refs, cfg, progress=lambda n: advance(n))
    report = {"weights": str(weights), "kernels": str(kernels), **report}
    size = report["size"]
    lines = [f"{'kernel':<16} {'shape':>8} {'mnc_w':>7} {'mnc_z':>7}"]
    for row in report["per_kernel"]:
        shape = "×".join(map(str, row["shape"]))
        lines.append(f"{row['name']:<16} {shape:>8} {row['mnc_w']:>7.4f} {row['mnc_z']:>7.4f}")
    lines.append(f"{'mean':<16} {'':>8} {report['mean_mnc_w']:>7.4f} {report['mean_mnc_z']:>7.4f}")
    lines.append(f"sample diversity (mean pairwise MNC of {samples} samples, {size}×{size}): {report['sample_diversity']:.4f}")
    lines.append(
        f"sample peak (mean largest tap; saturation if far above the references' {report['reference_peak']:.4f}): "
        f"{report['sample_peak']:.4f}"
    )
    typer.echo("\n".join(lines))
    if json_out is not None:
        protect = [weights, kernels] if kernels.is_file() else [weights]
        atomic_write_bytes(json_out, (json.dumps(report, indent=2) + "\n").encode(), protect)
        info(f"wrote {json_out}")
