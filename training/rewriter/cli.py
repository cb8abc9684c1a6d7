"""Command line: `python -m seedance.training.rewriter sft|dpo --config F.json --out DIR`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from seedance.training.common.distributed import init_distributed, shutdown
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
        p.add_argument("--config", required=True, help=f"config JSON ({config_cls.__name__})")
        p.add_argument("--out", required=True, help="output directory (checkpoint, metrics, model/)")
        p.add_argument("--max-steps", type=int, help="stop early at this step (resumable)")
        p.add_argument("--no-resume", action="store_true", help="ignore an existing checkpoint in --out")
    args = parser.parse_args(argv)
    config_cls, train, _ = STAGES[args.stage]
    cfg = config_cls.from_dict(json.loads(Path(args.config).read_text()))
    env = init_distributed()
    try:
        train(cfg, Path(args.out), env, max_steps=args.max_steps, resume=not args.no_resume)
    finally:
        shutdown(env)
    return 0
