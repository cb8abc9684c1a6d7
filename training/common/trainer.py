"""The optimisation loop every pipeline shares.

A pipeline supplies the model and a `step_fn(indices, step) -> {"loss": tensor, ...}`; the
trainer owns the optimizer, LR schedule, gradient clipping, DDP wrapping, logging, checkpoints
and exact resume (model, optimizer, schedule, RNG and data cursor all restored).
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from seedance.training.common.checkpoint import LATEST, load_checkpoint, save_checkpoint
from seedance.training.common.data import BucketSampler, ResumableSampler
from seedance.training.common.distributed import DistEnv, mean_across_ranks

StepFn = Callable[[list[int], int], dict[str, torch.Tensor]]


@dataclass(frozen=True)
class OptimConfig:
    lr: float = 3e-4
    betas: tuple[float, float] = (0.9, 0.99)
    weight_decay: float = 0.0
    warmup_steps: int = 50
    schedule: str = "constant"  # "constant" | "cosine" (anneal to min_lr_ratio * lr)
    min_lr_ratio: float = 0.1
    grad_clip: float = 1.0
    max_steps: int = 1000
    batch_size: int = 8
    log_every: int = 10
    checkpoint_every: int = 200
    seed: int = 0
    # Exponential moving average of the weights (0: off). Diffusion samples from the average are
    # cleaner than from the last noisy small-batch step; pipelines export it as their weights.
    ema_decay: float = 0.0
    # Learning-rate multipliers by parameter-name prefix, e.g. (("text_pool.", 20.0),): a module
    # added to a trained network (the DiT's caption pool) otherwise learns at the pace the rest
    # was tuned to, and stays too small to matter (docs/TRAINING.md, session 9). First match wins.
    lr_scale: tuple[tuple[str, float], ...] = ()

    @classmethod
    def from_dict(cls, data: dict) -> OptimConfig:
        data = dict(data)
        if "betas" in data:
            data["betas"] = tuple(data["betas"])  # JSON has lists
        if "lr_scale" in data:
            data["lr_scale"] = tuple((str(prefix), float(factor)) for prefix, factor in data["lr_scale"])
        return cls(**data)

    def __post_init__(self) -> None:
        if self.schedule not in ("constant", "cosine"):
            raise ValueError(f"optim.schedule: must be constant or cosine, got {self.schedule!r}")
        if self.max_steps < 1 or self.batch_size < 1:
            raise ValueError("optim.max_steps and optim.batch_size must be >= 1")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"optim.ema_decay: must be in [0, 1), got {self.ema_decay}")
        if any(factor <= 0 for _, factor in self.lr_scale):
            raise ValueError(f"optim.lr_scale: factors must be > 0, got {list(self.lr_scale)}")


def param_groups(model: nn.Module, cfg: OptimConfig) -> list[dict[str, Any]]:
    """The model's trainable parameters grouped by their cfg.lr_scale factor (one group without it)."""
    groups: dict[float, list[nn.Parameter]] = {}
    for name, p in model.named_parameters():
        if p.requires_grad:
            factor = next((f for prefix, f in cfg.lr_scale if name.startswith(prefix)), 1.0)
            groups.setdefault(factor, []).append(p)
    return [{"params": params, "lr": cfg.lr * factor} for factor, params in groups.items()]


def lr_lambda(cfg: OptimConfig) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        if cfg.schedule == "constant":
            return 1.0
        progress = (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps)
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return factor


class EMA:
    """A float copy of a model's trainable parameters, pulled toward them after every step. The
    decay ramps up as (1 + n) / (10 + n) so the average is not dominated by the initial weights."""

    def __init__(self, model: nn.Module, decay: float):
        self.decay, self.updates = decay, 0
        self.shadow = {k: p.detach().float().clone() for k, p in model.named_parameters() if p.requires_grad}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for k, p in model.named_parameters():
            if k in self.shadow:
                self.shadow[k].lerp_(p.detach().float(), 1.0 - d)

    def weights(self, model: nn.Module) -> dict[str, torch.Tensor]:
        """The model's state dict with the averaged parameters in place of the trained ones."""
        return {k: (self.shadow[k].to(v.dtype) if k in self.shadow else v).contiguous()
                for k, v in model.state_dict().items()}

    def state_dict(self) -> dict[str, Any]:
        return {"updates": self.updates, "shadow": self.shadow}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.updates = state["updates"]
        self.shadow = {k: v.float() for k, v in state["shadow"].items()}


