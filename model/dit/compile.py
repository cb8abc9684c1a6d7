"""Fast-path helpers for the DiT: regional torch.compile and bf16 autocast.

Regional compilation compiles the repeated blocks (every SpatialBlock and TemporalBlock), not
the whole model: blocks of one kind share one code object, and with inlined nn.Modules (the
default since torch 2.5) their parameters are graph inputs, so ONE compiled graph serves every
block of a kind (three graphs per input shape: spatial, the last spatial block whose caption
only lends K/V, temporal). Cold compile is ~25 s on 2 CPU cores for the tiny preset instead of
minutes for the whole model, and the rope/text preparation outside the blocks (data-dependent
`.item()` calls) stays eager. `nn.Module.compile` compiles in place, so parameter names and
state_dict keys do not change (no `_orig_mod.` prefix) and saving/loading keeps working.

bf16 autocast is applied on CUDA only; on any other device `autocast` is a no-op context.
The autocast path has NOT been run on a GPU in the session that wrote it (none was available).

Inductor caches compiled kernels on disk; `default_cache_dir()` points TORCHINDUCTOR_CACHE_DIR
at a repo-local `.cache/inductor` when the variable is not already set.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import torch
from torch import nn

REPO_CACHE = Path(__file__).resolve().parents[2] / ".cache" / "inductor"


def default_cache_dir() -> str:
    """Set TORCHINDUCTOR_CACHE_DIR to the repo-local `.cache/inductor` unless already set; return it."""
    return os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(REPO_CACHE))


def repeated_blocks(dit: nn.Module) -> list[nn.Module]:
    """The blocks that regional compilation compiles: every spatial and temporal layer."""
    return [*dit.spatial, *dit.temporal]


def compile_blocks(dit: nn.Module, dynamic: bool | None = False, mode: str | None = None,
                   fullgraph: bool = False, backend: str = "inductor") -> nn.Module:
    """Compile each repeated block of `dit` in place (regional compilation); returns `dit`.

    dynamic=False (default) specialises on the token grid, which is fixed within one request:
    the best kernels, one recompile per new (frames, height, width, batch). dynamic=True or None
    trades some speed for fewer recompiles when shapes vary (e.g. a server with many sizes).
    Already-compiled blocks are left as they are. Idempotent.
    """
    default_cache_dir()
    for block in repeated_blocks(dit):
        if getattr(block, "_compiled_call_impl", None) is None:
            block.compile(dynamic=dynamic, mode=mode, fullgraph=fullgraph, backend=backend)
    return dit


def is_compiled(dit: nn.Module) -> bool:
    return all(getattr(b, "_compiled_call_impl", None) is not None for b in repeated_blocks(dit))


def autocast(device: torch.device | str, enabled: bool = True, dtype: torch.dtype = torch.bfloat16):
    """bf16 autocast on CUDA; a no-op context on every other device (CPU stays float32)."""
    device = torch.device(device)
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=dtype)
    return contextlib.nullcontext()
