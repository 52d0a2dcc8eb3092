"""Reading and writing images.

Conventions (used everywhere in deblurkit):

- In memory an image is a NumPy ``float32`` array of shape ``(H, W, C)`` with ``C = 1`` (gray) or
  ``C = 3`` (RGB order), intensities in ``[0, 1]``. :func:`image_to_tensor` turns it into the
  ``(1, C, H, W)`` tensor layout used by the physics and the solvers.
- Files: PNG, JPEG, TIFF, BMP (and anything else OpenCV decodes), 8- or 16-bit integer (TIFF may
  also hold 32-bit float), gray, gray+alpha, RGB or RGBA. Alpha is dropped with a
  :class:`~deblurkit.errors.DeblurkitWarning`. The EXIF orientation tag is honoured.
- Writes are atomic (:mod:`deblurkit.io.atomic`) and refuse to overwrite an input.

Decoding and encoding are OpenCV's (``cv2.imdecode`` / ``cv2.imencode``); the EXIF orientation tag
is read with Pillow, which reads only the file header for that.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from deblurkit.errors import DeblurkitError, DeblurkitWarning
from deblurkit.io.atomic import PathLike, atomic_write_bytes, check_not_input

#: File extensions accepted when a folder is scanned for images (lower case, with the dot).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")
#: Formats that can store 16 bits per channel.
_SIXTEEN_BIT_EXTENSIONS = (".png", ".tif", ".tiff")


@dataclass(frozen=True)
class ImageInfo:
    """What :func:`read_image` learnt about a file, so that outputs can match it.

    Attributes:
        bit_depth: 8 or 16 for integer files, 32 for floating-point TIFF.
        channels: channels in the file before alpha removal (1, 2, 3 or 4).
        had_alpha: whether an alpha channel was dropped.
        orientation: the EXIF orientation tag that was applied (1 = none).
    """

    bit_depth: int
    channels: int
    had_alpha: bool
    orientation: int = 1


#: Pillow modes of single-channel images (OpenCV expands gray+alpha PNGs to BGRA).
_GRAY_MODES = ("1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "F")


def _header(path: Path) -> tuple[int, bool]:
    """``(EXIF orientation tag 0x0112, is gray)`` from the file header; ``(1, False)`` if unreadable."""
    try:
        from PIL import Image

        with Image.open(path) as im:
            value = int(im.getexif().get(0x0112, 1))
            gray = im.mode in _GRAY_MODES
    except Exception:  # noqa: BLE001 - a header Pillow cannot read has no tag; OpenCV decides the rest
        return 1, False
    return (value if 1 <= value <= 8 else 1), gray


def apply_exif_orientation(img: np.ndarray, orientation: int) -> np.ndarray:
    """Turn a decoded image so that it displays upright.

    Args:
        img: array of shape ``(H, W)`` or ``(H, W, C)``, any dtype.
        orientation: EXIF orientation tag, 1..8 (EXIF 2.3 spec, tag 0x0112: 1 upright,
            2 mirrored, 3 rotated 180°, 4 flipped vertically, 5 transposed, 6 rotated 90° clockwise
            needed, 7 transversed, 8 rotated 90° counter-clockwise needed).

    Returns:
        The re-oriented array (a view when possible); ``(W, H, ...)`` for tags 5–8.

    Raises:
        ValueError: for a tag outside 1..8.
    """
    if orientation == 1:
        return img
    ops = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1, :],
        5: lambda a: np.swapaxes(a, 0, 1),
        6: lambda a: np.rot90(a, k=-1),
        7: lambda a: np.rot90(a, k=1)[::-1, ::-1],
        8: lambda a: np.rot90(a, k=1),
    }
    if orientation not in ops:
        raise ValueError(f"EXIF orientation must be 1..8, got {orientation}")
    return np.ascontiguousarray(ops[orientation](img))


def _check_readable(path: Path) -> bytes:
    if not path.exists():
        raise DeblurkitError(f"no such file: {path}")
    if path.is_dir():
        raise DeblurkitError(f"expected a file, got a folder: {path}")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DeblurkitError(f"cannot read {path}: {e.strerror or e}") from None
    if not data:
        raise DeblurkitError(f"empty file: {path}")
    return data


def decode_image_file(path: PathLike) -> tuple[np.ndarray, int, bool]:
    """Decode a file as stored: no channel handling, no orientation, no scaling.

    Args:
        path: image file.

    Returns:
        ``(raw, orientation, gray)``: the array OpenCV decodes with ``IMREAD_UNCHANGED`` (``(H, W)``
        or ``(H, W, C)`` in BGR(A) order, dtype ``uint8``, ``uint16`` or ``float32``), the file's
        EXIF orientation tag, and whether the header says the image is gray (with or without alpha).

    Raises:
        DeblurkitError: if the file is missing, empty, or not a decodable image.
    """
    path = Path(path)
    data = _check_readable(path)
    raw = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if raw is None or raw.size == 0:
        raise DeblurkitError(f"not a readable image (corrupt or unsupported format): {path}")
    return (raw, *_header(path))


def read_image(path: PathLike) -> tuple[np.ndarray, ImageInfo]:
    """Read an image file as float32 intensities in [0, 1].

    Args:
        path: PNG, JPEG, TIFF, BMP or WebP file; 8- or 16-bit integer or 32-bit float TIFF;
            gray, gray+alpha, RGB or RGBA.

    Returns:
        ``(image, info)``: ``image`` is ``float32`` of shape ``(H, W, 1)`` for gray files and
        ``(H, W, 3)`` (RGB order) otherwise, values in ``[0, 1]``, EXIF orientation applied;
        ``info`` is an :class:`ImageInfo` for writing outputs in the same bit depth.

    Raises:
        DeblurkitError: missing, empty, corrupt or non-image file, or an unsupported sample type.

    Warns:
        DeblurkitWarning: when an alpha channel is dropped.
    """
    path = Path(path)
    raw, orientation, gray = decode_image_file(path)
    if raw.dtype == np.uint8:
        bit_depth, scale = 8, 255.0
    elif raw.dtype == np.uint16:
        bit_depth, scale = 16, 65535.0
    elif raw.dtype == np.float32:
        bit_depth, scale = 32, 1.0
    else:
        raise DeblurkitError(f"unsupported sample type {raw.dtype} in {path} (use 8/16-bit integer or float32)")

    channels = 1 if raw.ndim == 2 else raw.shape[2]
    if raw.ndim == 2:
        img = raw[:, :, None]
    elif channels == 2 or (gray and channels == 4):  # gray + alpha (OpenCV may expand it to BGRA)
        img = raw[:, :, :1]
    elif channels in (3, 4):
        img = cv2.cvtColor(raw[:, :, :3], cv2.COLOR_BGR2RGB)
    else:
        raise DeblurkitError(f"unsupported channel count {channels} in {path}")
    had_alpha = channels in (2, 4)
    if had_alpha:
        warnings.warn(f"{path}: alpha channel dropped", DeblurkitWarning, stacklevel=2)

    img = apply_exif_orientation(img, orientation)
    out = img.astype(np.float32) / np.float32(scale)
    if bit_depth == 32:
        out = np.clip(np.nan_to_num(out, nan=0.0), 0.0, 1.0)
    return out, ImageInfo(bit_depth=bit_depth, channels=channels, had_alpha=had_alpha, orientation=orientation)


def encode_image(img: np.ndarray, ext: str, bit_depth: int = 8) -> bytes:
    """Encode an image to the bytes of a file of type ``ext``.

    Args:
        img: ``float32``/``float64`` array ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)`` (RGB), values in
            ``[0, 1]`` (clipped; NaN becomes 0).
        ext: file extension with the dot, e.g. ``".png"``.
        bit_depth: 8 or 16 (16 only for PNG and TIFF; other formats fall back to 8), or 32 for a
            float TIFF.

    Returns:
        The encoded file contents.

    Raises:
        DeblurkitError: for an unsupported shape, extension or bit depth.
    """
    ext = ext.lower()
    arr = np.asarray(img)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)):
        raise DeblurkitError(f"cannot write an image of shape {tuple(np.shape(img))}; expected (H, W, 1|3)")
    arr = np.clip(np.nan_to_num(arr.astype(np.float32), nan=0.0), 0.0, 1.0)
    if bit_depth == 32 and ext in (".tif", ".tiff"):
        data = arr
    elif bit_depth == 16 and ext in _SIXTEEN_BIT_EXTENSIONS:
        data = np.round(arr * 65535.0).astype(np.uint16)
    elif bit_depth in (8, 16, 32):
        data = np.round(arr * 255.0).astype(np.uint8)
    else:
        raise DeblurkitError(f"bit depth must be 8, 16 or 32, got {bit_depth}")
    if data.ndim == 3:
        data = cv2.cvtColor(data, cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if ext in (".jpg", ".jpeg") else []
    try:
        ok, buf = cv2.imencode(ext, data, params)
    except cv2.error:
        ok = False
    if not ok:
        raise DeblurkitError(f"cannot encode an image as {ext!r}")
    return buf.tobytes()


def write_image(
    path: PathLike, img: np.ndarray, bit_depth: int = 8, protect: Iterable[PathLike] = ()
) -> Path:
    """Write an image atomically, never over an input.

    Args:
        path: destination; the format follows the extension.
        img: ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)`` RGB array in ``[0, 1]``.
        bit_depth: 8 or 16 (use the input's :attr:`ImageInfo.bit_depth` to match it), 32 for float TIFF.
        protect: input paths that must not be overwritten.

    Returns:
        The written path.

    Raises:
        DeblurkitError: if ``path`` is an input, or the image cannot be encoded or written.
    """
    path = Path(path)
    check_not_input(path, protect)
    return atomic_write_bytes(path, encode_image(img, path.suffix, bit_depth), protect)


def image_to_tensor(img: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """``(H, W, C)`` array → ``(1, C, H, W)`` float32 tensor (values unchanged)."""
    arr = np.asarray(img, dtype=np.float32)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))[None].to(device)


def tensor_to_image(x: torch.Tensor) -> np.ndarray:
    """``(1, C, H, W)`` or ``(C, H, W)`` tensor → ``(H, W, C)`` float32 array (values unchanged)."""
    if x.ndim == 4:
        if x.shape[0] != 1:
            raise ValueError(f"expected a batch of one image, got shape {tuple(x.shape)}")
        x = x[0]
    return x.detach().to("cpu", torch.float32).permute(1, 2, 0).contiguous().numpy()
