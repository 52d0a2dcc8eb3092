"""Window selection: the square part of the luminance that a blind kernel estimate works on.

A blind estimate needs edges of several orientations, and its cost grows with its area, so it runs
on the ``side × side`` window of the blurry luminance with the largest mean squared gradient
(:func:`informative_crops`), edges of saturated pixels excluded (clipping breaks the linear model
``y = k ⊛ x``).
Repeated estimates of one image use windows that overlap by at most half: a wrong kernel usually
comes from one window's content and is not reproduced on other content (the measurement is given
at :attr:`deblurkit.solvers.presets.Preset.residual_retries`).

Window sides: the coarse-to-fine pipeline uses :func:`estimation_window`; the DIP pipeline uses
``max(Preset.crop, 4 S)`` (:mod:`deblurkit.solvers.dip_pipeline`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: Largest side (pixels) of the coarse-to-fine pipeline's estimation window; at least ``8 S`` for a
#: kernel of side ``S``. A larger window holds more edges and costs time in proportion to its area.
WINDOW = 640


def estimation_window(height: int, width: int, kernel_size: int) -> int:
    """Side of the coarse-to-fine pipeline's square estimation window.

    Args:
        height, width: image size in pixels.
        kernel_size: kernel side ``S`` in pixels.

    Returns:
        ``min(max(WINDOW, 8 · kernel_size), max(height, width))`` pixels (the window is clipped to
        the image by :func:`informative_crops`).
    """
    return min(max(WINDOW, 8 * kernel_size), max(height, width))


def informative_crop(y: torch.Tensor, side: int, stride: int = 4) -> tuple[int, int, int, int]:
    """The ``side × side`` window of ``y`` with the largest mean squared gradient.

    Args:
        y: ``(1, 1, H, W)`` luminance in ``[0, 1]``.
        side: window side in pixels (clipped to the image).
        stride: step of the search grid in pixels.

    Returns:
        ``(top, left, height, width)`` in pixels; the whole image if it is not larger than ``side``.
    """
    return informative_crops(y, side, 1, stride=stride)[0]


def informative_crops(
    y: torch.Tensor, side: int, count: int, max_overlap: float = 0.5, stride: int = 4
) -> list[tuple[int, int, int, int]]:
    """Up to ``count`` distinct ``side × side`` windows of ``y``, most informative first.

    Windows are ranked by the sum of squared horizontal and vertical differences inside them, the
    differences within 2 pixels of a saturated pixel (``> 0.98`` or ``< 0.02``) left out; a window
    is skipped when it shares more than ``max_overlap`` of its area with one already chosen.

    Args:
        y: ``(1, 1, H, W)`` luminance in ``[0, 1]``.
        side: window side in pixels (clipped to the image).
        count: windows wanted (≥ 1).
        max_overlap: largest shared fraction of a window's area with an earlier one, ``[0, 1]``.
        stride: step of the search grid in pixels.

    Returns:
        ``[(top, left, height, width), ...]`` in pixels: at least one and at most ``count``
        windows; just the whole image if it is not larger than ``side``.

    Raises:
        ValueError: ``count < 1`` or ``max_overlap`` outside ``[0, 1]``.
    """
    if count < 1 or not 0 <= max_overlap <= 1:
        raise ValueError(f"need count ≥ 1 and 0 ≤ max_overlap ≤ 1, got {count}, {max_overlap}")
    H, W = y.shape[-2:]
    sh, sw = min(side, H), min(side, W)
    if (sh, sw) == (H, W):
        return [(0, 0, H, W)]
    g = y[0, 0].double()
    e = torch.zeros_like(g)
    e[:, :-1] += (g[:, 1:] - g[:, :-1]) ** 2
    e[:-1, :] += (g[1:, :] - g[:-1, :]) ** 2
    sat = ((g > 0.98) | (g < 0.02)).double()
    e = e * (1 - F.max_pool2d(sat[None, None], 5, 1, 2)[0, 0])
    ii = F.pad(e.cumsum(0).cumsum(1), (1, 0, 1, 0))
    tops = torch.arange(0, H - sh + 1, stride)
    lefts = torch.arange(0, W - sw + 1, stride)
    t, l = tops[:, None], lefts[None, :]
    s = (ii[t + sh, l + sw] - ii[t, l + sw] - ii[t + sh, l] + ii[t, l]).flatten()
    chosen: list[tuple[int, int, int, int]] = []
    for idx in torch.argsort(s, descending=True, stable=True).tolist():
        top, left = int(tops[idx // len(lefts)]), int(lefts[idx % len(lefts)])
        shared = [max(0, sh - abs(top - a)) * max(0, sw - abs(left - b)) for a, b, _, _ in chosen]
        if all(area <= max_overlap * sh * sw for area in shared):
            chosen.append((top, left, sh, sw))
            if len(chosen) == count:
                break
    return chosen
