"""Prompt-rewriter training: SFT on rewrites, then DPO with LoRA on correct/incorrect pairs.

Run: python -m seedance.training.rewriter {sft,dpo} --config F.json --out DIR [--max-steps N]
"""

from seedance.training.rewriter.data import RewriteRow, load_rows
from seedance.training.rewriter.dpo import RewriterDPOConfig, train_dpo
from seedance.training.rewriter.evaluate import rewrite_faithfulness
from seedance.training.rewriter.lora import LoRAConfig, apply_lora, mark_only_lora_trainable, merge_lora
from seedance.training.rewriter.sft import RewriterSFTConfig, train_sft

__all__ = [
    "LoRAConfig",
    "RewriteRow",
    "RewriterDPOConfig",
    "RewriterSFTConfig",
    "apply_lora",
    "load_rows",
    "mark_only_lora_trainable",
    "merge_lora",
    "rewrite_faithfulness",
    "train_dpo",
    "train_sft",
]
