"""The command line every training pipeline shares: --config JSON, --out, --max-steps, --no-resume.

Runs in-process or under torchrun (the process group comes from torchrun's environment).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from seedance.training.common.distributed import init_distributed, shutdown


def add_run_arguments(parser: argparse.ArgumentParser, config_cls: type) -> None:
    parser.add_argument("--config", required=True, help=f"config JSON ({config_cls.__name__})")
    parser.add_argument("--out", required=True, help="output directory (checkpoint, metrics, exports)")
    parser.add_argument("--max-steps", type=int, help="stop early at this step (resumable)")
    parser.add_argument("--no-resume", action="store_true", help="ignore an existing checkpoint in --out")


def run_from_args(args: argparse.Namespace, config_cls: Any, train: Callable[..., object]) -> int:
    cfg = config_cls.from_dict(json.loads(Path(args.config).read_text()))
    env = init_distributed()
    try:
        train(cfg, Path(args.out), env, max_steps=args.max_steps, resume=not args.no_resume)
    finally:
        shutdown(env)
    return 0


def pipeline_main(argv: list[str] | None, *, prog: str, description: str, config_cls: Any,
                  train: Callable[..., object]) -> int:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    add_run_arguments(parser, config_cls)
    return run_from_args(parser.parse_args(argv), config_cls, train)
