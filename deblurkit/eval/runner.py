"""Evaluate paired images: the protocol's PSNR/SSIM, kernel scores and pyiqa metrics, per image.

Metric names (case-insensitive):

- ``PSNR``, ``SSIM``: with the ``levin``/``lai`` protocols the shift-aligned scores of
  :func:`deblurkit.metrics.protocols.compare_upto_shift` (MATLAB ``comp_upto_shift.m``, ``psnr.m``,
  Wang's ``ssim.m``); with ``plain``, pyiqa's ``psnr`` / ``ssim`` on the whole images, no alignment.
- ``MNC``, ``KERNEL_L1``, ``KERNEL_L2``: kernel scores (:mod:`deblurkit.metrics.kernels`), when kernel
  folders are given.
- anything else: a pyiqa metric (``LPIPS``, ``NIQE``, ``BRISQUE``, ``PIQE``, or any pyiqa name).
  Full-reference ones are computed, under the aligned protocols, on the aligned estimate and the
  15-px-cropped ground truth (for Lai colour images the aligned RGB image that ``statistic_lai.m``
  writes); no-reference ones on the whole deblurred image.

Defaults: with a ground truth ``PSNR, SSIM`` (plus the kernel scores when kernels are given);
without, ``NIQE, BRISQUE, PIQE`` (GLKM Table III). A metric that cannot be built (weights missing)
is left out with its one-line reason in :attr:`Evaluation.unavailable`; the others still run.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from deblurkit.errors import DeblurkitError
from deblurkit.eval.pairing import Pair
from deblurkit.eval.report import MetricInfo
from deblurkit.io import read_image, read_kernel
from deblurkit.metrics.iqa import MetricUnavailable, display_name, load_metric
from deblurkit.metrics.kernels import kernel_errors
from deblurkit.metrics.protocols import (
    PROTOCOLS,
    aligned_color,
    compare_upto_shift,
    crop_border,
)

KERNEL_METRICS = ("MNC", "KERNEL_L1", "KERNEL_L2")
DEFAULT_NR_METRICS = ("NIQE", "BRISQUE", "PIQE")

_INFO = {
    "PSNR": MetricInfo("PSNR", True, "dB", 2),
    "SSIM": MetricInfo("SSIM", True, "", 4),
    "MNC": MetricInfo("MNC", True, "", 4),
    "KERNEL_L1": MetricInfo("KERNEL_L1", False, "", 4),
    "KERNEL_L2": MetricInfo("KERNEL_L2", False, "", 5),
}


def parse_metric_names(spec: str | None, has_gt: bool, has_kernels: bool) -> list[str]:
    """Turn ``--metrics`` (comma-separated, case-insensitive) into column names, or the defaults.

    Args:
        spec: e.g. ``"psnr,ssim,lpips"``; ``None`` or ``""`` for the defaults (module doc).
        has_gt: a ground truth is available.
        has_kernels: kernel folders are given.

    Returns:
        Unique column names in the given order (``KERNEL-L1`` is spelled ``KERNEL_L1``).

    Raises:
        DeblurkitError: kernel metrics without kernels.
    """
    if not spec:
        names = ["PSNR", "SSIM", *(KERNEL_METRICS if has_kernels else ())] if has_gt else list(DEFAULT_NR_METRICS)
    else:
        names = []
        for raw in spec.split(","):
            raw = raw.strip()
            if not raw:
                continue
            up = raw.upper().replace("-", "_")
            name = up if up in _INFO else display_name(raw)
            if name not in names:
                names.append(name)
        if not names:
            raise DeblurkitError("--metrics: no metric named")
    if not has_kernels and any(n in KERNEL_METRICS for n in names):
        raise DeblurkitError(
            "kernel metrics (MNC, KERNEL_L1, KERNEL_L2) need an estimated and a true kernel for every image "
            "(eval: --pred-kernels and --gt-kernels)"
        )
    return names


@dataclass
class Evaluation:
    """Result of :func:`evaluate`.

    Attributes:
        rows: one dict per image: ``image``, ``group``, ``pred``, ``gt``, one float per metric
            (``nan`` where it failed), and ``shift_x``/``shift_y`` (pixels) for aligned protocols,
            ``kernel_flipped`` for kernel metrics.
        metrics: the metric columns that were computed.
        extra_columns: names of the extra columns present in the rows.
        unavailable: metric name → one-line reason, for metrics that could not be built.
        failures: one line per (image, metric) that raised while computing.
    """

    rows: list[dict] = field(default_factory=list)
    metrics: list[MetricInfo] = field(default_factory=list)
    extra_columns: list[str] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


class _ImageCache:
    """Read each file once (ground truths are shared by many pairs)."""

    def __init__(self) -> None:
        self._images: dict[Path, np.ndarray] = {}

    def image(self, path: Path) -> np.ndarray:
        if path not in self._images:
            if len(self._images) > 16:
                self._images.clear()
            self._images[path] = read_image(path)[0]
        return self._images[path]


def evaluate(
    pairs: list[Pair],
    protocol: str = "plain",
    metric_names: list[str] | None = None,
    maxshift: int | None = None,
    device: str = "cpu",
    progress: Callable[[int], None] | None = None,
) -> Evaluation:
    """Score every pair.

    Args:
        pairs: from :func:`deblurkit.eval.pairing.pair_files` (``gt`` ``None`` for no-reference).
        protocol: ``levin``, ``lai`` or ``plain`` (:data:`deblurkit.metrics.protocols.PROTOCOLS`).
        metric_names: column names from :func:`parse_metric_names` (``None``: defaults).
        maxshift: override the protocol's largest shift (pixels, 0–15).
        device: where pyiqa metrics run (``cpu``, ``cuda``).
        progress: called with the number of images done.

    Returns:
        :class:`Evaluation`.

    Raises:
        DeblurkitError: unknown protocol, a full-reference metric without ground truth, images of
            different sizes, unreadable files.
    """
    if protocol not in PROTOCOLS:
        raise DeblurkitError(f"unknown protocol {protocol!r}; use one of {', '.join(PROTOCOLS)}")
    proto = PROTOCOLS[protocol]
    shift = proto.maxshift if maxshift is None else maxshift
    has_gt = all(p.gt is not None for p in pairs)
    has_kernels = all(p.pred_kernel is not None and p.gt_kernel is not None for p in pairs)
    names = metric_names or parse_metric_names(None, has_gt, has_kernels)
    ev = Evaluation()

    iqa = {}
    for n in names:
        if n in KERNEL_METRICS or (proto.aligned and n in ("PSNR", "SSIM")):
            if n in ("PSNR", "SSIM") and not has_gt:
                raise DeblurkitError(f"{n} needs a ground truth (--gt)")
            continue
        try:
            m = load_metric(n, device)
        except MetricUnavailable as e:
            ev.unavailable[n] = str(e)
            continue
        if m.full_reference and not has_gt:
            raise DeblurkitError(f"{n} is a full-reference metric and needs a ground truth (--gt)")
        iqa[n] = m
    for n in names:
        if n in ev.unavailable:
            continue
        ev.metrics.append(_INFO.get(n) or MetricInfo(n, not iqa[n].lower_better, "dB" if n == "PSNR" else "", 4))
    if proto.aligned and has_gt:
        ev.extra_columns += ["shift_x", "shift_y"]
    if any(n in KERNEL_METRICS for n in names):
        ev.extra_columns.append("kernel_flipped")

    cache = _ImageCache()
    for i, p in enumerate(pairs):
        est = cache.image(p.pred)
        ref = cache.image(p.gt) if p.gt is not None else None
        row: dict = {"image": p.key, "group": p.group, "pred": str(p.pred), "gt": str(p.gt) if p.gt else ""}
        est_fr, ref_fr = est, ref
        if ref is not None and est.shape[:2] != ref.shape[:2]:
            raise DeblurkitError(
                f"{p.pred.name} is {est.shape[0]}×{est.shape[1]} but its ground truth {p.gt.name} is "
                f"{ref.shape[0]}×{ref.shape[1]}"
            )
        if proto.aligned and ref is not None:
            try:
                res = compare_upto_shift(est, ref, maxshift=shift, luma=proto.luma)
            except ValueError as e:
                raise DeblurkitError(f"{p.pred.name}: {e}") from None
            row["PSNR"], row["SSIM"] = res.psnr, res.ssim
            row["shift_x"], row["shift_y"] = res.shift
            est_fr = aligned_color(est, res) if (proto.luma and est.shape[2] == 3) else res.aligned[:, :, None]
            ref_fr = crop_border(ref)
        if has_kernels and any(n in KERNEL_METRICS for n in names):
            ke = kernel_errors(read_kernel(p.pred_kernel), read_kernel(p.gt_kernel))
            row["MNC"], row["KERNEL_L1"], row["KERNEL_L2"], row["kernel_flipped"] = ke.mnc, ke.l1, ke.l2, ke.flipped
        for n, m in iqa.items():
            try:
                row[n] = m(est_fr, ref_fr) if m.full_reference else m(est)
            except Exception as e:  # noqa: BLE001 - one metric failing on one image must not stop the rest
                row[n] = math.nan
                ev.failures.append(f"{n} failed on {p.pred.name}: {type(e).__name__}: {' '.join(str(e).split())}")
        ev.rows.append(row)
        if progress is not None:
            progress(i + 1)
    return ev


def select_for_sheet(pairs: list[Pair], keys: list[str] | None, limit: int = 6) -> list[Pair]:
    """The pairs drawn on a contact sheet: those named in ``keys`` (in that order), else the first ``limit``.

    Raises:
        DeblurkitError: a key that is not an evaluated image.
    """
    if not keys:
        return pairs[:limit]
    by_key = {p.key: p for p in pairs}
    missing = [k for k in keys if k not in by_key]
    if missing:
        raise DeblurkitError(f"--sheet-images: no evaluated image named {missing[0]!r}")
    return [by_key[k] for k in keys]


def render_sheet(
    pairs: list[Pair],
    rows: list[dict],
    metrics: list[MetricInfo],
    blurry: dict[str, Path] | None = None,
    height: int = 220,
) -> np.ndarray:
    """Contact sheet blurry | deblurred | ground truth with estimated and true kernels inset.

    Args:
        pairs: the pairs to draw, top to bottom.
        rows: evaluation rows (:attr:`Evaluation.rows`), looked up by image key for the captions.
        metrics: metric columns shown in the captions.
        blurry: image key → blurry input file (the column is dropped when ``None``).
        height: panel height in pixels.

    Returns:
        ``(H, W, 3)`` float32 RGB in ``[0, 1]`` (:func:`deblurkit.viz.contact_sheet`).

    Raises:
        DeblurkitError: unreadable files.
    """
    from deblurkit.viz import SheetRow, contact_sheet

    by_key = {r["image"]: r for r in rows}
    out = []
    for p in pairs:
        r = by_key.get(p.key, {})
        shown = [m for m in metrics if isinstance(r.get(m.name), float) and math.isfinite(r[m.name])][:4]
        scores = "  ".join(f"{m.name} {r[m.name]:.{m.digits}f}" for m in shown)
        b = blurry.get(p.key) if blurry else None
        out.append(
            SheetRow(
                panels=[read_image(b)[0] if b else None, read_image(p.pred)[0], read_image(p.gt)[0] if p.gt else None],
                kernels=[None, read_kernel(p.pred_kernel) if p.pred_kernel else None, read_kernel(p.gt_kernel) if p.gt_kernel else None],
                caption=f"{p.key}  {scores}",
            )
        )
    titles = ["blurry", "deblurred (estimated kernel)", "ground truth (true kernel)"]
    return contact_sheet(out, titles=titles, height=height)