class Trainer:
    def __init__(self, name: str, model: nn.Module, run_config: dict[str, Any], optim: OptimConfig,
                 out_dir: Path, sampler: ResumableSampler | BucketSampler, env: DistEnv | None = None,
                 params: list[nn.Parameter] | None = None, progress: bool = True,
                 extras: dict[str, Any] | None = None, find_unused_parameters: bool = False):
        self.name, self.optim_cfg, self.env = name, optim, env or DistEnv()
        self.out_dir = Path(out_dir)
        self.run_config = {**run_config, "optim": dataclasses.asdict(optim)}
        self.module = model
        self.model: nn.Module = model
        if self.env.distributed:
            self.model = nn.parallel.DistributedDataParallel(model, find_unused_parameters=find_unused_parameters)
        trainable = params if params is not None else param_groups(model, optim)
        self.optimizer = torch.optim.AdamW(trainable, lr=optim.lr, betas=optim.betas,
                                           weight_decay=optim.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lr_lambda(optim))
        self.sampler = sampler
        self.step = 0
        self.progress = progress and self.env.is_main
        self.history: list[dict[str, float]] = []
        # Other stateful objects a pipeline owns (a discriminator and its optimizer, say): anything
        # with state_dict/load_state_dict, checkpointed and restored with the model.
        self.extras = dict(extras or {})
        self.ema = EMA(model, optim.ema_decay) if optim.ema_decay > 0 else None
        if self.ema is not None:
            self.extras["ema"] = self.ema

    def export_weights(self) -> dict[str, torch.Tensor]:
        """What a pipeline should save as its trained weights: the EMA when on, else the model's."""
        if self.ema is not None:
            return self.ema.weights(self.module)
        return {k: v.contiguous() for k, v in self.module.state_dict().items()}

    @property
    def checkpoint_path(self) -> Path:
        return self.out_dir / LATEST

    def resume(self) -> bool:
        """Continue from out_dir/latest.pt if present. Refuses a checkpoint of another config."""
        if not self.checkpoint_path.exists():
            return False
        payload = load_checkpoint(self.checkpoint_path, config=self.run_config, model=self.module,
                                  optimizer=self.optimizer, scheduler=self.scheduler)
        self.step = payload["step"]
        self.sampler.load_state_dict(payload["data"]["sampler"])
        for name, obj in self.extras.items():
            obj.load_state_dict(payload["extra"][name])
        return True

    def save(self) -> None:
        if self.env.is_main:
            save_checkpoint(self.checkpoint_path, step=self.step, config=self.run_config, model=self.module,
                            optimizer=self.optimizer, scheduler=self.scheduler,
                            data_state={"sampler": self.sampler.state_dict()},
                            extra={name: obj.state_dict() for name, obj in self.extras.items()})

    def fit(self, step_fn: StepFn, max_steps: int | None = None) -> list[dict[str, float]]:
        """Train until `max_steps` (default: optim.max_steps); returns the logged metrics."""
        cfg = self.optim_cfg
        stop = min(max_steps or cfg.max_steps, cfg.max_steps)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        bar = None
        if self.progress:
            from tqdm import tqdm

            bar = tqdm(total=stop, initial=self.step, desc=self.name, unit="step")
        log_file = self.out_dir / "metrics.jsonl"
        started = time.perf_counter()
        while self.step < stop:
            indices = self.sampler.next_indices(cfg.batch_size)
            self.model.train()
            out = step_fn(indices, self.step)
            loss = out["loss"]
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{self.name}: loss is {loss.item()} at step {self.step}")
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(
                [p for g in self.optimizer.param_groups for p in g["params"]], cfg.grad_clip)
            self.optimizer.step()
            self.scheduler.step()
            if self.ema is not None:
                self.ema.update(self.module)
            self.step += 1
            record = {"step": self.step, "lr": self.scheduler.get_last_lr()[0], "grad_norm": float(grad_norm),
                      **{k: mean_across_ranks(float(v.detach()), self.env) for k, v in out.items()}}
            self.history.append(record)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{record['loss']:.4f}")
            if self.env.is_main and (self.step % cfg.log_every == 0 or self.step == stop):
                record["elapsed_s"] = round(time.perf_counter() - started, 2)
                with open(log_file, "a") as f:
                    f.write(json.dumps(record) + "\n")
            if self.step % cfg.checkpoint_every == 0 or self.step == stop:
                self.save()
        if bar is not None:
            bar.close()
        return self.history
