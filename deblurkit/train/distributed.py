"""Single-process or ``torchrun`` multi-process training set-up, shared by every trainer.

Under ``torchrun`` (which sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and
``MASTER_PORT``) :func:`setup_distributed` joins the process group — NCCL on CUDA, gloo on the CPU —
and pins each process to ``cuda:LOCAL_RANK`` when it computes on a GPU. Everything else in a
trainer is the same code for one or many processes: wrap models with :func:`wrap_ddp` (a no-op
when not distributed), shard data with :func:`make_sampler`, average scalars with
:func:`mean_across`, and let only :attr:`DistInfo.is_main` write files.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sized
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DistributedSampler

from deblurkit.errors import DeblurkitError
from deblurkit.runtime import resolve_device


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands.

    Attributes:
        rank: global rank ``0 ≤ rank < world_size``.
        world_size: number of processes (1 without ``torchrun``).
        local_rank: rank on this node (selects the GPU).
        device: the device this process computes on.
        enabled: whether a process group is active.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    enabled: bool = False

    @property
    def is_main(self) -> bool:
        """True on rank 0, the only process that writes files and prints progress."""
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        raise DeblurkitError(f"environment variable {name} must be an integer, got {os.environ[name]!r}") from None


def setup_distributed(device: str = "auto") -> DistInfo:
    """Resolve the device and, under ``torchrun`` with ``WORLD_SIZE > 1``, join the process group.

    Args:
        device: ``auto | cpu | cuda`` (``--device``). Under ``torchrun`` on CUDA each process uses
            ``cuda:LOCAL_RANK``.

    Returns:
        The :class:`DistInfo` of this process.

    Raises:
        DeblurkitError: CUDA asked for but missing, fewer GPUs than local processes, or a
            process group that cannot be initialised.
    """
    world = _env_int("WORLD_SIZE", 1)
    if world <= 1:
        return DistInfo(device=resolve_device(device))
    rank, local_rank = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    dev = resolve_device(device)
    if dev.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise DeblurkitError(f"local rank {local_rank} has no GPU ({torch.cuda.device_count()} visible)")
        dev = torch.device("cuda", local_rank)
        torch.cuda.set_device(dev)
        backend = "nccl"
    else:
        backend = "gloo"
    if not dist.is_initialized():
        try:
            dist.init_process_group(backend=backend, init_method="env://", rank=rank, world_size=world)
        except (RuntimeError, ValueError) as e:
            raise DeblurkitError(f"cannot join the torchrun process group ({backend}): {e}") from None
    return DistInfo(rank=rank, world_size=world, local_rank=local_rank, device=dev, enabled=True)


def teardown_distributed() -> None:
    """Leave the process group if one is active (safe to call always)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


@contextmanager
def distributed(device: str = "auto") -> Iterator[DistInfo]:
    """``with distributed("auto") as info:`` — :func:`setup_distributed` … :func:`teardown_distributed`."""
    info = setup_distributed(device)
    try:
        yield info
    finally:
        teardown_distributed()


def wrap_ddp(model: nn.Module, info: DistInfo) -> nn.Module:
    """Wrap ``model`` in :class:`~torch.nn.parallel.DistributedDataParallel` when distributed.

    Buffers (BatchNorm statistics) are not broadcast at every forward (``broadcast_buffers=False``):
    GAN steps call the discriminator several times per backward, and in-place buffer broadcasts
    would break autograd. Each rank keeps its own running statistics; save rank 0's.

    Returns:
        The wrapped model, or ``model`` itself when not distributed. Reach the plain module with
        :func:`unwrap`.
    """
    if not info.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel as DDP

    ids = [info.device.index] if info.device.type == "cuda" else None
    return DDP(model, device_ids=ids, broadcast_buffers=False)


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module inside a DDP wrapper (or ``model`` itself)."""
    return model.module if hasattr(model, "module") else model


def make_sampler(data: Sized, info: DistInfo, seed: int, shuffle: bool = True) -> DistributedSampler:
    """A :class:`~torch.utils.data.DistributedSampler` over ``range(len(data))`` for this rank.

    Works without a process group too (``num_replicas=1``). Drops the tail so every rank gets the
    same number of indices; call ``set_epoch(e)`` before each epoch for a new shuffle.
    """
    return DistributedSampler(
        data, num_replicas=info.world_size, rank=info.rank, shuffle=shuffle, seed=seed, drop_last=True
    )


def mean_across(values: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Average a tensor over all ranks (identity when not distributed)."""
    if not info.enabled:
        return values
    out = values.detach().clone().to(info.device)
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out / info.world_size


def barrier(info: DistInfo) -> None:
    """Wait for every rank (no-op when not distributed)."""
    if info.enabled:
        dist.barrier()
