"""A data order that survives a kill: seeded per-epoch shuffles, sharded by rank, with a cursor.

The whole order is a function of (seed, epoch), so the sampler's state is just (epoch, cursor):
saving it in a checkpoint and restoring it continues with exactly the next sample.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch


class ResumableSampler:
    def __init__(self, size: int, seed: int = 0, rank: int = 0, world_size: int = 1, shuffle: bool = True):
        if size < 1:
            raise ValueError("dataset is empty")
        self.size, self.seed, self.rank, self.world = size, seed, rank, world_size
        self.shuffle = shuffle
        self.epoch = 0
        self.cursor = 0  # position within this rank's shard of the current epoch

    def _order(self, epoch: int) -> list[int]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            order = torch.randperm(self.size, generator=g).tolist()
        else:
            order = list(range(self.size))
        # pad so every rank gets the same count (DDP needs equal steps), then shard
        per_rank = -(-self.size // self.world)
        order = (order * (1 + per_rank * self.world // self.size))[: per_rank * self.world]
        return order[self.rank :: self.world]

    def next_indices(self, n: int) -> list[int]:
        """The next n indices of this rank's stream (crossing epochs as needed)."""
        out: list[int] = []
        while len(out) < n:
            shard = self._order(self.epoch)
            take = shard[self.cursor : self.cursor + n - len(out)]
            out.extend(take)
            self.cursor += len(take)
            if self.cursor >= len(shard):
                self.epoch, self.cursor = self.epoch + 1, 0
        return out

    def __iter__(self) -> Iterator[int]:
        while True:
            yield self.next_indices(1)[0]

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "cursor": self.cursor, "seed": self.seed, "size": self.size,
                "world_size": self.world}

    def load_state_dict(self, state: dict) -> None:
        if (state["size"], state["seed"], state["world_size"]) != (self.size, self.seed, self.world):
            raise ValueError(f"sampler state is for size={state['size']} seed={state['seed']} "
                             f"world_size={state['world_size']}, not size={self.size} seed={self.seed} "
                             f"world_size={self.world}")
        self.epoch, self.cursor = state["epoch"], state["cursor"]


class BucketSampler:
    """Batches drawn from one bucket at a time (items of a batch must share a shape).

    Each call picks a bucket with probability proportional to its size, from a generator seeded
    by (seed, call count), then takes the next indices of that bucket's own ResumableSampler.
    Indices are global: bucket b's local index i is offsets[b] + i. State = call count + each
    bucket's cursor, so resume is exact.
    """

    def __init__(self, sizes: list[int], seed: int = 0, rank: int = 0, world_size: int = 1):
        if not sizes or min(sizes) < 1:
            raise ValueError(f"every bucket needs at least one item, got sizes {sizes}")
        self.sizes, self.seed = list(sizes), seed
        self.offsets = [sum(sizes[:b]) for b in range(len(sizes))]
        self.samplers = [ResumableSampler(n, seed=seed + b, rank=rank, world_size=world_size)
                         for b, n in enumerate(sizes)]
        self.calls = 0

    def next_indices(self, n: int) -> list[int]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.calls)
        bucket = int(torch.multinomial(torch.tensor(self.sizes, dtype=torch.float), 1, generator=g))
        self.calls += 1
        return [self.offsets[bucket] + i for i in self.samplers[bucket].next_indices(n)]

    def state_dict(self) -> dict:
        return {"calls": self.calls, "sizes": self.sizes, "buckets": [s.state_dict() for s in self.samplers]}

    def load_state_dict(self, state: dict) -> None:
        if state["sizes"] != self.sizes:
            raise ValueError(f"sampler state is for buckets of sizes {state['sizes']}, not {self.sizes}")
        self.calls = state["calls"]
        for sampler, s in zip(self.samplers, state["buckets"], strict=True):
            sampler.load_state_dict(s)
