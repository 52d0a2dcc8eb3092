"""Pairing deblurred images with their ground truth (and kernels) by file name.

Name rules (a rule is a regular expression matched against the whole *stem* of each file in the
prediction folder; its named groups say where the ground truth is):

``levin``
    ``im<M>_kernel<N>_img[_x|_deblurred].<ext>`` ↔ ground truth ``im<M>.<ext>``; group ``kernel<N>``;
    true kernel ``kernel<N>.<ext>`` (Levin et al. CVPR 2009 as distributed with SelfDeblur; ``_x`` is
    SelfDeblur's output suffix, ``_deblurred`` deblurkit's, see :data:`RESULT_SUFFIXES`).
``lai``
    ``<cat>_<MM>_kernel_<NN>[_x|_deblurred].<ext>`` ↔ ``<cat>_<MM>.<ext>``; group ``<cat>`` (manmade, natural,
    people, saturated, text); true kernel ``kernel_<NN>.<ext>`` (Lai et al. CVPR 2016 names).
``same``
    ``<stem>[_x|_deblurred].<ext>`` ↔ ``<stem>.<ext>`` (any extension); no group; true kernel ``<stem>.<ext>``.
a custom regular expression
    named group ``gt`` = ground-truth stem (default: the whole stem), optional ``group`` = report
    group, optional ``kernel`` = true-kernel stem (default: the ground-truth stem).

Estimated kernels (``--pred-kernels DIR``) are found by the prediction's stem with the suffix
``_kernel`` (deblurkit's convention), ``_k`` (SelfDeblur's; a trailing result suffix ``_x`` or
``_deblurred`` of the image stem is dropped first) or none, as ``.npy`` (preferred) or an image file. Files whose stem ends in
``_kernel`` or ``_kernels`` (a non-uniform kernel field), or in ``_k`` next to an image of the same stem, are never taken for images.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from deblurkit.errors import DeblurkitError
from deblurkit.io import IMAGE_EXTENSIONS

KERNEL_EXTENSIONS = (".npy", ".png", ".tif", ".tiff", ".bmp")

#: Suffixes that deblurring tools add to a result's stem: deblurkit's ``deblur`` and SelfDeblur.
RESULT_SUFFIXES = ("_deblurred", "_x")

#: Built-in rules: name → (regex, name of the group used for report groups or None).
RULES: dict[str, tuple[str, str | None]] = {
    "levin": (r"(?P<gt>im\d+)_(?P<kernel>kernel\d+)_img(?:_x|_deblurred)?", "kernel"),
    "lai": (r"(?P<gt>(?P<group>[A-Za-z]+)_\d+)_(?P<kernel>kernel_\d+)(?:_x|_deblurred)?", "group"),
    "same": (r"(?P<gt>.+?)(?:_x|_deblurred)?", None),
}


@dataclass(frozen=True)
class Pair:
    """One image to evaluate.

    Attributes:
        key: the prediction's stem (row name in reports).
        pred: deblurred image file.
        gt: ground-truth image file, or ``None`` for no-reference evaluation.
        group: report group (``kernel3``, ``manmade`` ...), ``""`` when the rule has none.
        pred_kernel: estimated kernel file, if kernels are evaluated.
        gt_kernel: true kernel file, if kernels are evaluated.
    """

    key: str
    pred: Path
    gt: Path | None = None
    group: str = ""
    pred_kernel: Path | None = None
    gt_kernel: Path | None = None


def natural_key(s: str) -> list:
    """Sort key that orders ``im2`` before ``im10``."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", s)]


def compile_rule(rule: str) -> tuple[re.Pattern, str | None]:
    """A rule name (``levin``, ``lai``, ``same``) or a custom regex → ``(pattern, group field)``.

    Raises:
        DeblurkitError: for an invalid regular expression.
    """
    if rule in RULES:
        regex, group = RULES[rule]
    else:
        regex, group = rule, None
    try:
        pattern = re.compile(regex)
    except re.error as e:
        raise DeblurkitError(f"--pair: not a valid regular expression {rule!r} ({e})") from None
    if group is None and "group" in pattern.groupindex:
        group = "group"
    return pattern, group


def _index(folder: Path, extensions: tuple[str, ...]) -> dict[str, list[Path]]:
    out: dict[str, list[Path]] = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.suffix.lower() in extensions and not p.name.startswith("."):
            out.setdefault(p.stem, []).append(p)
    return out


def _pick(candidates: list[Path], extensions: tuple[str, ...]) -> Path:
    return min(candidates, key=lambda p: extensions.index(p.suffix.lower()))


