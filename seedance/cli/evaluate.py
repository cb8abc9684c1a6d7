"""`seedance eval shapebench`: prompt following, I2V preservation, multi-shot consistency, rewriter faithfulness."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from seedance.cli.common import load_model
from seedance.errors import InvalidRequestError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate a model (ShapeBench)",
                       description="Evaluate a model. `shapebench` generates a video per prompt and scores it "
                                   "with the ShapesWorld analyzer.")
    bench = p.add_subparsers(dest="bench", required=True, metavar="BENCH")
    s = bench.add_parser("shapebench", help="ShapeBench on the default or a given prompt set")
    s.add_argument("--model", metavar="DIR", help="model directory (default: the embedded model)")
    s.add_argument("--prompts", metavar="SET|FILE.jsonl",
                   help="a shipped set (default: 32 prompts over every task; t2v-grid: 192 T2V prompts) or a JSONL file")
    s.add_argument("--out", metavar="REPORT.json", help="write the full report (with per-prompt rows) here")
    s.add_argument("--limit", type=int, help="only the first N prompts")
    s.add_argument("--steps", type=int, help="denoising steps (default: the model's)")
    s.add_argument("--guidance", type=float, help="classifier-free guidance scale (default: the model's)")
    s.add_argument("--seed", type=int, default=0, help="base seed (prompt i uses seed + i)")
    s.add_argument("--vae-ceiling", type=int, default=0, metavar="N",
                   help="also score N ground-truth clips through the model's VAE alone: the most any DiT can reach")
    s.add_argument("--caption-sensitivity", type=int, default=0, metavar="N",
                   help="also measure, on N ground-truth clips, how much the DiT's loss rises when one "
                        "attribute of the caption is wrong (~0: the DiT ignores that word)")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    s.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from seedance.model.pipeline import SeedancePipeline
    from seedance.training.eval.prompts import load_prompts, prompt_set
    from seedance.training.eval.shapebench import format_table, run_shapebench

    for field in ("vae_ceiling", "caption_sensitivity"):
        if getattr(args, field) < 0:
            raise InvalidRequestError(field, f"must be 0 (off) or a clip count, got {getattr(args, field)}")
    if args.out and not Path(args.out).parent.is_dir():
        raise InvalidRequestError("out", f"directory does not exist: {Path(args.out).parent}")
    prompts = prompt_set(args.prompts)
    rows = load_prompts(prompts)[: args.limit]
    bundle = load_model(args.model)
    started = time.perf_counter()
    pipeline = SeedancePipeline(bundle)
    report = run_shapebench(pipeline, rows, seed=args.seed, steps=args.steps, guidance=args.guidance,
                            progress=not args.quiet)
    report = {"model": bundle.source, "prompts": str(prompts), "count": len(rows), "seed": args.seed,
              "steps": args.steps, "guidance": args.guidance, "seconds": round(time.perf_counter() - started, 1), **report}
    print(format_table(report))
    if args.vae_ceiling:
        from seedance.training.eval.ceiling import format_ceiling, vae_ceiling

        report["vae_ceiling"] = vae_ceiling(pipeline, args.vae_ceiling, seed=args.seed)
        print(format_ceiling(report["vae_ceiling"]))
    if args.caption_sensitivity:
        from seedance.training.eval.sensitivity import caption_sensitivity, format_sensitivity

        report["caption_sensitivity"] = caption_sensitivity(pipeline, args.caption_sensitivity, seed=args.seed)
        print(format_sensitivity(report["caption_sensitivity"]))
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        print(f"wrote {args.out}")
    return 0
