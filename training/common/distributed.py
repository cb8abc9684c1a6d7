"""Process-group setup that works in-process (world size 1) and under torchrun (gloo on CPU)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistEnv:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_distributed() -> DistEnv:
    """Read torchrun's env vars; start a gloo (CPU) or nccl (CUDA) group when world size > 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    env = DistEnv(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))
    if env.distributed and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)
    return env


def shutdown(env: DistEnv) -> None:
    if env.distributed and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def mean_across_ranks(value: float, env: DistEnv) -> float:
    if not env.distributed:
        return value
    t = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(t)
    return float(t.item()) / env.world_size


@contextlib.contextmanager
def main_first(env: DistEnv) -> Iterator[None]:
    """Run the block on rank 0 first, then on the other ranks: for setup that writes files the
    others then read (a tokenizer trained into the run folder), so no rank reads a half-written
    file or writes over another's."""
    if env.distributed and not env.is_main:
        dist.barrier()
    try:
        yield
    finally:
        if env.distributed and env.is_main:
            dist.barrier()
