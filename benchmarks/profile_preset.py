"""Where a seedance-1.0 DiT forward spends its GPU time (torch.profiler, one forward after warmup).

    python benchmarks/profile_preset.py [--resolution 480p] [--kernels auto|reference] [--rows 25]

Prints the ops sorted by their own CUDA time and the share of attention, matmul and the fused
(or reference) elementwise ops: the evidence for which ops are worth a kernel. GPU only.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_preset import PRESET, dit_inputs, grid_for, kernel_backend, materialize

from seedance.model.dit import SeedanceDiT
from seedance.model.dit.compile import autocast
from seedance.model.presets import preset

# First match wins, so every kernel lands in exactly one group.
GROUPS = {"attention": ("sdpa", "flash", "fmha"), "matmul": ("nvjet", "gemm", "cutlass"),
          "fused triton": ("_qk_norm_rope", "_ln_mod", "_res_ln_mod", "_gated_residual"),
          "copies/cat": ("copy", "catarray"), "other": ("",)}


def group_of(name: str) -> str:
    low = name.lower()
    return next(g for g, keys in GROUPS.items() if any(k in low for k in keys))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--resolution", default="480p")
    p.add_argument("--kernels", default="auto", choices=["auto", "reference", "triton"])
    p.add_argument("--rows", type=int, default=25)
    args = p.parse_args(argv)
    if not torch.cuda.is_available():
        print("profile_preset.py: needs a CUDA GPU", file=sys.stderr)
        return 2
    device = torch.device("cuda")
    cfg = preset(PRESET)
    with torch.device("meta"):
        dit = SeedanceDiT(cfg.dit)
    dit = materialize(dit, device, torch.bfloat16)
    shape = grid_for(args.resolution, 5.0, cfg.video.default_fps, cfg.vae.compression)
    x, t, text = dit_inputs(dit, shape["latent_grid"], 1, cfg.text_encoder.max_length, device)
    with kernel_backend(args.kernels), torch.no_grad(), autocast(device):
        dit(x, t, text)
        torch.cuda.synchronize()
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
            dit(x, t, text)
            torch.cuda.synchronize()
    events = [e for e in prof.key_averages() if e.self_device_time_total > 0]
    total = sum(e.self_device_time_total for e in events)
    print(f"{PRESET} DiT forward, {shape['resolution']} {shape['video']} ({shape['tokens']:,} tokens), "
          f"kernels={args.kernels}: {total / 1e3:.1f} ms of CUDA kernel time")
    shares = {g: sum(e.self_device_time_total for e in events if group_of(e.key) == g) / total for g in GROUPS}
    print("shares: " + ", ".join(f"{g} {s:.1%}" for g, s in shares.items()))
    for e in sorted(events, key=lambda e: -e.self_device_time_total)[: args.rows]:
        print(f"{e.self_device_time_total / 1e3:10.2f} ms {e.self_device_time_total / total:6.1%} {e.count:6d}x  "
              f"{e.key[:110]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
