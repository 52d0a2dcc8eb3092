"""Space-variant overlap-add (SVOLA) blur: one kernel per patch of a grid, smooth blending windows.

GLKM Eq. (11)–(12) (after Hirsch et al., "Efficient filter flow", CVPR 2010)::

    y = Σ_i  k_i ⊛ (w_i ⊙ x)

``x`` is cut into ``P = rows × cols`` overlapping patches by windows ``w_i`` that sum to 1 at every
pixel; each windowed patch is blurred by its own kernel ``k_i`` (true convolution) and the results
are added. With all kernels equal, ``y = k ⊛ Σ_i w_i x = k ⊛ x``: the operator reduces exactly to
the uniform one (:func:`deblurkit.physics.functional.blur`).

Windows (:func:`grid_windows_1d`): separable, ``w_i(u, v) = a_r(u) · b_c(v)``; along each axis the
patch centres are evenly spaced ``d = ⌈L / n⌉`` pixels apart (centred on the image), and between
two neighbouring centres the weight crosses over as ``cos²`` / ``sin²`` of ``π t / 2``
(``t ∈ [0, 1]`` the fractional position): a raised-cosine (Hann) partition of unity, continuous with
a continuous slope, so no seams. Beyond the first / last centre the edge patch's weight is 1.

Computation: every patch's support plus the kernel's reach is one fixed-size tile (the centres are
evenly spaced), so all tiles are cut with one ``F.unfold``, blurred in one batched FFT convolution
(patch = batch index) and overlap-added with one ``F.fold``; cost ≈ 4× one full-image FFT blur.
Differentiable in ``x`` and in the kernels; the adjoint is the vector-Jacobian product of the
(linear) forward map, exact up to float rounding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from deblurkit.physics.functional import _pads, blur

#: Patch spacing (pixels) of the default grid rule (:func:`default_grid`).
DEFAULT_PATCH_SPACING = 128


def default_grid(height: int, width: int, spacing: int = DEFAULT_PATCH_SPACING) -> tuple[int, int]:
    """Default ``(rows, cols)`` of the SVOLA grid: one patch per ``spacing`` pixels, at least 1.

    ``rows = max(1, round(height / spacing))``, likewise ``cols``; a 512×512 image gets 4×4, a
    321×481 one 3×4 (GLKM's 5×10 on its ≈ 800×1200 photos is the same density to within 2×).

    Args:
        height, width: image size in pixels.
        spacing: target patch spacing in pixels.
    """
    return max(1, round(height / spacing)), max(1, round(width / spacing))


def parse_grid(text: str) -> tuple[int, int]:
    """Parse ``"ROWSxCOLS"`` (e.g. ``"5x10"``) into ``(rows, cols)``.

    Raises:
        ValueError: if the text is not two positive integers joined by ``x``.
    """
    parts = text.lower().replace("×", "x").split("x")
    try:
        rows, cols = (int(p) for p in parts)
    except ValueError:
        raise ValueError(f"grid must look like ROWSxCOLS (e.g. 3x4), got {text!r}") from None
    if rows < 1 or cols < 1:
        raise ValueError(f"grid must have at least one row and one column, got {text!r}")
    return rows, cols


@dataclass(frozen=True)
class AxisGrid:
    """Patch layout along one axis of length ``length`` pixels.

    Attributes:
        length: axis length in pixels.
        count: number of patches along the axis.
        spacing: distance between neighbouring centres (pixels, integer ``⌈length / count⌉``).
        first: index of the first centre (integer; may be ≤ 0 for one patch).
    """

    length: int
    count: int
    spacing: int
    first: int

    @property
    def centres(self) -> list[int]:
        """Integer pixel positions of the patch centres."""
        return [self.first + i * self.spacing for i in range(self.count)]

    @property
    def tile(self) -> int:
        """Length of every patch's support tile, ``2 · spacing + 1`` (centre ± spacing)."""
        return 2 * self.spacing + 1


def axis_grid(length: int, count: int) -> AxisGrid:
    """Evenly spaced, centred patch centres along an axis (see the module docstring).

    Raises:
        ValueError: if ``count < 1`` or ``count > length``.
    """
    if count < 1 or count > length:
        raise ValueError(f"cannot place {count} patches along {length} pixels")
    spacing = max(1, math.ceil(length / count))
    first = (length - 1 - (count - 1) * spacing) // 2
    return AxisGrid(length, count, spacing, first)


def grid_centres(height: int, width: int, grid: tuple[int, int]) -> torch.Tensor:
    """Pixel positions of the patch centres of a grid laid on a ``height × width`` image.

    Args:
        height, width: image size in pixels.
        grid: ``(rows, cols)``.

    Returns:
        ``(rows · cols, 2)`` int64 centres ``(row, col)`` in row-major grid order (:func:`axis_grid`).

    Raises:
        ValueError: as :func:`axis_grid`.
    """
    cy, cx = axis_grid(height, grid[0]).centres, axis_grid(width, grid[1]).centres
    return torch.tensor([[r, c] for r in cy for c in cx], dtype=torch.int64)


def grid_windows_1d(axis: AxisGrid, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Raised-cosine partition-of-unity weights of every patch on its own tile.

    Args:
        axis: the layout (:func:`axis_grid`).
        dtype: output dtype.

    Returns:
        ``(count, tile)`` weights in ``[0, 1]``; entry ``[i, j]`` is patch ``i``'s weight at pixel
        ``centre_i − spacing + j``. Summed over the patches covering a pixel of ``[0, length)`` they
        give exactly 1.
    """
    d = axis.spacing
    t = torch.arange(-d, d + 1, dtype=torch.float64) / d  # offset from the centre, in spacings
    base = torch.cos(0.5 * math.pi * t.abs()) ** 2  # cos² cross-fade; 0 at ±1
    rows = []
    for i in range(axis.count):
        w = base.clone()
        if i == 0:
            w[t < 0] = 1.0  # first patch: flat towards the start of the axis
        if i == axis.count - 1:
            w[t > 0] = 1.0  # last patch: flat towards the end
        rows.append(w)
    return torch.stack(rows).to(dtype)


def grid_windows(height: int, width: int, grid: tuple[int, int], dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Full-frame windows ``w_i`` (for tests and pictures; the operator never builds them).

    Args:
        height, width: image size in pixels.
        grid: ``(rows, cols)``.
        dtype: output dtype.

    Returns:
        ``(rows · cols, height, width)`` windows in ``[0, 1]``, patch-major in row-major grid
        order, summing to 1 at every pixel.
    """
    out = []
    axes = axis_grid(height, grid[0]), axis_grid(width, grid[1])
    w1 = [grid_windows_1d(a, torch.float64) for a in axes]
    full = []
    for a, w, n in zip(axes, w1, (height, width)):
        m = torch.zeros(a.count, n, dtype=torch.float64)
        for i, c in enumerate(a.centres):
            for j in range(a.tile):
                p = c - a.spacing + j
                if 0 <= p < n:
                    m[i, p] = w[i, j]
        full.append(m)
    for r in range(grid[0]):
        for c in range(grid[1]):
            out.append(full[0][r][:, None] * full[1][c][None, :])
    return torch.stack(out).to(dtype)


class SVOLABlur(torch.nn.Module):
    r"""Space-variant overlap-add blur ``y = Σ_i k_i ⊛ (w_i ⊙ x)`` (GLKM Eq. 11–12).

    The grid is fixed at construction; the image size may change between calls (the windows are
    laid out on each call's ``x``).

    Args:
        grid: ``(rows, cols)`` patches, ``P = rows · cols``.
        mode: ``"valid"`` (no padding: ``(H, W) → (H − S + 1, W − S + 1)``, the windows laid out
            on ``x``; the DIP solvers use this) or ``"same"`` (reflect padding first, output
            ``(H, W)``, as :func:`deblurkit.physics.functional.blur`).

    Shape:
        - x: ``(B, C, H, W)`` float (``[0, 1]`` intensities usually).
        - kernels: ``(P, 1, S, S)`` (or ``(P, S, S)``), one true-convolution kernel per patch in
          row-major grid order, or ``(1, 1, S, S)`` / ``(S, S)`` for one kernel everywhere.
        - output: ``(B, C, H − S + 1, W − S + 1)`` (``valid``) or ``(B, C, H, W)`` (``same``).

    Raises:
        ValueError: unknown mode, a kernel count other than 1 or ``P``, non-square or even-sided
            kernels, more patches than pixels.

    Example:
        >>> op = SVOLABlur((2, 3))
        >>> op.A(torch.rand(1, 1, 64, 80), torch.full((6, 1, 5, 5), 1 / 25)).shape
        torch.Size([1, 1, 60, 76])
    """

    def __init__(self, grid: tuple[int, int], mode: str = "valid") -> None:
        super().__init__()
        if mode not in ("valid", "same"):
            raise ValueError(f"mode must be 'valid' or 'same', got {mode!r}")
        if grid[0] < 1 or grid[1] < 1:
            raise ValueError(f"grid must be at least 1x1, got {grid}")
        self.grid = (int(grid[0]), int(grid[1]))
        self.mode = mode

    @property
    def num_patches(self) -> int:
        """``P = rows · cols``."""
        return self.grid[0] * self.grid[1]

    def _kernels(self, kernels: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        k = kernels
        if k.ndim == 2:
            k = k[None, None]
        elif k.ndim == 3:
            k = k[:, None]
        if k.ndim != 4 or k.shape[1] != 1:
            raise ValueError(f"kernels must be (P, 1, S, S), (P, S, S) or (S, S), got {tuple(kernels.shape)}")
        if k.shape[0] not in (1, self.num_patches):
            raise ValueError(f"{k.shape[0]} kernels for a {self.grid[0]}x{self.grid[1]} grid ({self.num_patches} patches)")
        S = k.shape[-1]
        if k.shape[-2] != S or S % 2 == 0:
            raise ValueError(f"kernels must be square with an odd side, got {tuple(k.shape[-2:])}")
        if k.shape[0] == 1:
            k = k.expand(self.num_patches, 1, S, S)
        return k.to(dtype=x.dtype, device=x.device)

    def A(self, x: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:  # noqa: N802 - field notation
        """Forward SVOLA blur of ``x`` (``(B, C, H, W)``) by one kernel per patch."""
        if x.ndim != 4:
            raise ValueError(f"x must be (B, C, H, W), got shape {tuple(x.shape)}")
        k = self._kernels(kernels, x)
        S = k.shape[-1]
        if self.mode == "same":
            x = F.pad(x, _pads(k), mode="reflect")
        B, C, H, W = x.shape
        if H < S or W < S:
            raise ValueError(f"image {H}×{W} is smaller than the {S}×{S} kernels")
        ay, ax = axis_grid(H, self.grid[0]), axis_grid(W, self.grid[1])
        wy = grid_windows_1d(ay, x.dtype).to(x.device)  # (R, Ty)
        wx = grid_windows_1d(ax, x.dtype).to(x.device)  # (Cg, Tx)
        e = S - 1  # the kernel's reach
        # Tile r starts (in x coordinates) at centre_r − spacing − e; the tiles are e + Ty + e long.
        top, left = ay.first - ay.spacing - e, ax.first - ax.spacing - e
        Ly, Lx = ay.tile + 2 * e, ax.tile + 2 * e
        span_y = (ay.count - 1) * ay.spacing + Ly
        span_x = (ax.count - 1) * ax.spacing + Lx
        pad = (-left, left + span_x - W, -top, top + span_y - H)  # ≥ 0 by construction
        xp = F.pad(x, pad)
        tiles = F.unfold(xp.reshape(B * C, 1, *xp.shape[-2:]), (Ly, Lx), stride=(ay.spacing, ax.spacing))
        P = self.num_patches
        tiles = tiles.reshape(B * C, Ly, Lx, P).permute(3, 0, 1, 2)  # (P, B·C, Ly, Lx)
        win = (wy[:, None, :, None] * wx[None, :, None, :]).reshape(P, 1, ay.tile, ax.tile)
        win = F.pad(win, (e, e, e, e))
        out = blur(tiles * win, k, mode="valid")  # (P, B·C, Ty + e, Tx + e); index j ↔ y at top + j
        Oy, Ox = out.shape[-2:]
        cols = out.permute(1, 2, 3, 0).reshape(B * C, Oy * Ox, P)
        oy = (ay.count - 1) * ay.spacing + Oy
        ox = (ax.count - 1) * ax.spacing + Ox
        canvas = F.fold(cols, (oy, ox), (Oy, Ox), stride=(ay.spacing, ax.spacing))  # overlap-add
        # canvas index j ↔ valid-output index top + j; keep [0, H − S + 1).
        y = canvas[..., -top : -top + H - S + 1, -left : -left + W - S + 1]
        return y.reshape(B, C, H - S + 1, W - S + 1)

    def A_adjoint(self, y: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:  # noqa: N802
        """Adjoint ``Aᵀy`` (``⟨A x, y⟩ = ⟨x, Aᵀ y⟩``): the vector-Jacobian product of :meth:`A`.

        Args:
            y: ``(B, C, Hy, Wy)`` in the range of :meth:`A`.
            kernels: as for :meth:`A`.

        Returns:
            ``(B, C, Hy + S − 1, Wy + S − 1)`` (``valid``) or ``(B, C, Hy, Wy)`` (``same``).
        """
        S = kernels.shape[-1]
        shape = (*y.shape[:2], *(n + S - 1 for n in y.shape[-2:])) if self.mode == "valid" else y.shape
        zero = torch.zeros(shape, dtype=y.dtype, device=y.device)
        k = kernels.detach()
        _, vjp = torch.func.vjp(lambda x: self.A(x, k), zero)
        return vjp(y)[0]

    def forward(self, x: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
        """Same as :meth:`A`."""
        return self.A(x, kernels)
