"""Atomic, input-preserving file writes.

Outputs are written to a temporary file in the destination folder and moved into place with
:func:`os.replace`, so a crash or a full disk never leaves a half-written output, and readers never
see one. A write whose destination is one of the inputs is refused.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from deblurkit.errors import DeblurkitError

PathLike = str | os.PathLike


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_not_input(dest: PathLike, protect: Iterable[PathLike] = ()) -> None:
    """Refuse to write over an input file.

    Args:
        dest: the path about to be written.
        protect: paths of the inputs of the current job.

    Raises:
        DeblurkitError: if ``dest`` is (a link to) one of ``protect``.
    """
    dest = Path(dest)
    for p in protect:
        p = Path(p)
        if dest.resolve() == p.resolve() or _same_file(dest, p):
            raise DeblurkitError(f"refusing to overwrite the input file {p}")


def _default_mode() -> int:
    """Permission bits a newly created file gets under the current umask (``mkstemp`` uses 0600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_bytes(dest: PathLike, data: bytes, protect: Iterable[PathLike] = ()) -> Path:
    """Write ``data`` to ``dest`` atomically (temporary file in the same folder, then rename).

    The destination folder is created if needed.

    Args:
        dest: destination path.
        data: the complete file contents.
        protect: input paths that must never be overwritten.

    Returns:
        The destination path.

    Raises:
        DeblurkitError: if ``dest`` is an input, or the folder cannot be created or written.
    """
    dest = Path(dest)
    check_not_input(dest, protect)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    except OSError as e:
        raise DeblurkitError(f"cannot write {dest}: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _default_mode())
        os.replace(tmp, dest)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise DeblurkitError(f"cannot write {dest}: {e.strerror or e}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest
