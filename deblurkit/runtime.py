"""Run-time conventions shared by every engine: devices and seeding."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

from deblurkit.errors import DeblurkitError

DEVICES = ("auto", "cpu", "cuda")
_GLOBAL_RNG_LOCK = threading.Lock()


def resolve_device(name: str = "auto") -> torch.device:
    """Turn ``auto | cpu | cuda[:N]`` into a :class:`torch.device`.

    ``auto`` picks CUDA when available, else the CPU. Under ``torchrun`` the caller passes
    ``cuda:LOCAL_RANK``.

    Raises:
        DeblurkitError: unknown name, or CUDA asked for but not available.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise DeblurkitError("--device cuda was asked for but no CUDA device is available")
        return torch.device(name)
    raise DeblurkitError(f"unknown device {name!r}; use auto, cpu or cuda")


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA) and return a CPU ``torch.Generator`` with that seed.

    Args:
        seed: any integer ``0 ≤ seed < 2**63``.

    Raises:
        DeblurkitError: for a negative seed.
    """
    if seed < 0:
        raise DeblurkitError(f"seed must be non-negative, got {seed}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


@contextmanager
def seeded_global_rng(seed: int) -> Iterator[None]:
    """Seed torch's global CPU RNG for the block and restore it afterwards, holding a lock.

    For code that draws from the global RNG and cannot take a generator (``nn.Module``
    initialisation): under the lock, estimates running in concurrent threads
    (:func:`deblurkit.solvers.deblur.deblur_image` with ``workers > 1``) cannot interleave their
    draws, so each stays deterministic. The block must not wait on another thread that needs it.

    Args:
        seed: ``0 ≤ seed < 2**63``.
    """
    with _GLOBAL_RNG_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield
