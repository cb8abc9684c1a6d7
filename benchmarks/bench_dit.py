"""DiT benchmarks: ours vs diffusers' Wan transformer, window ablation, compile on/off, scaling."""

from __future__ import annotations

import itertools
import os
import tempfile
import time
from dataclasses import replace

import torch
from common import NO_GPU, Context, n_params, write_result

from seedance.model.dit import SeedanceDiT, TextTokens
from seedance.model.presets import tiny

TEXT_TOKENS = 64


# The windowed design these benchmarks measure (and docs/BENCHMARKS.md records): 4 x 4-latent
# temporal windows, the tiny preset's until session 12. The preset now uses 8 x 8, the whole frame at
# 64px, for what the DiT learns (docs/TRAINING.md); at the 16 x 16+ latents benchmarked here, 4 x 4
# windows are the design point being compared with full 3D attention.
BENCH_WINDOW = (4, 4)


def our_dit(window: tuple[int, int] = BENCH_WINDOW, seed: int = 0) -> SeedanceDiT:
    cfg = replace(tiny().dit, temporal_window=window)
    torch.manual_seed(seed)
    dit = SeedanceDiT(cfg).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # away from the adaLN-Zero init, so every layer really computes
        for p in dit.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    return dit


def inputs(dit: SeedanceDiT, grid: tuple[int, int, int], batch: int = 1, text_tokens: int = TEXT_TOKENS,
           device: torch.device | str = "cpu"):
    cfg = dit.cfg
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, cfg.in_channels, *grid, generator=g)
    t = torch.full((batch,), 0.5)
    text = TextTokens(torch.randn(batch, text_tokens, cfg.text_dim, generator=g),
                      torch.ones(batch, text_tokens, dtype=torch.bool),
                      torch.zeros(batch, text_tokens, dtype=torch.long),
                      torch.arange(text_tokens).expand(batch, text_tokens))
    return x.to(device), t.to(device), text.to(device)


def wan_matching(dit: SeedanceDiT, in_channels: int | None = None):
    """A diffusers WanTransformer3DModel with our width, heads and text dim, patch (1,1,1), our
    in/out channels, twice our depth in layers (we count spatial+temporal pairs) and the FFN
    width that brings its parameter count closest to ours. Random weights. `in_channels`: the
    WanPipeline needs latent channels in (its t2v input has no condition/mask channels)."""
    from diffusers import WanTransformer3DModel

    cfg = dit.cfg
    layers = 2 * cfg.depth
    in_channels = in_channels or cfg.in_channels

    def build(ffn: int, device: str | None = None):
        kw = dict(patch_size=(1, 1, 1), num_attention_heads=cfg.num_heads, attention_head_dim=cfg.head_dim,
                  in_channels=in_channels, out_channels=cfg.latent_channels, text_dim=cfg.text_dim,
                  freq_dim=cfg.timestep_freq_dim, ffn_dim=ffn, num_layers=layers)
        if device == "meta":
            with torch.device("meta"):
                return WanTransformer3DModel(**kw)
        return WanTransformer3DModel(**kw)

    target = n_params(dit)
    a, b = n_params(build(256, "meta")), n_params(build(512, "meta"))
    ffn = max(1, round(256 + (target - a) * 256 / (b - a)))  # the count is linear in ffn_dim
    torch.manual_seed(0)
    wan = build(ffn).eval()
    return wan, {"num_layers": layers, "ffn_dim": ffn, "num_attention_heads": cfg.num_heads,
                 "attention_head_dim": cfg.head_dim, "patch_size": [1, 1, 1], "in_channels": in_channels,
                 "out_channels": cfg.latent_channels, "text_dim": cfg.text_dim}


def dit_vs_wan(ctx: Context) -> None:
    """Forward time of our DiT vs diffusers' Wan transformer at equal params, several lengths."""
    start = time.perf_counter()
    grids = [(2, 4, 4)] if ctx.smoke else [(4, 16, 16), (8, 16, 16), (16, 16, 16), (16, 16, 32)]
    dit = our_dit().to(ctx.device)
    notes = [f"batch 1, {TEXT_TOKENS} text tokens, float32, torch.no_grad, random weights; video tokens = T*H*W "
             "latent positions (patch 1x1x1 for both). Ours: decoupled spatial (per frame, joint with text) + "
             "windowed temporal attention (window 4x4 latents, tiny preset); Wan: full 3D self-attention + "
             "cross-attention to text in every block."]
    wan, wan_cfg = None, None
    if ctx.use_diffusers:
        wan, wan_cfg = wan_matching(dit)
        wan = wan.to(ctx.device)
    else:
        notes.append("diffusers is not installed (or --no-diffusers): only our model was measured.")
    rows, goals = [], []
    for grid in grids:
        tokens = grid[0] * grid[1] * grid[2]
        x, t, text = inputs(dit, grid, device=ctx.device)
        with torch.no_grad():
            m = ctx.measure(lambda: dit(x, t, text))  # noqa: B023
        ours = {"model": "seedance (ours)", "params": n_params(dit), "grid": list(grid), "tokens": tokens,
                "text_tokens": TEXT_TOKENS, **m.row(), "tokens_per_s": round(tokens / m.median_s, 1)}
        rows.append(ours)
        if wan is not None:
            txt = text.hidden
            ts = (t * 1000).to(ctx.device)
            with torch.no_grad():
                mw = ctx.measure(lambda: wan(hidden_states=x, timestep=ts, encoder_hidden_states=txt,  # noqa: B023
                                             return_dict=False))
            rows.append({"model": "diffusers WanTransformer3DModel", "params": n_params(wan), "grid": list(grid),
                         "tokens": tokens, "text_tokens": TEXT_TOKENS, **mw.row(),
                         "tokens_per_s": round(tokens / mw.median_s, 1)})
            ratio = mw.median_s / m.median_s
            ours["speedup_vs_wan"] = round(ratio, 2)
            if tokens >= 4096 and ctx.device.type == "cpu":  # the goal is a CPU one
                goals.append({"goal": f"DiT tokens/s >= 1.5x Wan at {tokens} tokens (CPU)", "target": 1.5,
                              "measured": round(ratio, 2), "met": ratio >= 1.5})
    ratios = [r["speedup_vs_wan"] for r in rows if "speedup_vs_wan" in r]
    if len(ratios) > 1 and ctx.device.type == "cpu":
        grows = all(b >= a for a, b in itertools.pairwise(ratios))
        goals.append({"goal": "speedup grows with sequence length", "target": "monotone",
                      "measured": " -> ".join(f"{r:.2f}" for r in ratios), "met": grows})
    write_result(ctx, "dit_vs_wan", "DiT forward: ours vs diffusers WanTransformer3DModel (equal params)", rows,
                 notes=notes, goals=goals, extra={"wan_config": wan_cfg, "our_config": {
                     "hidden_size": dit.cfg.hidden_size, "num_heads": dit.cfg.num_heads, "depth": dit.cfg.depth,
                     "temporal_window": list(dit.cfg.temporal_window), "in_channels": dit.cfg.in_channels}},
                 elapsed_s=time.perf_counter() - start)


def dit_window_ablation(ctx: Context) -> None:
    """Same DiT weights, default temporal window (4x4) vs a window covering the whole frame (full 3D)."""
    start = time.perf_counter()
    grids = [(2, 4, 4)] if ctx.smoke else [(16, 16, 16)]
    windowed = our_dit().to(ctx.device)
    full = our_dit(window=(1024, 1024)).to(ctx.device)
    full.load_state_dict(windowed.state_dict())  # same parameters: the window is not a weight
    rows = []
    for grid in grids:
        tokens = grid[0] * grid[1] * grid[2]
        x, t, text = inputs(windowed, grid, device=ctx.device)
        for label, model in (("windowed temporal 4x4 (default)", windowed), ("full 3D temporal", full)):
            with torch.no_grad():
                m = ctx.measure(lambda: model(x, t, text))  # noqa: B023
            rows.append({"variant": label, "grid": list(grid), "tokens": tokens, **m.row(),
                         "tokens_per_s": round(tokens / m.median_s, 1)})
        rows[-2]["speedup_vs_full"] = round(rows[-1]["median_s"] / rows[-2]["median_s"], 2)
    write_result(ctx, "dit_window_ablation", "DiT ablation: windowed vs full 3D temporal attention (same params)",
                 rows, notes=["Both variants share every weight (the window is not a parameter); spatial layers are "
                              "per-frame joint attention with the caption in both."],
                 elapsed_s=time.perf_counter() - start)


def dit_compile(ctx: Context) -> None:
    """Regional torch.compile of the repeated blocks vs eager, tiny DiT."""
    start = time.perf_counter()
    # A fresh inductor cache, so first_call_s is a cold compile (what a new machine pays once;
    # later processes load the repo-local .cache/inductor instead).
    saved = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = tmp
        try:
            _dit_compile(ctx, start)
        finally:
            if saved is None:
                os.environ.pop("TORCHINDUCTOR_CACHE_DIR", None)
            else:
                os.environ["TORCHINDUCTOR_CACHE_DIR"] = saved


def _dit_compile(ctx: Context, start: float) -> None:
    from seedance.model.dit.compile import compile_blocks

    # The tiny pipeline's denoiser call: CFG batch 2, 17 frames at 64x64 -> 5x8x8 latents.
    grids = [(2, 2, 4, 4)] if ctx.smoke else [(2, 5, 8, 8)]
    backend = "eager" if ctx.smoke else "inductor"
    eager = our_dit().to(ctx.device)
    compiled = our_dit().to(ctx.device)
    compile_blocks(compiled, backend=backend)
    rows = []
    for batch, *grid in grids:
        grid = tuple(grid)
        tokens = grid[0] * grid[1] * grid[2]
        x, t, text = inputs(eager, grid, batch=batch, device=ctx.device)
        with torch.no_grad():
            ref = eager(x, t, text)
            c0 = time.perf_counter()
            out = compiled(x, t, text)  # first call: compiles (or loads the inductor cache)
            first_call = time.perf_counter() - c0
            err = (out - ref).abs().max().item()
            me = ctx.measure(lambda: eager(x, t, text))  # noqa: B023
            mc = ctx.measure(lambda: compiled(x, t, text))  # noqa: B023
        rows.append({"variant": "eager", "batch": batch, "grid": list(grid), "tokens": tokens * batch, **me.row()})
        rows.append({"variant": f"compiled blocks ({backend})", "batch": batch, "grid": list(grid),
                     "tokens": tokens * batch, **mc.row(), "first_call_s": round(first_call, 2),
                     "max_abs_err_vs_eager": err, "speedup_vs_eager": round(me.median_s / mc.median_s, 2)})
    notes = ["first_call_s is the first compiled forward with an empty inductor cache (a cold compile: dynamo "
             "tracing + inductor codegen + C++ compilation), the one-off price per shape on a new machine; "
             "with the repo-local .cache/inductor warm it is a few seconds. dynamic=False: one graph per "
             "shape, shared by all blocks of a kind (3 graphs: spatial, last spatial, temporal)."]
    if ctx.smoke:
        notes.append("smoke mode compiles with backend='eager' (dynamo only) to exercise the path cheaply.")
    write_result(ctx, "dit_compile", "DiT: regional torch.compile vs eager", rows, notes=notes,
                 elapsed_s=time.perf_counter() - start)


def dit_scaling(ctx: Context) -> None:
    """Our DiT forward time and peak memory vs frames and vs resolution."""
    start = time.perf_counter()
    if ctx.smoke:
        frames, sizes = [(2, 4, 4)], [(1, 4, 4)]
    else:
        frames = [(t, 8, 8) for t in (5, 9, 17, 33)]          # 17..129 pixel frames at 64x64
        sizes = [(5, s, s) for s in (8, 16, 32)]               # 64..256 px at 17 frames
    dit = our_dit().to(ctx.device)
    rows = []
    for axis, grids in (("frames", frames), ("resolution", sizes)):
        for grid in grids:
            tokens = grid[0] * grid[1] * grid[2]
            x, t, text = inputs(dit, grid, device=ctx.device)
            with torch.no_grad():
                m = ctx.measure(lambda: dit(x, t, text))  # noqa: B023
            rows.append({"sweep": axis, "grid": list(grid), "pixel_frames": 1 + 4 * (grid[0] - 1),
                         "pixels": f"{grid[1] * 8}x{grid[2] * 8}", "tokens": tokens, **m.row(),
                         "tokens_per_s": round(tokens / m.median_s, 1)})
    write_result(ctx, "dit_scaling", "DiT scaling: time and peak memory vs frames and resolution (ours)", rows,
                 notes=["tiny preset DiT, batch 1, 64 text tokens; pixel sizes assume the tiny VAE (4x8x8)."],
                 elapsed_s=time.perf_counter() - start)


def gpu_rows_note() -> dict:
    return {"variant": "GPU (CUDA, bf16 autocast, Triton kernels)", "status": NO_GPU}
