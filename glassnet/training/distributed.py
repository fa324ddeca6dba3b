"""Data-parallel training on ``torch.distributed`` (DDP): used by ``fit`` when the script runs under
``torchrun`` or a process group is already initialised.

Each process trains on its shard of every epoch (``DistributedSampler``, ``drop_last=True``, with
``set_epoch``), DDP averages the gradients, metrics are summed across processes so every rank
logs the same numbers, and evaluation splits the data without padding so no sample counts twice.
Only rank 0 prints and writes files.
"""
from __future__ import annotations

import datetime
import os

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler

from .data import ArrayData

__all__ = ["maybe_distribute", "distribute_eval", "is_distributed", "is_main_process", "all_reduce_sum",
           "rank", "world_size", "launched"]


def _initialised() -> bool:
    return dist.is_available() and dist.is_initialized()


def _init_from_env() -> bool:
    """Start the process group when launched by torchrun (WORLD_SIZE > 1) and none exists yet."""
    if _initialised():
        return True
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ and dist.is_available():
        backend = _backend()
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        timeout = datetime.timedelta(seconds=float(os.environ.get("GLASSNET_DIST_TIMEOUT", "600")))
        dist.init_process_group(backend, timeout=timeout)
        return True
    return False


def _backend() -> str:
    """NCCL when every process on this machine has a GPU of its own, else gloo (the same answer on every rank);
    ``GLASSNET_DIST_BACKEND`` overrides it."""
    chosen = os.environ.get("GLASSNET_DIST_BACKEND")
    if chosen:
        return chosen
    local = int(os.environ.get("LOCAL_WORLD_SIZE", os.environ.get("WORLD_SIZE", "1")))
    return "nccl" if torch.cuda.is_available() and torch.cuda.device_count() >= local else "gloo"


def launched() -> bool:
    """True under torchrun (or another launcher) with more than one process, before the group starts."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def rank() -> int:
    return dist.get_rank() if _initialised() else 0


def world_size() -> int:
    return dist.get_world_size() if _initialised() else 1


def is_main_process() -> bool:
    return rank() == 0


def is_distributed() -> bool:
    """True in a process group of more than one process (metrics are then summed across ranks)."""
    return _initialised() and world_size() > 1


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    backend = dist.get_backend()
    device = torch.device("cuda", torch.cuda.current_device()) if backend == "nccl" else torch.device("cpu")
    t = t.to(device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.cpu()


class _Shard:
    """Rank r takes samples r, r+W, r+2W… — every sample exactly once across ranks (for evaluation)."""

    def __init__(self, n: int, r: int, w: int):
        self.indices = list(range(r, n, w))

    def set_epoch(self, epoch: int) -> None:
        pass

    def __iter__(self):
        return iter(self.indices)

    def __len__(self):
        return len(self.indices)


def maybe_distribute(runner, data, val=None, existing=None):
    """The DDP wrapper of ``runner`` (a module whose forward runs the model) and sharded data when running
    data-parallel; None otherwise. An existing wrapper of the same model is reused."""
    if not _init_from_env() or world_size() == 1:
        return None
    ddp = existing
    if ddp is None:
        device_ids = [torch.cuda.current_device()] if dist.get_backend() == "nccl" else None
        ddp = DistributedDataParallel(runner, device_ids=device_ids)
    if isinstance(data, ArrayData):
        data.sampler = DistributedSampler(range(data.n), num_replicas=world_size(), rank=rank(),
                                          shuffle=data.shuffle, drop_last=True)
    distribute_eval(val)
    return ddp


def distribute_eval(data) -> None:
    if _init_from_env() and world_size() > 1 and isinstance(data, ArrayData):
        data.sampler = _Shard(data.n, rank(), world_size())
