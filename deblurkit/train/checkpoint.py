"""Training checkpoints: one ``.pt`` file, written atomically, resumable.

A checkpoint is a dict of plain Python values and tensors (model and optimiser ``state_dict``s,
counters, the trainer's config). It is written with :func:`torch.save` into memory and moved into
place atomically (:func:`deblurkit.io.atomic_write_bytes`), so an interrupted run never leaves a
half-written checkpoint; it is read back with ``weights_only=True`` (no pickled code runs).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path

import torch

from deblurkit.errors import DeblurkitError
from deblurkit.io.atomic import PathLike, atomic_write_bytes


def save_checkpoint(path: PathLike, state: dict, protect: Iterable[PathLike] = ()) -> Path:
    """Write ``state`` to ``path`` atomically.

    Args:
        path: destination (``.pt``); folders are created.
        state: tensors, ``state_dict``s, numbers, strings, lists, dicts.
        protect: input paths that must not be overwritten.

    Raises:
        DeblurkitError: if the file cannot be written or is an input.
    """
    buf = io.BytesIO()
    torch.save(state, buf)
    return atomic_write_bytes(path, buf.getvalue(), protect)


def load_checkpoint(path: PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Raises:
        DeblurkitError: missing or corrupt file.
    """
    path = Path(path)
    if not path.is_file():
        raise DeblurkitError(f"no checkpoint to resume from: {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many types for corrupt files
        raise DeblurkitError(f"{path}: corrupt checkpoint ({type(e).__name__}: {e})") from None
    if not isinstance(state, dict):
        raise DeblurkitError(f"{path}: not a deblurkit checkpoint")
    return state
