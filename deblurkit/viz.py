"""Pictures for people: kernel grids and contact sheets (blurry | deblurred | ground truth)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


def kernel_grid(kernels: np.ndarray, cols: int = 8, pad: int = 2, zoom: int = 3) -> np.ndarray:
    """Tile kernels into one gray image, each scaled to its own peak (for viewing only).

    Args:
        kernels: ``(N, h, w)`` non-negative kernels.
        cols: kernels per row.
        pad: width in pixels (before zoom) of the gray gap between tiles.
        zoom: nearest-neighbour magnification factor (``≥ 1``).

    Returns:
        ``(H, W, 1)`` float32 image in ``[0, 1]``.

    Raises:
        ValueError: if ``kernels`` is not 3-D or empty, or ``cols``/``zoom`` < 1.
    """
    k = np.asarray(kernels, dtype=np.float32)
    if k.ndim != 3 or k.shape[0] == 0:
        raise ValueError(f"expected (N, h, w) kernels, got shape {k.shape}")
    if cols < 1 or zoom < 1:
        raise ValueError("cols and zoom must be at least 1")
    n, h, w = k.shape
    rows = (n + cols - 1) // cols
    cols = min(cols, n)
    grid = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad), 0.25, dtype=np.float32)
    peaks = np.maximum(k.reshape(n, -1).max(axis=1), 1e-12)
    for i in range(n):
        r, c = divmod(i, cols)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        grid[y : y + h, x : x + w] = k[i] / peaks[i]
    grid = np.kron(grid, np.ones((zoom, zoom), dtype=np.float32))
    return grid[:, :, None]


def kernel_field(image: np.ndarray, kernels: np.ndarray, centres: np.ndarray, zoom: int = 2) -> np.ndarray:
    """Draw patch kernels at their patch centres over a dimmed image (non-uniform blur, for viewing).

    Args:
        image: ``(H, W, C)`` or ``(H, W)`` float image in ``[0, 1]``.
        kernels: ``(rows, cols, S, S)`` non-negative kernels, each drawn scaled to its own peak.
        centres: ``(rows, cols, 2)`` pixel positions ``(row, col)`` of the patch centres.
        zoom: nearest-neighbour magnification of the kernels (reduced if they would overlap).

    Returns:
        ``(H, W, 3)`` float32 image in ``[0, 1]``: the image at 40 % brightness, each kernel in
        white over a black square with a gray frame, centred on its patch (clipped at the borders).

    Raises:
        ValueError: on mismatched shapes.
    """
    img = _rgb(np.asarray(image, dtype=np.float32)) * 0.4
    k = np.asarray(kernels, dtype=np.float32)
    c = np.asarray(centres)
    if k.ndim != 4 or c.shape != (*k.shape[:2], 2):
        raise ValueError(f"kernels (rows, cols, S, S) and centres (rows, cols, 2) do not match: {k.shape}, {c.shape}")
    H, W = img.shape[:2]
    rows, cols, S, _ = k.shape
    room = min(H / rows, W / cols)
    while zoom > 1 and zoom * S + 2 > room:
        zoom -= 1
    for r in range(rows):
        for q in range(cols):
            tile = np.kron(k[r, q] / max(float(k[r, q].max()), 1e-12), np.ones((zoom, zoom), np.float32))
            tile = np.pad(tile, 1, constant_values=0.5)
            n = tile.shape[0]
            y0, x0 = int(c[r, q, 0]) - n // 2, int(c[r, q, 1]) - n // 2
            ys, xs = max(0, y0), max(0, x0)
            ye, xe = min(H, y0 + n), min(W, x0 + n)
            if ye > ys and xe > xs:
                img[ys:ye, xs:xe] = tile[ys - y0 : ye - y0, xs - x0 : xe - x0, None]
    return np.clip(img, 0, 1)


@dataclass
class SheetRow:
    """One row of a contact sheet.

    Attributes:
        panels: images left to right (e.g. blurry, deblurred, ground truth), each ``(H, W, 1|3)``
            or ``(H, W)`` float in ``[0, 1]``, or ``None`` for an empty cell.
        kernels: a kernel to inset in each panel's top-right corner (``(h, w)``, non-negative), or
            ``None``; same length as ``panels``.
        caption: text written above the row (ASCII; e.g. the image name and its scores).
    """

    panels: list
    kernels: list
    caption: str = ""


def _rgb(img: np.ndarray) -> np.ndarray:
    a = np.asarray(img, dtype=np.float32)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    return np.clip(a[:, :, :3], 0.0, 1.0)


def _inset(panel: np.ndarray, kernel: np.ndarray, fraction: float) -> None:
    k = np.clip(np.asarray(kernel, dtype=np.float32), 0, None)
    peak = float(k.max())
    if k.ndim != 2 or peak <= 0:
        return
    side = max(8, int(round(fraction * min(panel.shape[:2]))))
    scale = side / max(k.shape)
    kh, kw = max(1, int(round(k.shape[0] * scale))), max(1, int(round(k.shape[1] * scale)))
    tile = cv2.resize(k / peak, (kw, kh), interpolation=cv2.INTER_NEAREST)
    y0, x0 = 2, panel.shape[1] - kw - 2
    if x0 < 1 or y0 + kh + 1 > panel.shape[0]:
        return
    panel[y0 - 1 : y0 + kh + 1, x0 - 1 : x0 + kw + 1] = 1.0  # white frame
    panel[y0 : y0 + kh, x0 : x0 + kw] = tile[:, :, None]


def _text_strip(text: str, width: int, height: int = 20) -> np.ndarray:
    strip = np.full((height, width, 3), 31, dtype=np.uint8)
    text = text.encode("ascii", "replace").decode()[:200]
    cv2.putText(strip, text, (4, height - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    return strip.astype(np.float32) / 255.0


def contact_sheet(
    rows: list[SheetRow],
    titles: list[str] | None = None,
    height: int = 220,
    gap: int = 4,
    inset: float = 0.3,
) -> np.ndarray:
    """Draw rows of images side by side (e.g. blurry | deblurred | ground truth) with kernel insets.

    Every panel is resized to ``height`` pixels (aspect kept; area interpolation), gray panels are
    shown as gray RGB, kernels are drawn white-on-black scaled to their own peak (for viewing only)
    in the panel's top-right corner with ``inset`` of the panel's short side. Columns that are
    empty in every row are dropped.

    Args:
        rows: the :class:`SheetRow` s, top to bottom (at least one).
        titles: column titles written in a header strip (same length as the panels), or ``None``.
        height: panel height in pixels (``≥ 16``).
        gap: background gap between panels, pixels.
        inset: kernel inset size as a fraction of the panel's short side, in ``(0, 1)``.

    Returns:
        ``(H, W, 3)`` float32 RGB image in ``[0, 1]``.

    Raises:
        ValueError: no rows, rows with different panel counts, or bad sizes.
    """
    if not rows:
        raise ValueError("a contact sheet needs at least one row")
    ncols = len(rows[0].panels)
    if any(len(r.panels) != ncols or len(r.kernels) != ncols for r in rows):
        raise ValueError("every row needs the same number of panels and kernels")
    if height < 16 or not 0 < inset < 1:
        raise ValueError("height must be ≥ 16 and inset in (0, 1)")
    keep = [c for c in range(ncols) if any(r.panels[c] is not None for r in rows)]
    widths = [0] * ncols
    scaled: list[list[np.ndarray | None]] = []
    for r in rows:
        line = []
        for c in keep:
            p = r.panels[c]
            if p is None:
                line.append(None)
                continue
            a = _rgb(p)
            w = max(1, int(round(a.shape[1] * height / a.shape[0])))
            a = cv2.resize(a, (w, height), interpolation=cv2.INTER_AREA if a.shape[0] > height else cv2.INTER_LINEAR)
            a = np.clip(a.reshape(height, w, 3), 0, 1)
            if r.kernels[c] is not None:
                _inset(a, r.kernels[c], inset)
            widths[c] = max(widths[c], w)
            line.append(a)
        scaled.append(line)
    col_w = [widths[c] for c in keep]
    total_w = sum(col_w) + gap * (len(keep) + 1)
    blocks = []
    if titles is not None:
        header = np.full((20, total_w, 3), 31 / 255, dtype=np.float32)
        x = gap
        for c, w in zip(keep, col_w):
            header[:, x : x + w] = _text_strip(titles[c], w)
            x += w + gap
        blocks.append(header)
    for r, line in zip(rows, scaled):
        blocks.append(_text_strip(r.caption, total_w))
        band = np.full((height + 2 * gap, total_w, 3), 31 / 255, dtype=np.float32)
        x = gap
        for a, w in zip(line, col_w):
            if a is not None:
                band[gap : gap + height, x : x + a.shape[1]] = a
            x += w + gap
        blocks.append(band)
    return np.concatenate(blocks, axis=0)
