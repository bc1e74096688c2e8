"""Multi-process data parallelism: `torchrun --nproc_per_node=N -m lmvid_lib.train ...` sets WORLD_SIZE/RANK/LOCAL_RANK.

Every rank draws the same global batch (same sampler seed, same augmentation generator) and trains on its own slice,
so N processes with batch B each follow the same trajectory as one process with batch N*B (up to float summation
order): DistributedDataParallel averages the gradients of equal slices, which equals the gradient of the global mean.
With `TrainConfig.accumulate` = A the global batch is A micro-batches of N*B rows, each sliced the same way, and DDP
all-reduces once per optimizer step, after the last micro-batch; the global batch is B * N * A.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def mean(self, values: dict[str, float], device: torch.device) -> dict[str, float]:
        """Average scalar metrics over ranks (each rank saw an equal slice of the global batch)."""
        if not self.enabled or not values:
            return values
        keys = sorted(values)
        t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=device)
        dist.all_reduce(t)
        return {k: float(v) / self.world_size for k, v in zip(keys, t.tolist())}

    def slice(self, batch_size: int) -> slice:
        """This rank's rows of a global batch of `batch_size * world_size` rows."""
        return slice(self.rank * batch_size, (self.rank + 1) * batch_size)


def resolve_device(device: str, ctx: DistContext) -> torch.device:
    """The torch device for `device` ('cpu', 'cuda', 'cuda:1', 'mps').

    Under torchrun each rank takes its LOCAL_RANK GPU.

    Raises ValueError naming the parameter when the device does not exist here.
    """
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"device: {device!r} is not a torch device ({exc})") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device: {device!r} requested but CUDA is not available here; use device: cpu")
        if ctx.enabled:
            dev = torch.device("cuda", ctx.local_rank)
        if (dev.index or 0) >= torch.cuda.device_count():
            raise ValueError(f"device: {dev} does not exist ({torch.cuda.device_count()} GPUs)")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device: {device!r} requested but MPS is not available here")
    return dev


def init_distributed(device: str) -> tuple[DistContext, torch.device]:
    """Join the process group when launched by torchrun (gloo on CPU, nccl on CUDA); a no-op for one process."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistContext(), resolve_device(device, DistContext())
    ctx = DistContext(int(os.environ["RANK"]), world_size, int(os.environ.get("LOCAL_RANK", "0")))
    dev = resolve_device(device, ctx)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    return ctx, dev


def shutdown_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
