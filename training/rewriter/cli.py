"""Command line: `python -m seedance.training.rewriter sft|dpo --config F.json --out DIR`."""

from __future__ import annotations

import argparse

from seedance.training.common.cli import add_run_arguments, run_from_args
from seedance.training.rewriter.dpo import RewriterDPOConfig, train_dpo
from seedance.training.rewriter.sft import RewriterSFTConfig, train_sft

STAGES = {
    "sft": (RewriterSFTConfig, train_sft, "supervised fine-tuning on prompt -> caption rewrites"),
    "dpo": (RewriterDPOConfig, train_dpo, "DPO with LoRA on chosen / rejected rewrites, from an SFT model"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seedance.training.rewriter",
                                     description="Prompt-rewriter training (SFT, then DPO with LoRA).")
    sub = parser.add_subparsers(dest="stage", required=True)
    for name, (config_cls, _, help_text) in STAGES.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_run_arguments(p, config_cls)
    args = parser.parse_args(argv)
    config_cls, train, _ = STAGES[args.stage]
    return run_from_args(args, config_cls, train)
