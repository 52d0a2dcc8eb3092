"""Reading and writing blur kernels (PSFs).

In memory a kernel is a NumPy ``float32`` array of shape ``(h, w)``, non-negative, summing to 1,
in the *true convolution* orientation used by :mod:`deblurkit.physics` (``y = k ⊛ x``).

Files:

- ``.png`` (or any image OpenCV reads), any bit depth; colour kernels are collapsed to one channel
  by averaging; the values are normalised to sum 1. Written PNGs are scaled so the peak is white
  (for viewing only: the scale is lost).
- ``.npy``: one ``(h, w)`` array, written exactly.
- ``.npz``: key ``kernel`` (``(h, w)``) or ``kernels`` (``(N, h, w)``; pick one with ``index``), or a
  single array under any name.
"""

from __future__ import annotations

import io as _io
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from deblurkit.errors import DeblurkitError
from deblurkit.io.atomic import PathLike, atomic_write_bytes
from deblurkit.io.images import decode_image_file, encode_image


def normalize_kernel(k: np.ndarray, source: str = "kernel") -> np.ndarray:
    """Clip a kernel at 0 and scale it to sum 1.

    Args:
        k: ``(h, w)`` array, any real dtype.
        source: name used in error messages.

    Returns:
        ``(h, w)`` float32, non-negative, sum 1.

    Raises:
        DeblurkitError: if ``k`` is not 2-D, not finite, or has no positive entry.
    """
    k = np.asarray(k, dtype=np.float64)
    if k.ndim != 2 or min(k.shape) < 1:
        raise DeblurkitError(f"{source}: a kernel must be a 2-D array, got shape {k.shape}")
    if not np.all(np.isfinite(k)):
        raise DeblurkitError(f"{source}: kernel contains NaN or infinite values")
    k = np.clip(k, 0.0, None)
    total = k.sum()
    if total <= 0:
        raise DeblurkitError(f"{source}: kernel is empty (no positive value)")
    return (k / total).astype(np.float32)


def _load_npz(path: Path, index: int | None) -> np.ndarray:
    try:
        with np.load(path, allow_pickle=False) as z:
            keys = list(z.keys())
            if "kernel" in keys:
                arr = z["kernel"]
            elif "kernels" in keys:
                arr = z["kernels"]
            elif len(keys) == 1:
                arr = z[keys[0]]
            else:
                raise DeblurkitError(f"{path}: expected a 'kernel' or 'kernels' array, found {keys}")
    except (OSError, ValueError) as e:
        raise DeblurkitError(f"not a readable .npz file: {path} ({e})") from None
    return arr


