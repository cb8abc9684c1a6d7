"""Minimal LoRA (Hu et al. 2021) for the rewriter's DPO stage; no peft dependency.

A wrapped linear computes  base(x) + (alpha / r) * B(A(x))  with A [r, in] random and B [out, r]
zero, so a freshly wrapped model computes exactly what the base model does (DPO's policy starts
equal to its reference). `merge_lora` folds  (alpha / r) * B @ A  into the base weight and puts
the plain nn.Linear back, so the exported model is an ordinary transformers checkpoint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from seedance.errors import ConfigError

# Qwen2 / Llama names: attention q/k/v/o and the gated MLP's projections.
DEFAULT_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class LoRAConfig:
    rank: int = 8
    alpha: float = 16.0
    targets: tuple[str, ...] = DEFAULT_TARGETS  # last component of the nn.Linear's module name

    def __post_init__(self) -> None:
        if self.rank < 1:
            raise ConfigError(f"lora.rank: must be >= 1, got {self.rank}")
        if self.alpha <= 0:
            raise ConfigError(f"lora.alpha: must be > 0, got {self.alpha}")
        if not self.targets:
            raise ConfigError("lora.targets: must name at least one module")


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, rank: int, alpha: float, generator: torch.Generator | None = None):
        super().__init__()
        self.base = base
        self.rank, self.scale = rank, alpha / rank
        w = base.weight
        self.lora_a = nn.Parameter(torch.empty(rank, base.in_features, dtype=w.dtype, device=w.device))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank, dtype=w.dtype, device=w.device))
        # nn.Linear's own default init (kaiming-uniform, a=sqrt(5)), as the LoRA reference code uses.
        bound = 1.0 / math.sqrt(base.in_features)
        with torch.no_grad():
            self.lora_a.uniform_(-bound, bound, generator=generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + F.linear(F.linear(x, self.lora_a), self.lora_b) * self.scale

    def delta_weight(self) -> torch.Tensor:
        return (self.lora_b @ self.lora_a) * self.scale


def _set_submodule(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, module)


def apply_lora(model: nn.Module, cfg: LoRAConfig, generator: torch.Generator | None = None) -> list[str]:
    """Wrap every nn.Linear whose name ends in one of cfg.targets; returns the wrapped names."""
    found = [name for name, m in model.named_modules()
             if isinstance(m, nn.Linear) and name.rpartition(".")[2] in cfg.targets]
    if not found:
        raise ConfigError(f"lora.targets: no nn.Linear named {', '.join(cfg.targets)} in the model")
    for name in found:
        _set_submodule(model, name, LoRALinear(model.get_submodule(name), cfg.rank, cfg.alpha, generator))
    return found


def lora_modules(model: nn.Module) -> list[tuple[str, LoRALinear]]:
    return [(name, m) for name, m in model.named_modules() if isinstance(m, LoRALinear)]


def lora_parameters(model: nn.Module) -> list[nn.Parameter]:
    return [p for _, m in lora_modules(model) for p in (m.lora_a, m.lora_b)]


def mark_only_lora_trainable(model: nn.Module) -> list[nn.Parameter]:
    """Freeze everything but the LoRA factors; returns those (what the optimizer should get)."""
    for p in model.parameters():
        p.requires_grad_(False)
    params = lora_parameters(model)
    for p in params:
        p.requires_grad_(True)
    return params


@torch.no_grad()
def merge_lora(model: nn.Module) -> nn.Module:
    """Fold each LoRA update into its base weight and unwrap it (in place; returns `model`)."""
    for name, m in lora_modules(model):
        m.base.weight.add_(m.delta_weight().to(m.base.weight.dtype))
        _set_submodule(model, name, m.base)
    return model
