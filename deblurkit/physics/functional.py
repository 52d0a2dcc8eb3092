"""Functional core of the uniform blur operator ``y = k ⊛ x``.

Convention: **true convolution** (the kernel is flipped, as in ``scipy.signal.convolve2d``);
PyTorch's ``conv2d`` is cross-correlation, and a kernel estimated through it is the 180°-rotated
true kernel — convert with :func:`correlation_to_convolution`.

Boundary modes (``../shared/docs/reference-notes.md`` §1):

- ``"valid"``: no padding; ``(H, W) → (H − h + 1, W − w + 1)``. The DIP solvers use this: they
  generate ``x`` at ``(H + h − 1, W + w − 1)`` so that ``y`` has the observation's size.
- ``"same"``: reflect padding (``numpy.pad(mode="reflect")``, the edge sample not repeated), output
  ``(H, W)``; the kernel origin is the tap ``((h − 1) // 2, (w − 1) // 2)``, as in
  ``scipy.signal.convolve2d(mode="same")``.
- ``"circular"``: periodic padding, output ``(H, W)``, same origin
  (``scipy.signal.convolve2d(mode="same", boundary="wrap")``).

Every mode is "pad, then valid convolution", so one valid kernel (direct ``conv2d`` or FFT) serves
all three and the adjoint is "valid adjoint, then the adjoint of the padding".

Shapes (kornia style): images ``x`` are ``(B, C, H, W)``; kernels ``k`` are ``(h, w)``,
``(Bk, Ck, h, w)`` with ``Bk ∈ {1, B}`` and ``Ck ∈ {1, C}`` (broadcast over batch and channels).
Everything is differentiable in both ``x`` and ``k``.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

Mode = Literal["valid", "same", "circular"]
Method = Literal["auto", "direct", "fft"]
MODES: tuple[str, ...] = ("valid", "same", "circular")
METHODS: tuple[str, ...] = ("auto", "direct", "fft")

#: ``method="auto"`` uses the FFT when the kernel has at least this many taps (h·w); measured on
#: 2 CPU cores with ``make bench`` (see docs/benchmarks.md): with 5-smooth FFT sizes the FFT is
#: as fast or faster from 5×5 kernels up at every image size; tiny kernels stay on ``conv2d``.
FFT_MIN_TAPS = 5 * 5


def correlation_to_convolution(k: torch.Tensor) -> torch.Tensor:
    """Turn a cross-correlation kernel into the equivalent true-convolution kernel (and back).

    Args:
        k: ``(..., h, w)`` kernel.

    Returns:
        ``(..., h, w)``: ``k`` rotated by 180° (a flip of both spatial axes); the operation is its own inverse.
    """
    return torch.flip(k, dims=(-2, -1))


def _check(x: torch.Tensor, k: torch.Tensor, mode: str, method: str) -> torch.Tensor:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if x.ndim != 4:
        raise ValueError(f"x must be (B, C, H, W), got shape {tuple(x.shape)}")
    if k.ndim == 2:
        k = k[None, None]
    if k.ndim != 4:
        raise ValueError(f"kernel must be (h, w) or (B, C, h, w), got shape {tuple(k.shape)}")
    B, C = x.shape[:2]
    if k.shape[0] not in (1, B) or k.shape[1] not in (1, C):
        raise ValueError(f"kernel batch/channels {tuple(k.shape[:2])} do not broadcast to {(B, C)}")
    return k.to(dtype=x.dtype, device=x.device)


def _pads(k: torch.Tensor) -> tuple[int, int, int, int]:
    """``F.pad`` amounts (left, right, top, bottom) that make a valid convolution 'same'-sized."""
    h, w = k.shape[-2:]
    sh, sw = (h - 1) // 2, (w - 1) // 2
    return (w - 1 - sw, sw, h - 1 - sh, sh)


def _use_fft(k: torch.Tensor, method: str) -> bool:
    return method == "fft" or (method == "auto" and k.shape[-2] * k.shape[-1] >= FFT_MIN_TAPS)


def _valid_direct(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    B, C, H, W = x.shape
    h, w = k.shape[-2:]
    weight = correlation_to_convolution(k)
    if k.shape[0] == 1 and k.shape[1] == 1:
        y = F.conv2d(x.reshape(B * C, 1, H, W), weight)
    else:
        weight = weight.expand(B, C, h, w).reshape(B * C, 1, h, w)
        y = F.conv2d(x.reshape(1, B * C, H, W), weight, groups=B * C)
    return y.reshape(B, C, H - h + 1, W - w + 1)


def _valid_direct_adjoint(y: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    B, C, Hy, Wy = y.shape
    h, w = k.shape[-2:]
    weight = correlation_to_convolution(k)
    if k.shape[0] == 1 and k.shape[1] == 1:
        x = F.conv_transpose2d(y.reshape(B * C, 1, Hy, Wy), weight)
    else:
        weight = weight.expand(B, C, h, w).reshape(B * C, 1, h, w)
        x = F.conv_transpose2d(y.reshape(1, B * C, Hy, Wy), weight, groups=B * C)
    return x.reshape(B, C, Hy + h - 1, Wy + w - 1)


def fast_fft_size(n: int) -> int:
    """Smallest 5-smooth integer ``≥ n`` (a length whose FFT is fast: only factors 2, 3, 5)."""
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


def _valid_fft(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    # Circular convolution at a fast size N ≥ H (zero-padded); rows/cols h-1..H-1 never wrap around.
    H, W = x.shape[-2:]
    h, w = k.shape[-2:]
    size = (fast_fft_size(H), fast_fft_size(W))
    y = torch.fft.irfft2(torch.fft.rfft2(x, s=size) * torch.fft.rfft2(k, s=size), s=size)
    return y[..., h - 1 : H, w - 1 : W]


def _valid_fft_adjoint(y: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    # Adjoint of "zero-pad, circular convolution, crop": zero-embed, circular correlation, crop.
    Hy, Wy = y.shape[-2:]
    h, w = k.shape[-2:]
    H, W = Hy + h - 1, Wy + w - 1
    size = (fast_fft_size(H), fast_fft_size(W))
    embedded = F.pad(y, (w - 1, size[1] - W, h - 1, size[0] - H))
    x = torch.fft.irfft2(torch.fft.rfft2(embedded) * torch.fft.rfft2(k, s=size).conj(), s=size)
    return x[..., :H, :W]


def _pad_mode(mode: str) -> str:
    return {"same": "reflect", "circular": "circular"}[mode]


def blur(x: torch.Tensor, k: torch.Tensor, mode: Mode = "same", method: Method = "auto") -> torch.Tensor:
    """Uniform blur ``y = k ⊛ x`` (true convolution), GLKM Eq. (1) without the noise.

    Args:
        x: ``(B, C, H, W)`` float image, any range (usually ``[0, 1]`` intensities).
        k: ``(h, w)`` or ``(Bk, Ck, h, w)`` kernel, ``Bk ∈ {1, B}``, ``Ck ∈ {1, C}``; not
            normalised here (pass a kernel that sums to 1 to keep intensities).
        mode: ``"valid"``, ``"same"`` (reflect padding) or ``"circular"`` (see module doc).
        method: ``"direct"`` (``conv2d``), ``"fft"``, or ``"auto"`` (FFT for kernels with at
            least :data:`FFT_MIN_TAPS` taps). Both give the same result up to float rounding.

    Returns:
        ``(B, C, H − h + 1, W − w + 1)`` for ``"valid"``, else ``(B, C, H, W)``.

    Raises:
        ValueError: bad mode/method, shapes that do not broadcast, or (``"same"``) a kernel larger
            than the image allows for reflect padding (``h − 1 − (h − 1)//2 < H``).

    Example:
        >>> x = torch.rand(2, 3, 32, 32); k = torch.ones(5, 5) / 25
        >>> blur(x, k, mode="valid").shape
        torch.Size([2, 3, 28, 28])
    """
    k = _check(x, k, mode, method)
    if mode != "valid":
        x = F.pad(x, _pads(k), mode=_pad_mode(mode))
    return _valid_fft(x, k) if _use_fft(k, method) else _valid_direct(x, k)


def blur_adjoint(y: torch.Tensor, k: torch.Tensor, mode: Mode = "same", method: Method = "auto") -> torch.Tensor:
    """Adjoint ``Aᵀy`` of :func:`blur` with the same kernel and mode: ``⟨A x, y⟩ = ⟨x, Aᵀ y⟩``.

    For ``"valid"`` this is the full cross-correlation with ``k``; for ``"same"``/``"circular"`` it
    is followed by the adjoint of the padding (border samples folded back; computed as the
    vector-Jacobian product of ``F.pad``, exact because padding is linear).

    Args:
        y: ``(B, C, Hy, Wy)`` tensor in the range of :func:`blur`.
        k: kernel as in :func:`blur`.
        mode: as in :func:`blur`.
        method: as in :func:`blur`.

    Returns:
        ``(B, C, Hy + h − 1, Wy + w − 1)`` for ``"valid"``, else ``(B, C, Hy, Wy)``.

    Raises:
        ValueError: as in :func:`blur`.
    """
    k = _check(y, k, mode, method)
    x = _valid_fft_adjoint(y, k) if _use_fft(k, method) else _valid_direct_adjoint(y, k)
    if mode == "valid":
        return x
    pads, pad_mode = _pads(k), _pad_mode(mode)
    zero = torch.zeros_like(y)
    _, pad_vjp = torch.func.vjp(lambda z: F.pad(z, pads, mode=pad_mode), zero)
    return pad_vjp(x)[0]


def centre_crop(t: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """The centred ``h × w`` region of ``t`` ``(..., H, W)`` (a view; ``h ≤ H``, ``w ≤ W``).

    For ``H = h + S − 1`` with odd ``S`` it removes the ``(S − 1) / 2`` pixels that a valid
    convolution by an ``S × S`` kernel consumes on each side.
    """
    dh, dw = (t.shape[-2] - h) // 2, (t.shape[-1] - w) // 2
    return t[..., dh : dh + h, dw : dw + w]