def read_kernel(path: PathLike, index: int | None = None) -> np.ndarray:
    """Read a kernel file and normalise it to sum 1.

    Args:
        path: ``.png``/image, ``.npy`` or ``.npz`` file (see module doc).
        index: which kernel of an ``(N, h, w)`` stack to take (required when ``N > 1``).

    Returns:
        ``(h, w)`` float32, non-negative, sum 1.

    Raises:
        DeblurkitError: missing/corrupt file, wrong shape, empty kernel, or a bad ``index``.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".npy", ".npz"):
        if not path.is_file():
            raise DeblurkitError(f"no such file: {path}")
        if suffix == ".npy":
            try:
                arr = np.load(path, allow_pickle=False)
            except (OSError, ValueError) as e:
                raise DeblurkitError(f"not a readable .npy file: {path} ({e})") from None
        else:
            arr = _load_npz(path, index)
    else:
        raw, _, _ = decode_image_file(path)
        arr = raw.astype(np.float64)
        if arr.ndim == 3:
            arr = arr[:, :, : 3 if arr.shape[2] >= 3 else 1].mean(axis=2)
    arr = np.asarray(arr)
    if arr.ndim == 3:
        if index is None:
            if arr.shape[0] != 1:
                raise DeblurkitError(f"{path} holds {arr.shape[0]} kernels; choose one with an index")
            index = 0
        if not -arr.shape[0] <= index < arr.shape[0]:
            raise DeblurkitError(f"{path}: kernel index {index} out of range 0..{arr.shape[0] - 1}")
        arr = arr[index]
    return normalize_kernel(arr, source=str(path))


def write_kernel(path: PathLike, k: np.ndarray, protect: Iterable[PathLike] = ()) -> Path:
    """Write a kernel atomically: ``.npy`` exactly, an image format scaled to its peak for viewing.

    Args:
        path: destination; ``.npy`` or an image extension (``.png`` recommended, written 16-bit).
        k: ``(h, w)`` non-negative array.
        protect: input paths that must not be overwritten.

    Returns:
        The written path.

    Raises:
        DeblurkitError: wrong shape, empty kernel, or write failure.
    """
    path = Path(path)
    k = np.asarray(k, dtype=np.float32)
    if k.ndim != 2:
        raise DeblurkitError(f"a kernel must be 2-D, got shape {k.shape}")
    if path.suffix.lower() == ".npy":
        buf = _io.BytesIO()
        np.save(buf, k)
        return atomic_write_bytes(path, buf.getvalue(), protect)
    peak = float(k.max())
    if not peak > 0:
        raise DeblurkitError("cannot draw an empty kernel")
    return atomic_write_bytes(path, encode_image(np.clip(k, 0, None) / peak, path.suffix, 16), protect)


def write_kernel_set(path: PathLike, kernels: np.ndarray, info: dict, protect: Iterable[PathLike] = ()) -> Path:
    """Write a synthesised kernel set as a compressed ``.npz`` atomically.

    Layout: ``kernels`` — ``(N, S, S)`` float32; ``config`` — the generation settings as a JSON
    string (0-d unicode array, so loading needs no pickle); every other entry of ``info`` that is an
    ``(N,)`` array (per-kernel parameters such as ``length``) under its own key.

    Args:
        path: destination ``.npz``.
        kernels: ``(N, S, S)`` kernels.
        info: ``{"config": dict, name: (N,) array, ...}`` as returned by
            :func:`deblurkit.kernels.synthesize_kernels`.
        protect: input paths that must not be overwritten.

    Returns:
        The written path.

    Raises:
        DeblurkitError: wrong shape or write failure.
    """
    import json

    kernels = np.asarray(kernels, dtype=np.float32)
    if kernels.ndim != 3:
        raise DeblurkitError(f"a kernel set must be (N, S, S), got shape {kernels.shape}")
    arrays = {k: np.asarray(v) for k, v in info.items() if k != "config"}
    buf = _io.BytesIO()
    np.savez_compressed(buf, kernels=kernels, config=np.array(json.dumps(info.get("config", {}))), **arrays)
    return atomic_write_bytes(path, buf.getvalue(), protect)


def read_kernel_set(path: PathLike) -> tuple[np.ndarray, dict]:
    """Read a kernel set written by :func:`write_kernel_set` (or any ``.npz`` with ``kernels``).

    Args:
        path: ``.npz`` file with an ``(N, h, w)`` array under ``kernels``.

    Returns:
        ``(kernels, config)``: ``(N, h, w)`` float32 kernels, each renormalised to sum 1, and the
        generation settings (``{}`` when absent).

    Raises:
        DeblurkitError: missing or unreadable file, no ``kernels`` array, wrong shape, or an empty kernel.
    """
    import json

    path = Path(path)
    if not path.is_file():
        raise DeblurkitError(f"no such file: {path}")
    try:
        with np.load(path, allow_pickle=False) as z:
            if "kernels" not in z:
                raise DeblurkitError(f"{path}: no 'kernels' array (found {list(z.keys())})")
            kernels = z["kernels"].astype(np.float64)
            config = json.loads(str(z["config"])) if "config" in z else {}
    except (OSError, ValueError) as e:
        raise DeblurkitError(f"not a readable .npz file: {path} ({e})") from None
    if kernels.ndim != 3 or kernels.shape[0] == 0:
        raise DeblurkitError(f"{path}: 'kernels' must be (N, h, w) with N ≥ 1, got {kernels.shape}")
    if not np.all(np.isfinite(kernels)):
        raise DeblurkitError(f"{path}: kernels contain NaN or infinite values")
    kernels = np.clip(kernels, 0, None)
    sums = kernels.sum(axis=(1, 2), keepdims=True)
    if np.any(sums <= 0):
        raise DeblurkitError(f"{path}: kernel {int(np.argmin(sums.ravel()))} is empty")
    return (kernels / sums).astype(np.float32), config
