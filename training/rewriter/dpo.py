"""Prompt-rewriter DPO with LoRA: prefer the correct rewrite over wrong ones.

Seedance follows SFT with DPO on correct / incorrect rewrite pairs, training LoRA adapters.
The policy is the SFT model with LoRA on the attention and MLP projections (only the LoRA
factors train); the reference is the same SFT model, frozen. Every `rejected` caption of a
row is paired with its `chosen` one. Per pair (Rafailov et al. 2023):

    loss = -logsigmoid(beta * ((logp_pol(c) - logp_ref(c)) - (logp_pol(r) - logp_ref(r))))

with sequence log-probs summed over the caption tokens (and <eos>) given the rewriter prompt.
At step 0 policy == reference, so the loss is exactly log 2.

Outputs: out_dir/latest.pt (exact resume; holds the LoRA-wrapped policy) and out_dir/model/
(LoRA merged into the weights + the SFT tokenizer, what TransformersRewriter loads).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from seedance.errors import ConfigError
from seedance.training.common.data import ResumableSampler
from seedance.training.common.distributed import DistEnv
from seedance.training.common.trainer import OptimConfig, Trainer
from seedance.training.data.latents import DatasetError
from seedance.training.rewriter.data import (
    IGNORE_INDEX,
    Example,
    RewriteRow,
    collate,
    encode_example,
    load_rows,
)
from seedance.training.rewriter.lora import LoRAConfig, apply_lora, mark_only_lora_trainable, merge_lora
from seedance.training.rewriter.sft import MODEL_DIR, load_local, save_rewriter


@dataclass(frozen=True)
class RewriterDPOConfig:
    data: str  # rewrite JSONL; rows without `rejected` are skipped
    sft_model: str  # the SFT export (its out_dir/model, or the SFT out_dir itself)
    name: str = "rewriter-dpo"
    beta: float = 0.1
    max_length: int = 384  # prompt + caption tokens
    lora: LoRAConfig = field(default_factory=LoRAConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)

    def __post_init__(self) -> None:
        if self.beta <= 0:
            raise ConfigError(f"beta: must be > 0, got {self.beta}")

    @classmethod
    def from_dict(cls, data: dict) -> RewriterDPOConfig:
        data = dict(data)
        lora = dict(data.pop("lora", {}))
        if "targets" in lora:
            lora["targets"] = tuple(lora["targets"])
        return cls(lora=LoRAConfig(**lora), optim=OptimConfig.from_dict(data.pop("optim", {})), **data)

    def sft_dir(self) -> Path:
        path = Path(self.sft_model)
        return path / MODEL_DIR if (path / MODEL_DIR / "config.json").is_file() else path


@dataclass(frozen=True)
class Pair:
    chosen: Example
    rejected: Example


def build_pairs(tokenizer: Any, rows: list[RewriteRow], max_length: int) -> list[Pair]:
    pairs = []
    for r in rows:
        if not r.rejected:
            continue
        chosen = encode_example(tokenizer, r.prompt, r.task, r.chosen, max_length, r.where)
        pairs += [Pair(chosen, encode_example(tokenizer, r.prompt, r.task, rej, max_length, r.where))
                  for rej in r.rejected]
    if not pairs:
        raise DatasetError("DPO data has no row with a rejected rewrite")
    return pairs


def sequence_logps(model: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor,
                   labels: torch.Tensor) -> torch.Tensor:
    """[B] sum of log p(token | prefix) over the labelled (caption) tokens."""
    # No KV cache: an exported model's config turns it on for generation; training has no use for it.
    logits = model(input_ids=ids, attention_mask=mask, use_cache=False).logits[:, :-1].float()
    target = labels[:, 1:]
    keep = target != IGNORE_INDEX
    logp = torch.gather(F.log_softmax(logits, dim=-1), 2, target.clamp(min=0)[..., None])[..., 0]
    return (logp * keep).sum(dim=1)


def dpo_loss(pol_chosen: torch.Tensor, pol_rejected: torch.Tensor, ref_chosen: torch.Tensor,
             ref_rejected: torch.Tensor, beta: float) -> dict[str, torch.Tensor]:
    """The DPO loss and its diagnostics: implicit rewards beta * (logp_pol - logp_ref)."""
    chosen_reward = beta * (pol_chosen - ref_chosen)
    rejected_reward = beta * (pol_rejected - ref_rejected)
    margin = chosen_reward - rejected_reward
    return {
        "loss": -F.logsigmoid(margin).mean(),
        # Strictly greater: at step 0 every margin is 0 and no pair counts as won.
        "reward_acc": (margin > 0).float().mean().detach(),
        "margin": margin.mean().detach(),
        "chosen_reward": chosen_reward.mean().detach(),
        "rejected_reward": rejected_reward.mean().detach(),
    }


def train_dpo(cfg: RewriterDPOConfig, out_dir: Path, env: DistEnv | None = None, max_steps: int | None = None,
              resume: bool = True, progress: bool = True) -> Trainer:
    env, out_dir = env or DistEnv(), Path(out_dir)
    tok, policy = load_local(cfg.sft_dir())
    _, reference = load_local(cfg.sft_dir())
    reference.eval().requires_grad_(False)
    rows = load_rows(cfg.data)
    pairs = build_pairs(tok, rows, cfg.max_length)
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    apply_lora(policy, cfg.lora, torch.Generator().manual_seed(cfg.optim.seed))
    params = mark_only_lora_trainable(policy)
    sampler = ResumableSampler(len(pairs), seed=cfg.optim.seed, rank=env.rank, world_size=env.world_size)
    trainer = Trainer(f"rewriter-dpo:{cfg.name}", policy, dataclasses.asdict(cfg), cfg.optim, out_dir, sampler,
                      env, params=params, progress=progress)
    if resume:
        trainer.resume()

    def step(indices: list[int], _step: int) -> dict[str, torch.Tensor]:
        batch = [pairs[i] for i in indices]
        # Chosen and rejected in one batch: one forward per model per step.
        ids, mask, labels = collate([p.chosen for p in batch] + [p.rejected for p in batch], pad)
        pol = sequence_logps(trainer.model, ids, mask, labels)
        with torch.no_grad():
            ref = sequence_logps(reference, ids, mask, labels)
        n = len(batch)
        return dpo_loss(pol[:n], pol[n:], ref[:n], ref[n:], cfg.beta)

    trainer.fit(step, max_steps=max_steps)
    if env.is_main:
        # Merging edits the policy in place: done last, after the final (wrapped) checkpoint.
        save_rewriter(merge_lora(policy), tok, out_dir / MODEL_DIR, rows)
    return trainer
