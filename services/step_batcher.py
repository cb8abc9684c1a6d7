"""Dynamic batching of denoiser steps across concurrent tasks.

Each streamed Denoise/Refine call runs its own sampling loop on its own thread. Wrapped in a
`BatchedDiT`, the loops' DiT calls go to one `StepBatcher` thread, which waits up to `wait_s` for
calls that can share a forward pass (same latent shape, dtype and device; captions of different
lengths are padded with masked tokens, as the CFG pair already is), runs them as one batch and
hands each caller its rows. A lone call runs alone after the wait; nothing else changes in the
sampler, so cancelling one stream never touches the others.

Why it pays: a small model's forward on a CPU (or a large one at low resolution on a GPU) does
not fill the machine; stacking the steps of concurrent tasks turns several small matmuls into one
larger one. Measured in docs/SERVING.md (the serving benchmark, batching on and off).
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from seedance.model.conditioning import stack_text
from seedance.model.dit import TextTokens


@dataclass
class _Call:
    inp: Tensor
    t: Tensor
    text: TextTokens
    shots: Tensor
    future: Future = field(default_factory=Future)

    @property
    def key(self) -> tuple:
        return (tuple(self.inp.shape[1:]), self.inp.dtype, self.inp.device, tuple(self.shots.shape[1:]))


class StepBatcher:
    """One batching thread per model: `submit` blocks its caller until its rows are computed."""

    def __init__(self, dit: torch.nn.Module, max_batch_size: int = 8, wait_s: float = 0.005,
                 context: Callable[[], contextlib.AbstractContextManager] | None = None):
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size: must be at least 1, got {max_batch_size}")
        self.dit, self.max_batch_size, self.wait_s = dit, max_batch_size, wait_s
        self.context = context or contextlib.nullcontext  # e.g. the pipeline's autocast (thread-local state)
        self.batches: list[int] = []  # rows per forward pass, for tests and logs (the last 1000)
        self._calls: queue.Queue[_Call] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="step-batcher", daemon=True)
        self._thread.start()

    def submit(self, inp: Tensor, t: Tensor, text: TextTokens, shots: Tensor) -> Tensor:
        call = _Call(inp, t, text, shots)
        self._calls.put(call)
        return call.future.result()

    def _collect(self) -> list[_Call]:
        """The next call, and whatever else arrives within wait_s, up to max_batch_size rows."""
        calls = [self._calls.get()]
        rows = calls[0].inp.shape[0]
        end = time.monotonic() + self.wait_s
        while rows < self.max_batch_size and (left := end - time.monotonic()) > 0:
            try:
                call = self._calls.get(timeout=left)
            except queue.Empty:
                break
            calls.append(call)
            rows += call.inp.shape[0]
        return calls

    def _loop(self) -> None:
        while True:
            calls = self._collect()
            groups: dict[tuple, list[_Call]] = {}
            for c in calls:
                groups.setdefault(c.key, []).append(c)
            for group in groups.values():
                self._run(group)

    def _run(self, group: list[_Call]) -> None:
        try:
            with torch.no_grad(), self.context():
                if len(group) == 1:
                    c = group[0]
                    outs = [self.dit(c.inp, c.t, c.text, c.shots)]
                else:
                    out = self.dit(torch.cat([c.inp for c in group]), torch.cat([c.t for c in group]),
                                   stack_text([c.text for c in group]), torch.cat([c.shots for c in group]))
                    outs = list(out.split([c.inp.shape[0] for c in group]))
            self.batches = [*self.batches[-999:], sum(c.inp.shape[0] for c in group)]
            for c, o in zip(group, outs, strict=True):
                c.future.set_result(o)
        except BaseException as e:  # every caller of the failed batch sees the error
            for c in group:
                if not c.future.done():
                    c.future.set_exception(e)


class BatchedDiT:
    """Stands in for a DiT in `SeedancePipeline.denoise`: calls go through a StepBatcher."""

    def __init__(self, batcher: StepBatcher):
        self.batcher = batcher

    def __call__(self, inp: Tensor, t: Tensor, text: TextTokens, shots: Tensor) -> Any:
        return self.batcher.submit(inp, t, text, shots)
