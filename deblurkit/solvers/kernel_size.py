"""The kernel window side ``S`` of ``--kernel-size auto``.

- DIP pipeline (:func:`auto_kernel_size`, one size fixed before estimating): with the GLKM prior
  the generator's size; with the FCN prior the smallest shipped generator size (31, 45, 55, 65,
  75) that is at least 4 % of the image's longer side (31 up to 775 px, 45 up to 1125 px, … 75
  beyond 1625 px), never more than a third of the shorter side; the estimate is trimmed to its
  support afterwards (:func:`deblurkit.solvers.restore.clean_kernel`), so an oversized window
  costs little. On the 32 Levin images (kernels 13–27 px) the 31-px window scored 1.26 dB above
  each image's own kernel size (``deblurkit bench levin --data ../shared/data/levin -o lv --
  --kernel-prior fcn``, against the same run with ``--kernel-size`` set per kernel).
- Coarse-to-fine pipeline (:func:`auto_kernel_sizes`, :func:`kernel_fills_window`): the shipped
  sizes are tried from the smallest up while the cleaned estimate fills its window, since an
  oversized window costs about 1 dB (more unknowns, noise fitted at its edges) and a too-small
  one truncates the blur (development measurements of ``docs/benchmarks.md``, first section).
"""

from __future__ import annotations

import numpy as np

from deblurkit.models.kernel_gan import SIZES


def auto_kernel_size(height: int, width: int, sizes: tuple[int, ...] = SIZES) -> int:
    """Kernel side of the DIP pipeline's ``kernel_size="auto"`` (rule in the module docstring).

    Args:
        height, width: image size in pixels.
        sizes: candidate sizes in pixels, ascending (the shipped generator sizes).

    Returns:
        The smallest ``s ∈ sizes`` with ``s ≥ 0.04 · max(height, width)``, capped at the largest
        odd ``≤ min(height, width) / 3`` (and at least 3).
    """
    target = 0.04 * max(height, width)
    s = next((c for c in sizes if c >= target), sizes[-1])
    cap = int(min(height, width) // 3)
    cap = cap if cap % 2 == 1 else cap - 1
    return max(3, min(s, cap))


def auto_kernel_sizes(height: int, width: int, shipped: tuple[int, ...]) -> list[int]:
    """Kernel sides (pixels) that the coarse-to-fine pipeline's ``--kernel-size auto`` may try, ascending.

    Every shipped generator size ``S`` with ``3 S ≤ min(height, width)`` (at least the smallest).
    They are tried from the smallest up while the estimate fills its window
    (:func:`kernel_fills_window`). Lai et al.'s benchmark kernels are 31–75 px, so on a megapixel
    photo 31, 55 and 75 are available.

    Args:
        height, width: image size in pixels.
        shipped: the available sizes in pixels (any order).

    Returns:
        The candidate sizes, ascending, at least one.

    Raises:
        ValueError: ``shipped`` is empty.
    """
    if not shipped:
        raise ValueError("no kernel size to choose from")
    sizes = sorted(shipped)
    fit = [s for s in sizes if 3 * s <= min(height, width)]
    return fit or sizes[:1]


def kernel_fills_window(kernel: np.ndarray, window: int) -> bool:
    """Whether a cleaned kernel estimate reaches the edge of its ``window × window`` kernel window.

    Args:
        kernel: ``(S', S')`` output of :func:`deblurkit.solvers.restore.clean_kernel` (trimmed to
            its support plus one pixel, centred).
        window: the kernel window side ``S`` in pixels it was estimated in.

    Returns:
        ``S' ≥ window``: the support touches the window's border, the sign that the blur may be
        longer than the window (the "kernel size too small" test of the multi-scale literature;
        no reference needed).
    """
    return int(kernel.shape[0]) >= window
