"""The kernel window side ``S`` of ``--kernel-size auto``.

- DIP pipeline (:func:`auto_kernel_size`, one size fixed before estimating): with the GLKM prior
  the generator's size; with the FCN prior the smallest shipped generator size (31, 45, 55, 65,
  75) that is at least 4 % of the image's longer side (31 up to 775 px, 45 up to 1125 px, … 75
  beyond 1625 px), never more than a third of the shorter side; the estimate is trimmed to its
  support afterwards (:func:`deblurkit.solvers.restore.clean_kernel`), so an oversized window
  costs little. On the 32 Levin images (kernels 13–27 px) the 31-px window scored 1.26 dB above
  each image's own kernel size (``deblurkit bench levin --data ../shared/data/levin -o lv --
  --kernel-prior fcn``, against the same run with ``--kernel-size`` set per kernel).
- Coarse-to-fine pipeline (:func:`auto_kernel_sizes`, :func:`refined_kernel_size`): the kernel is
  first estimated in the largest shipped window that fits the image, where a long blur is not
  truncated; when its cleaned support fits a smaller shipped window, it is estimated again there
  (fewer unknowns). A bottom-up search (start at 31 px, grow while the estimate fills its window)
  stopped at 31 px for 9 of 12 held-out photos with 55/75-px kernels: a truncated estimate rarely
  reaches its window's border. On 24 training-split photos with 31–75 px kernels a fixed 75-px
  window scored within 0.1 dB of the 31-px window on the 31-px kernels and up to +11 dB above it
  on the long ones (``docs/benchmarks.md``, kernel size).
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
    The largest is estimated first, then the one :func:`refined_kernel_size` picks. Lai et al.'s
    benchmark kernels are 31–75 px, so on a megapixel photo 31, 55 and 75 are available.

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


def refined_kernel_size(kernel: np.ndarray, sizes: list[int]) -> int:
    """The smallest candidate window that holds a cleaned kernel estimate (the second pass of ``auto``).

    Args:
        kernel: ``(S', S')`` output of :func:`deblurkit.solvers.restore.clean_kernel` (trimmed to
            its support plus one pixel, centred) from the estimate in the largest window.
        sizes: the candidate sizes in pixels (:func:`auto_kernel_sizes`).

    Returns:
        The smallest ``s ∈ sizes`` with ``s ≥ S'`` (the largest size when none is).

    Raises:
        ValueError: ``sizes`` is empty.
    """
    if not sizes:
        raise ValueError("no kernel size to choose from")
    side = int(kernel.shape[0])
    return next((s for s in sorted(sizes) if s >= side), max(sizes))
