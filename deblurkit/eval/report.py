"""Evaluation reports: per-image CSV, JSON summary, Markdown tables.

A report is three files sharing one stem: ``<stem>.csv`` (one row per image), ``<stem>.json``
(settings, per-group and overall means, every row) and ``<stem>.md`` (tables per image, per group
and the overall mean). Means are plain arithmetic means over images (as the benchmark scripts'
``mean(psnrs(:))``); a group mean is over the images of the group. Non-finite values (the PSNR of
an exact match, a metric that failed on an image) are written ``inf``/``nan`` in CSV and Markdown
and ``null`` in JSON (strict JSON has no infinity); a mean skips NaN but not ``inf``.
All writes are atomic.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path

from deblurkit.io import atomic_write_bytes

REPORT_SUFFIXES = (".csv", ".json", ".md")


@dataclass(frozen=True)
class MetricInfo:
    """How a metric column is read.

    Attributes:
        name: column name (``PSNR``, ``SSIM``, ``LPIPS``, ``MNC`` ...).
        higher_better: direction of improvement.
        unit: ``dB`` or ``""``.
        digits: decimals shown in Markdown.
    """

    name: str
    higher_better: bool = True
    unit: str = ""
    digits: int = 4


def report_paths(stem: Path) -> list[Path]:
    """``<stem>.csv``, ``<stem>.json``, ``<stem>.md``; a ``.csv``/``.json``/``.md`` suffix of ``stem`` is dropped."""
    stem = Path(stem)
    if stem.suffix.lower() in REPORT_SUFFIXES:
        stem = stem.with_suffix("")
    return [stem.with_name(stem.name + s) for s in REPORT_SUFFIXES]


def _mean(values: list) -> float:
    vals = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return sum(vals) / len(vals) if vals else math.nan


def summarize(rows: list[dict], metrics: list[MetricInfo]) -> dict:
    """Per-group and overall means.

    Args:
        rows: one dict per image with ``group`` and a value (float or ``None``) per metric name.
        metrics: the metric columns.

    Returns:
        ``{"groups": {group: {"n": int, metric: mean}}, "overall": {"n": int, metric: mean}}``,
        groups in first-seen order (rows with group ``""`` are only in ``overall``).
    """
    groups: dict[str, list[dict]] = {}
    for r in rows:
        if r.get("group"):
            groups.setdefault(r["group"], []).append(r)

    def block(rs: list[dict]) -> dict:
        return {"n": len(rs), **{m.name: _mean([r.get(m.name) for r in rs]) for m in metrics}}

    return {"groups": {g: block(rs) for g, rs in groups.items()}, "overall": block(rows)}


def _json_value(v):  # noqa: ANN001, ANN202
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _json_value(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_json_value(x) for x in v]
    return v


def to_csv(rows: list[dict], columns: list[str]) -> str:
    """Rows as CSV text with a header line; floats with up to 10 significant digits."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        out = []
        for c in columns:
            v = r.get(c)
            out.append("" if v is None else (f"{v:.10g}" if isinstance(v, float) else v))
        w.writerow(out)
    return buf.getvalue()


def to_json(summary: dict, rows: list[dict], meta: dict) -> str:
    """The JSON summary: ``meta`` (settings), ``groups``, ``overall``, ``images`` (the rows)."""
    doc = {**meta, "groups": summary["groups"], "overall": summary["overall"], "images": rows}
    return json.dumps(_json_value(doc), indent=2, allow_nan=False) + "\n"


def _fmt(v, m: MetricInfo) -> str:  # noqa: ANN001
    if v is None:
        return "–"
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return f"{v:.{m.digits}f}"
    return str(v)


def _header(metrics: list[MetricInfo]) -> list[str]:
    return [f"{m.name}{' (' + m.unit + ')' if m.unit else ''} {'↑' if m.higher_better else '↓'}" for m in metrics]


def _table(header: list[str], lines: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    out += ["| " + " | ".join(line) + " |" for line in lines]
    return "\n".join(out)


def to_markdown(summary: dict, rows: list[dict], metrics: list[MetricInfo], meta: dict, title: str = "Evaluation") -> str:
    """Markdown: settings, overall mean, per-group means, per-image table."""
    parts = [f"# {title}", ""]
    settings = ", ".join(f"{k}: {v}" for k, v in meta.items() if k in ("protocol", "maxshift", "pred", "gt") and v is not None)
    if settings:
        parts += [settings, ""]
    ov = summary["overall"]
    parts += ["## Overall mean", "", _table(["images", *_header(metrics)], [[str(ov["n"]), *[_fmt(ov[m.name], m) for m in metrics]]]), ""]
    if summary["groups"]:
        lines = [[g, str(b["n"]), *[_fmt(b[m.name], m) for m in metrics]] for g, b in summary["groups"].items()]
        parts += ["## Per group", "", _table(["group", "images", *_header(metrics)], lines), ""]
    grouped = any(r.get("group") for r in rows)
    lines = [[r["image"], *([r.get("group") or ""] if grouped else []), *[_fmt(r.get(m.name), m) for m in metrics]] for r in rows]
    parts += ["## Per image", "", _table(["image", *(["group"] if grouped else []), *_header(metrics)], lines), ""]
    return "\n".join(parts)


def write_report(stem: Path, rows: list[dict], metrics: list[MetricInfo], meta: dict, extra_columns: list[str] = (), protect=()) -> list[Path]:  # noqa: ANN001
    """Write ``<stem>.csv``, ``<stem>.json`` and ``<stem>.md`` atomically.

    Args:
        stem: output path without suffix (a ``.csv``/``.json``/``.md`` suffix is dropped).
        rows: per-image dicts with ``image``, ``group``, ``pred``, ``gt``, one value per metric and
            the ``extra_columns`` (e.g. ``shift_x``).
        metrics: the metric columns, in order.
        meta: settings recorded in the JSON and Markdown (protocol, maxshift, folders, version ...).
        extra_columns: further CSV columns after the metrics.
        protect: input paths that must never be overwritten.

    Returns:
        The three written paths.

    Raises:
        DeblurkitError: if a file cannot be written or is an input.
    """
    csv_path, json_path, md_path = report_paths(stem)
    summary = summarize(rows, metrics)
    columns = ["image", "group", *[m.name for m in metrics], *extra_columns, "pred", "gt"]
    atomic_write_bytes(csv_path, to_csv(rows, columns).encode(), protect)
    atomic_write_bytes(json_path, to_json(summary, rows, meta).encode(), protect)
    atomic_write_bytes(md_path, to_markdown(summary, rows, metrics, meta).encode(), protect)
    return [csv_path, json_path, md_path]
