"""Checkpoints that resume exactly: model, optimizer, LR schedule, RNG streams, data order, step.

A checkpoint is one file written atomically (temp file + rename), so a run killed mid-save
leaves the previous checkpoint intact. It records the run's config; resuming under a different
config is refused with the differing fields named (a changed config would not continue the
same run).
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seedance.errors import SeedanceError

LATEST = "latest.pt"


class CheckpointMismatchError(SeedanceError):
    """Resuming from a checkpoint written under a different config."""


def rng_state() -> dict[str, Any]:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


def config_diff(a: Any, b: Any, prefix: str = "") -> list[str]:
    """Dotted paths where two JSON-like configs differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b)):
            path = f"{prefix}.{key}" if prefix else str(key)
            if key not in a or key not in b:
                out.append(path)
            else:
                out.extend(config_diff(a[key], b[key], path))
        return out
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        a, b = list(a), list(b)
    return [] if a == b else [prefix or "<root>"]


def save_checkpoint(path: Path, *, step: int, config: dict, model: torch.nn.Module,
                    optimizer: torch.optim.Optimizer | None = None, scheduler: Any = None,
                    data_state: dict | None = None, extra: dict | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "step": step,
        "config": config,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "rng": rng_state(),
        "data": data_state or {},
        "extra": extra or {},
    }
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: Path, *, config: dict, model: torch.nn.Module,
                    optimizer: torch.optim.Optimizer | None = None, scheduler: Any = None,
                    restore_rng: bool = True) -> dict:
    """Restore everything saved; returns the payload (step, data state, extra)."""
    payload = torch.load(Path(path), map_location="cpu", weights_only=False)
    differing = config_diff(payload["config"], config)
    if differing:
        raise CheckpointMismatchError(
            f"{path}: written under a different config; differing fields: {', '.join(differing)}")
    model.load_state_dict(payload["model"])
    if optimizer is not None and payload["optimizer"] is not None:
        optimizer.load_state_dict(payload["optimizer"])
    if scheduler is not None and payload["scheduler"] is not None:
        scheduler.load_state_dict(payload["scheduler"])
    if restore_rng:
        set_rng_state(payload["rng"])
    return payload
