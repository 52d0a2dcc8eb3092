"""Benchmark datasets on disk and the results of a run (``bench``; deblurring is ``deblur``'s batch machinery).

Layouts (``deblurkit bench LAYOUT --data DIR``):

``levin``
    ``DIR/im<M>_kernel<N>_img.png`` blurry inputs, ``DIR/gt/im<M>.png`` ground truth,
    ``DIR/gt/kernel<N>.png`` true kernels (as distributed with SelfDeblur). Protocol ``levin``.
``lai``
    ``DIR/blurry/<cat>_<MM>_kernel_<NN>.png``, ``DIR/gt/<cat>_<MM>.png``,
    ``DIR/kernels/kernel_<NN>.png`` (optional). Protocol ``lai`` (Y channel).
``synth``
    ``DIR/blurry/<name>.png``, ``DIR/gt/<name>.png``, ``DIR/kernels/<name>.npy|png`` (optional) and
    ``DIR/manifest.json`` (optional; its ``images[].kernel_size`` groups the report by kernel size),
    as written by ``deblurkit synth-set``. Protocol ``lai``.
``folder``
    ``DIR/*.png|jpg|...``: blurry photos without ground truth; no-reference metrics.

A run folder holds ``deblurred/<key>_deblurred.png``, ``deblurred/<key>_kernel.npy`` and
``deblurred/<key>.json`` (written by ``deblur``, :mod:`deblurkit.pipeline`), the report ``report.csv|json|md``, the contact sheet ``sheet.png`` and
``bench.json`` (the settings of the run).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from deblurkit.errors import DeblurkitError
from deblurkit.eval.pairing import (
    KERNEL_EXTENSIONS,
    Pair,
    compile_rule,
    find_kernel,
    natural_key,
)
from deblurkit.io import IMAGE_EXTENSIONS

LAYOUTS = ("levin", "lai", "synth", "folder")
#: Protocol used to evaluate each layout.
LAYOUT_PROTOCOL = {"levin": "levin", "lai": "lai", "synth": "lai", "folder": "plain"}
#: Name rule of each layout with ground truth (:data:`deblurkit.eval.pairing.RULES`).
LAYOUT_RULE = {"levin": "levin", "lai": "lai", "synth": "same"}


@dataclass(frozen=True)
class BenchItem:
    """One blurry input of a benchmark.

    Attributes:
        key: the input's stem (``im1_kernel3_img``); outputs are named after it.
        blurry: the blurry input file.
        gt: its ground-truth image, or ``None`` (``folder`` layout).
        gt_kernel: its true kernel, or ``None``.
        group: report group (Levin kernel, Lai category, ``synth`` kernel size such as ``31px``, or ``""``).
    """

    key: str
    blurry: Path
    gt: Path | None = None
    gt_kernel: Path | None = None
    group: str = ""


def _images(folder: Path) -> list[Path]:
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")]
    return sorted(files, key=lambda p: natural_key(p.name))


def _find(folder: Path, stem: str, extensions: tuple[str, ...]) -> Path | None:
    for ext in extensions:
        p = folder / f"{stem}{ext}"
        if p.is_file():
            return p
    return None


def _synth_groups(data: Path) -> dict[str, str]:
    """``name → "<kernel_size>px"`` from a ``synth-set`` manifest (empty when absent or unreadable)."""
    import json

    try:
        manifest = json.loads((data / "manifest.json").read_text())
        return {str(im["name"]): f"{int(im['kernel_size'])}px" for im in manifest.get("images", []) if "kernel_size" in im}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}


def discover(layout: str, data: Path) -> list[BenchItem]:
    """List the items of a dataset folder in one of the :data:`LAYOUTS` (module doc).

    Args:
        layout: ``levin``, ``lai``, ``synth`` or ``folder``.
        data: the dataset folder.

    Returns:
        Items in natural order of their keys.

    Raises:
        DeblurkitError: unknown layout, missing folder, no input following the layout's names, or a
            missing ground truth.
    """
    if layout not in LAYOUTS:
        raise DeblurkitError(f"unknown layout {layout!r}; use one of {', '.join(LAYOUTS)}")
    if not data.is_dir():
        raise DeblurkitError(f"--data: no such folder: {data}")
    if layout == "folder":
        items = [BenchItem(p.stem, p) for p in _images(data) if not p.stem.endswith(("_kernel", "_kernels"))]
        if not items:
            raise DeblurkitError(f"no images in {data}")
        return items
    blurry_dir = data if layout == "levin" else data / "blurry"
    gt_dir = data / "gt"
    kernel_dir = data / "gt" if layout == "levin" else data / "kernels"
    for d, what in ((blurry_dir, "blurry inputs"), (gt_dir, "ground truth")):
        if not d.is_dir():
            raise DeblurkitError(f"{data} is not in the {layout} layout: no folder {d} ({what})")
    pattern, group_field = compile_rule(LAYOUT_RULE[layout])
    sizes = _synth_groups(data) if layout == "synth" else {}
    items = []
    for p in _images(blurry_dir):
        m = pattern.fullmatch(p.stem)
        if m is None:
            continue
        gt = _find(gt_dir, m["gt"], IMAGE_EXTENSIONS)
        if gt is None:
            raise DeblurkitError(f"no ground truth for {p.name}: expected {gt_dir / m['gt']}.png")
        kernel_stem = m["kernel"] if "kernel" in pattern.groupindex else m["gt"]
        gk = _find(kernel_dir, kernel_stem, KERNEL_EXTENSIONS) if kernel_dir.is_dir() else None
        group = m[group_field] if group_field else sizes.get(m["gt"], "")
        items.append(BenchItem(p.stem, p, gt, gk, group))
    if not items:
        raise DeblurkitError(f"no blurry images with {layout} names in {blurry_dir}")
    return items


def pairs_from_run(items: list[BenchItem], pred_dir: Path) -> list[Pair]:
    """Pair each item with its result in a run folder.

    The result of item ``key`` is ``pred_dir/<key>_deblurred.<ext>`` (deblurkit's ``deblur``),
    ``pred_dir/<key>.<ext>`` or SelfDeblur's ``<key>_x.<ext>``; its
    estimated kernel is found by :func:`deblurkit.eval.pairing.find_kernel` (``None`` if absent); the
    true kernel is the item's.

    Args:
        items: from :func:`discover`.
        pred_dir: folder with the deblurred images.

    Returns:
        One :class:`~deblurkit.eval.pairing.Pair` per item.

    Raises:
        DeblurkitError: missing folder or deblurred images (names the first missing one and the count).
    """
    if not pred_dir.is_dir():
        raise DeblurkitError(f"--pred: no such folder: {pred_dir}")
    pairs, missing = [], []
    for it in items:
        p = next(
            (q for s in (f"{it.key}_deblurred", it.key, f"{it.key}_x") if (q := _find(pred_dir, s, IMAGE_EXTENSIONS))),
            None,
        )
        if p is None:
            missing.append(it.key)
            continue
        pairs.append(Pair(it.key, p, it.gt, it.group, find_kernel(pred_dir, it.key, exclude=p), it.gt_kernel))
    if missing:
        raise DeblurkitError(
            f"{len(missing)} of {len(items)} inputs have no deblurred image in {pred_dir} "
            f"(first: {missing[0]}.png)"
        )
    return pairs
