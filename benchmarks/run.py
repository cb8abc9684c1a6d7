"""Run the benchmarks and regenerate docs/BENCHMARKS.md.

    python benchmarks/run.py                       # everything (a few minutes on 2 CPU cores)
    python benchmarks/run.py --only dit_vs_wan     # one benchmark (repeatable, or comma-separated)
    python benchmarks/run.py --smoke --out /tmp/b  # tiny shapes, one repetition (what the test runs)

Each benchmark writes OUT/NAME.json (command line, machine, versions, date, rows: median of
--reps runs after --warmup, throughput, peak memory); then docs/BENCHMARKS.md is regenerated from
every JSON file in OUT (smoke runs write their report into OUT instead, never into docs/).
diffusers is only needed for the anchors (Wan transformer, Wan VAE, WanPipeline); without it
(or with --no-diffusers) only our models run and each JSON says so.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(REPO / ".cache" / "inductor"))
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import bench_dit  # noqa: E402
import bench_kernels  # noqa: E402
import bench_pipeline  # noqa: E402
import bench_preset  # noqa: E402
import bench_serving  # noqa: E402
import bench_vae  # noqa: E402
import report  # noqa: E402
import torch  # noqa: E402
from common import Context, diffusers_version, result_file_name, setup_malloc  # noqa: E402

BENCHMARKS = {
    "dit_vs_wan": bench_dit.dit_vs_wan,
    "dit_window_ablation": bench_dit.dit_window_ablation,
    "dit_compile": bench_dit.dit_compile,
    "dit_scaling": bench_dit.dit_scaling,
    "vae_decode": bench_vae.vae_decode,
    "vae_chunk_scaling": bench_vae.vae_chunk_scaling,
    "pipeline": bench_pipeline.pipeline_bench,
    "kernels": bench_kernels.kernels_bench,
    "preset_gpu": bench_preset.preset_gpu,
    "serving": bench_serving.serving,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", action="store_true", help="tiny shapes, one repetition, no warmup (a test)")
    p.add_argument("--only", action="append", default=[], metavar="NAME",
                   help=f"run only these (repeatable or comma-separated): {', '.join(BENCHMARKS)}")
    p.add_argument("--out", type=Path, default=HERE / "results", help="folder for the JSON results")
    p.add_argument("--docs", type=Path, help="markdown report to regenerate (default docs/BENCHMARKS.md; "
                                             "OUT/BENCHMARKS.md in smoke mode)")
    p.add_argument("--no-docs", action="store_true", help="do not regenerate the markdown report")
    p.add_argument("--reps", type=int, help="timed repetitions per row (default 3; 1 in smoke mode)")
    p.add_argument("--warmup", type=int, help="untimed runs before timing (default 1; 0 in smoke mode)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice, the core count); "
                                                "1 gives stable figures on a machine shared with other work")
    p.add_argument("--no-diffusers", action="store_true", help="skip the diffusers anchors even if installed")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    names = [n for item in args.only for n in item.split(",") if n] or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"run.py: unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    setup_malloc()
    if args.threads:
        torch.set_num_threads(args.threads)
    use_diffusers = not args.no_diffusers and diffusers_version() is not None
    ctx = Context(smoke=args.smoke, reps=args.reps or (1 if args.smoke else 3),
                  warmup=args.warmup if args.warmup is not None else (0 if args.smoke else 1),
                  out=args.out, device=torch.device(args.device), use_diffusers=use_diffusers)
    print(f"benchmarks: {', '.join(names)} | device {ctx.device} | reps {ctx.reps} warmup {ctx.warmup} | "
          f"diffusers {diffusers_version() if use_diffusers else 'not used'} | threads {torch.get_num_threads()}",
          flush=True)
    total = time.perf_counter()
    for name in names:
        start = time.perf_counter()
        BENCHMARKS[name](ctx)
        print(f"  {name}: {time.perf_counter() - start:.1f} s -> {ctx.out / result_file_name(name, ctx.device)}", flush=True)
    if not args.no_docs:
        docs = args.docs or (args.out / "BENCHMARKS.md" if args.smoke else REPO / "docs" / "BENCHMARKS.md")
        report.write_report(args.out, docs)
        print(f"  report -> {docs}")
    print(f"done in {time.perf_counter() - total:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
