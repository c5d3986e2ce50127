"""Data-parallel training on several processes and machines, on torch.distributed.

Under ``torchrun`` (its ``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``)
every rank draws the same global batch from the same seeded generator and takes its own slice of
it; the step's model is an ``nn.Module`` wrapped in ``DistributedDataParallel``, which averages the
slices' gradients, so each rank applies the global batch's gradient and the ranks' weights stay
equal (``backprop.data_parallel``, which needs torch; this module does not).  gloo on the CPU,
nccl on CUDA.  Rank 0 alone writes files and prints progress; the others read and compute.
"""
from __future__ import annotations

import faulthandler
import io
import os
from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (one process: size 1, rank 0)."""

    size: int = 1
    rank: int = 0
    local_rank: int = 0
    device: str = "cpu"

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def verdict(self, error: str | None) -> None:
        """Rank 0's check of the run folder, shared: every rank stops with it, or none does."""
        if not self.distributed:
            if error:
                raise ValueError(error)
            return
        import torch.distributed as dist

        message = [error]
        dist.broadcast_object_list(message, src=0)
        if message[0]:
            raise ValueError(message[0] if self.main else f"rank 0 refused the run: {message[0]}")

    def any(self, flag: bool) -> bool:
        """True on every rank when it is true on one (a Ctrl-C seen by any rank stops them all at one step)."""
        if not self.distributed:
            return flag
        import torch
        import torch.distributed as dist

        value = torch.tensor([1.0 if flag else 0.0], device=self.device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

    def mean(self, value):
        """The mean over the ranks of a 0-d tensor (the loss of each rank's equal slice)."""
        if not self.distributed:
            return value
        import torch.distributed as dist

        total = value.detach().clone()
        dist.all_reduce(total)
        return total / self.size

    def close(self) -> None:
        """Leave the process group together: every rank waits at a barrier (rank 0 may still be writing
        the run's files) before any tears its connections down, so no rank's transport sees a peer vanish
        mid-exchange.  A barrier that fails (a peer already gone) is not this rank's error to report."""
        if self.distributed:
            import torch.distributed as dist

            if dist.is_initialized():
                try:
                    dist.barrier()
                except RuntimeError:  # DistError and the transports' errors: the run has ended either way
                    pass
                dist.destroy_process_group()


def resolve_device(flag: str | None, local_rank: int = 0, distributed: bool = False) -> str:
    """``--device``: cpu (the default), cuda (under torchrun each rank its local GPU) or cuda:N."""
    device = flag or "cpu"
    if device == "cpu":
        return device
    if not (device == "cuda" or (device.startswith("cuda:") and device[5:].isdigit())):
        raise ValueError(f"--device {device}: expected cpu, cuda or cuda:N")
    import torch

    if not torch.cuda.is_available():
        raise ValueError(f"--device {device}: this machine has no CUDA device torch can use")
    if device == "cuda":
        device = f"cuda:{local_rank if distributed else torch.cuda.current_device()}"
    if int(device[5:]) >= torch.cuda.device_count():
        raise ValueError(f"--device {device}: there are {torch.cuda.device_count()} CUDA devices")
    return device


def join(device_flag: str | None, timeout_s: float = 120.0) -> World:
    """This process's world, joined under torchrun (the environment says) before any work; in one line
    when it cannot be."""
    try:
        size, rank, local_rank = (int(os.environ.get(k, default)) for k, default in
                                  (("WORLD_SIZE", "1"), ("RANK", "0"), ("LOCAL_RANK", "0")))
    except ValueError:
        raise ValueError("WORLD_SIZE, RANK and LOCAL_RANK must be whole numbers (torchrun sets them)") from None
    if size < 1 or not 0 <= rank < size:
        raise ValueError(f"WORLD_SIZE {size} and RANK {rank} do not describe a process of the run")
    device = resolve_device(device_flag, local_rank, size > 1)
    if size == 1:
        return World(1, 0, 0, device)
    import torch
    import torch.distributed as dist

    if device.startswith("cuda"):
        torch.cuda.set_device(torch.device(device))
    _say_where_a_fatal_signal_struck()
    where = f"{os.environ.get('MASTER_ADDR', '?')}:{os.environ.get('MASTER_PORT', '?')}"
    try:
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo", rank=rank, world_size=size,
                                timeout=timedelta(seconds=timeout_s))
    except (RuntimeError, ValueError, OSError) as e:  # DistNetworkError and DistStoreError are RuntimeErrors
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"rank {rank} of {size} could not join the process group at {where}: {reason}") from None
    return World(size, rank, local_rank, device)


def _say_where_a_fatal_signal_struck() -> None:
    """A rank that dies on a signal (an abort in a transport's thread) prints its Python stacks to its own
    stderr, before torchrun's summary, which names only the signal."""
    if faulthandler.is_enabled():
        return
    try:
        faulthandler.enable()
    except (AttributeError, ValueError, io.UnsupportedOperation):  # a stderr with no file behind it
        pass


def check_run(world: World, backend: str, batch: int) -> None:
    """What a run on this world needs, refused before training (every rank refuses alike)."""
    from .models import NUMBA_MISSING, numba_installed

    if backend == "numba" and not numba_installed():
        raise ValueError(f"--backend numba {NUMBA_MISSING}")
    if world.device != "cpu" and backend in ("numpy", "numba"):
        raise ValueError(f"--device {world.device}: the NumPy backend runs on the CPU; use --backend torch or autograd")
    if world.distributed and backend in ("numpy", "numba"):
        raise ValueError(f"--backend {backend} trains in one process, not {world.size}: under torchrun use --backend "
                         "torch (the generated Torch step) or autograd")
    if batch % world.size:
        raise ValueError(f"--batch {batch} (the global batch) cannot be shared evenly by {world.size} processes; "
                         f"give a multiple of {world.size}")