def _check_dir(path: Path | None, option: str) -> None:
    if path is None:
        return
    if not path.exists():
        raise DeblurkitError(f"{option}: no such folder: {path}")
    if not path.is_dir():
        raise DeblurkitError(f"{option}: expected a folder, got a file: {path}")


def find_kernel(folder: Path, stem: str, exclude: Path | None = None) -> Path | None:
    """The estimated-kernel file of an image stem in ``folder`` (see module doc), or ``None``."""
    bases = [stem] + [stem.removesuffix(sfx) for sfx in RESULT_SUFFIXES if stem.endswith(sfx)]
    for base in bases:
        for suffix in ("_kernel", "_k", ""):
            for ext in KERNEL_EXTENSIONS:
                p = folder / f"{base}{suffix}{ext}"
                if p.is_file() and (exclude is None or p.resolve() != exclude.resolve()):
                    return p
    return None


def pair_files(
    pred: Path,
    gt: Path | None = None,
    rule: str = "same",
    pred_kernels: Path | None = None,
    gt_kernels: Path | None = None,
) -> tuple[list[Pair], list[Path]]:
    """Pair every image of ``pred`` with its ground truth (and kernels) by a name rule.

    Args:
        pred: folder of deblurred images (not searched recursively).
        gt: folder of ground-truth images, or ``None`` (no-reference evaluation).
        rule: ``levin``, ``lai``, ``same`` or a custom regular expression (module doc).
        pred_kernels: folder of estimated kernels (may be ``pred`` itself), or ``None``.
        gt_kernels: folder of true kernels (may be ``gt`` itself); needs ``pred_kernels``. With
            ``pred_kernels`` alone the estimated kernels are only drawn on contact sheets.

    Returns:
        ``(pairs, skipped)``: pairs in natural order of their keys, and the image files of ``pred``
        that do not follow the rule.

    Raises:
        DeblurkitError: missing folders, no image following the rule, a missing ground truth or
            kernel file, or ``gt_kernels`` without ``pred_kernels``.
    """
    _check_dir(pred, "--pred")
    _check_dir(gt, "--gt")
    _check_dir(pred_kernels, "--pred-kernels")
    _check_dir(gt_kernels, "--gt-kernels")
    if gt_kernels is not None and pred_kernels is None:
        raise DeblurkitError("--gt-kernels needs --pred-kernels")
    pattern, group_field = compile_rule(rule)
    gt_index = _index(gt, IMAGE_EXTENSIONS) if gt is not None else {}
    gk_index = _index(gt_kernels, KERNEL_EXTENSIONS) if gt_kernels is not None else {}
    pairs, skipped = [], []
    images = _index(pred, IMAGE_EXTENSIONS)
    for stem, files in sorted(images.items(), key=lambda kv: natural_key(kv[0])):
        if stem.endswith(("_kernel", "_kernels")) or (stem.endswith("_k") and (stem[:-2] in images or stem[:-2] + "_x" in images)):
            continue  # an estimated kernel next to its image
        if len(files) > 1:
            raise DeblurkitError(f"{pred}: several images with the stem {stem!r}: {', '.join(p.name for p in files)}")
        image = files[0]
        m = pattern.fullmatch(stem)
        if m is None:
            skipped.append(image)
            continue
        groups = m.groupdict()
        gt_stem = groups.get("gt") or stem
        gt_path = None
        if gt is not None:
            if gt_stem not in gt_index:
                raise DeblurkitError(f"no ground truth for {image.name}: expected {gt / gt_stem}.<png|jpg|...>")
            gt_path = _pick(gt_index[gt_stem], IMAGE_EXTENSIONS)
        pk = gk = None
        if pred_kernels is not None:
            pk = find_kernel(pred_kernels, stem, exclude=image)
            if pk is None:
                raise DeblurkitError(f"no estimated kernel for {image.name} in {pred_kernels} (expected {stem}_kernel.npy or .png)")
        if gt_kernels is not None:
            k_stem = groups.get("kernel") or gt_stem
            if k_stem not in gk_index:
                raise DeblurkitError(f"no true kernel for {image.name}: expected {gt_kernels / k_stem}.<png|npy>")
            gk = _pick(gk_index[k_stem], KERNEL_EXTENSIONS)
        group = (groups.get(group_field) or "") if group_field else ""
        pairs.append(Pair(stem, image, gt_path, group, pk, gk))
    if not pairs:
        what = f"following the {rule} naming rule" if rule in RULES else f"matching {rule!r}"
        raise DeblurkitError(f"no images {what} in {pred}")
    return pairs, skipped
