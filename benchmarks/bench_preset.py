"""The production `seedance-1.0` preset on a GPU: DiT step time at 480p and 1080p, VAE decode time.

Random weights, built directly in bf16 on the GPU (about 10B DiT parameters, 20 GB; an fp32 copy
would not leave room for 1080p activations on an 80 GB card). Every forward runs under the
pipeline's bf16 autocast. Rows compare the fused Triton kernels with the PyTorch reference
(SEEDANCE_KERNELS) and, at 480p, regional torch.compile. On CPU the benchmark writes
'not measured' rows: a 10B model is not a CPU workload.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from contextlib import contextmanager

import torch
from common import NO_GPU, Context, n_params, write_result
from torch import nn

from seedance import kernels
from seedance.model.dit import SeedanceDiT, TextTokens
from seedance.model.dit.compile import autocast, compile_blocks
from seedance.model.pipeline.sizes import frame_size, frames_for_duration
from seedance.model.presets import preset
from seedance.model.vae import CausalVAE

PRESET = "seedance-1.0"


def materialize(module: nn.Module, device: torch.device, dtype: torch.dtype, std: float = 0.02) -> nn.Module:
    """Give a meta-device module random parameters of `dtype` on `device`, one tensor at a time
    (no full-precision copy is ever held). Normal(0, std) everywhere, so the adaLN-Zero layers
    really compute instead of passing zeros through."""
    g = torch.Generator(device=device).manual_seed(0)
    for m in module.modules():
        for name, p in list(m.named_parameters(recurse=False)):
            data = torch.empty(p.shape, device=device, dtype=dtype).normal_(0.0, std, generator=g)
            setattr(m, name, nn.Parameter(data, requires_grad=False))
    for m in module.modules():
        for name, b in list(m.named_buffers(recurse=False)):
            m._buffers[name] = torch.zeros(b.shape, device=device, dtype=b.dtype)
    return module.eval()


def grid_for(resolution: str, seconds: float, fps: int, vae_factor: tuple[int, int, int]) -> dict:
    width, height = frame_size(resolution, "16:9", vae_factor[1])
    frames = frames_for_duration(seconds, fps, vae_factor[0])
    latent = (1 + (frames - 1) // vae_factor[0], height // vae_factor[1], width // vae_factor[2])
    return {"resolution": resolution, "video": f"{frames}x{height}x{width}", "latent_grid": list(latent),
            "tokens": latent[0] * latent[1] * latent[2]}


@contextmanager
def kernel_backend(mode: str):
    saved = os.environ.get(kernels.ENV_VAR)
    os.environ[kernels.ENV_VAR] = mode
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(kernels.ENV_VAR, None)
        else:
            os.environ[kernels.ENV_VAR] = saved


def dit_inputs(dit: SeedanceDiT, grid: list[int], batch: int, text_tokens: int, device: torch.device):
    cfg = dit.cfg
    g = torch.Generator(device=device).manual_seed(0)
    x = torch.randn(batch, cfg.in_channels, *grid, generator=g, device=device)
    t = torch.full((batch,), 0.5, device=device)
    text = TextTokens(torch.randn(batch, text_tokens, cfg.text_dim, generator=g, device=device),
                      torch.ones(batch, text_tokens, dtype=torch.bool, device=device),
                      torch.zeros(batch, text_tokens, dtype=torch.long, device=device),
                      torch.arange(text_tokens, device=device).expand(batch, text_tokens))
    return x, t, text


def dit_rows(ctx: Context, resolutions: list[str], compile_at: set[str], name: str = PRESET,
             dtype: torch.dtype = torch.bfloat16, checkpoint: Callable[[list[dict]], None] = lambda rows: None,
             ) -> tuple[list[dict], dict]:
    """Forward rows per resolution (reference and Triton kernels, then compiled where asked);
    `checkpoint(rows)` is called after each resolution, so a long run keeps what it measured."""
    cfg = preset(name)
    with torch.device("meta"):
        dit = SeedanceDiT(cfg.dit)
    dit = materialize(dit, ctx.device, dtype)
    info = {"dit_params": n_params(dit), "hidden_size": cfg.dit.hidden_size, "depth_pairs": cfg.dit.depth,
            "heads": cfg.dit.num_heads, "temporal_window": list(cfg.dit.temporal_window),
            "text_tokens": cfg.text_encoder.max_length}
    rows = []
    for res in resolutions:
        shape = grid_for(res, 5.0, cfg.video.default_fps, cfg.vae.compression)
        x, t, text = dit_inputs(dit, shape["latent_grid"], 1, cfg.text_encoder.max_length, ctx.device)

        def forward():
            with torch.no_grad(), autocast(ctx.device):
                return dit(x, t, text)  # noqa: B023

        results = {}
        for mode in ("reference", "triton"):
            with kernel_backend(mode):
                m = ctx.measure(forward)
            results[mode] = m
            rows.append({**shape, "variant": f"eager, kernels={mode}", **m.row(),
                         "tokens_per_s": round(shape["tokens"] / m.median_s),
                         "cfg_step_s": round(2 * m.median_s, 3),
                         "speedup_vs_reference": round(results["reference"].median_s / m.median_s, 3)})
        out_ref, out_tri = results["reference"].output.float(), results["triton"].output.float()
        rows[-1]["rel_err_vs_reference"] = float((out_tri - out_ref).norm() / out_ref.norm())
        if res in compile_at:
            compile_blocks(dit)
            with kernel_backend("auto"):
                c0 = time.perf_counter()
                forward()
                if ctx.device.type == "cuda":
                    torch.cuda.synchronize()
                first = time.perf_counter() - c0
                m = ctx.measure(forward)
            rows.append({**shape, "variant": "regional compile (inductor), kernels=auto", **m.row(),
                         "tokens_per_s": round(shape["tokens"] / m.median_s), "cfg_step_s": round(2 * m.median_s, 3),
                         "speedup_vs_reference": round(results["reference"].median_s / m.median_s, 3),
                         "first_call_s": round(first, 1),
                         "rel_err_vs_reference": float((m.output.float() - out_ref).norm() / out_ref.norm())})
            dit = dit_uncompiled(dit)
        checkpoint(rows)
    return rows, info


def dit_uncompiled(dit: SeedanceDiT) -> SeedanceDiT:
    for block in [*dit.spatial, *dit.temporal]:
        block._compiled_call_impl = None
    return dit


def vae_rows(ctx: Context, resolution: str, chunk: int, name: str = PRESET,
             dtypes: tuple[torch.dtype, ...] = (torch.float32, torch.bfloat16)) -> tuple[list[dict], dict]:
    cfg = preset(name)
    shape = grid_for(resolution, 5.0, cfg.video.default_fps, cfg.vae.compression)
    g = torch.Generator(device=ctx.device).manual_seed(0)
    z = torch.randn(1, cfg.vae.latent_channels, *shape["latent_grid"], generator=g, device=ctx.device)
    rows, info = [], {}
    variants = [(False, dtypes[0]), (True, dtypes[0])] + [(False, d) for d in dtypes[1:]]
    for thin, dtype in variants:
        with torch.device("meta"):
            vae = CausalVAE(cfg.vae, thin_decoder=thin)
        vae = materialize(vae, ctx.device, dtype, std=0.01)
        info["thin_decoder_params" if thin else "decoder_params"] = n_params(vae.decoder)

        def decode():
            with torch.no_grad():
                return vae.decode_chunked(z.to(dtype), chunk)  # noqa: B023

        m = ctx.measure(decode)
        frames = m.output.shape[2]
        rows.append({**shape, "decoder": "thin" if thin else "full", "dtype": str(dtype).removeprefix("torch."),
                     "chunk_latent_frames": chunk, **m.row(), "frames_per_s": round(frames / m.median_s, 2)})
    full = rows[0]
    for r in rows:
        r["speedup_vs_full_fp32"] = round(full["median_s"] / r["median_s"], 2)
    return rows, info


def preset_gpu(ctx: Context) -> None:
    start = time.perf_counter()
    title = f"{PRESET} preset on GPU: DiT step and VAE decode"
    if ctx.device.type != "cuda":
        rows = [{"part": part, "status": NO_GPU} for part in
                ("DiT forward 480p 5 s", "DiT forward 1080p 5 s", "VAE decode 480p 5 s")]
        write_result(ctx, "preset_gpu", title, rows, notes=["GPU only: the preset's DiT has about 10B parameters."],
                     elapsed_s=time.perf_counter() - start)
        return
    vae, vae_info = vae_rows(ctx, "480p", 2)
    vae = [{"part": "VAE decode", **r} for r in vae]

    def write(dit: list[dict], info: dict | None = None) -> None:
        rows = [{"part": "DiT forward", **r} for r in dit] + vae
        tri = [r for r in dit if r["variant"] == "eager, kernels=triton"]
        goals = [{"goal": f"{PRESET} DiT forward at {r['resolution']} 5 s (GPU, bf16, Triton kernels)",
                  "target": "report", "met": True,
                  "measured": f"{r['median_s']:.2f} s ({r['tokens']:,} tokens); a CFG step {r['cfg_step_s']:.2f} s"}
                 for r in tri]
        thin = next(r for r in vae if r["decoder"] == "thin")
        goals.append({"goal": f"thin decoder >= 1.8x faster than full ({PRESET}, 480p 5 s, fp32)", "target": 1.8,
                      "measured": thin["speedup_vs_full_fp32"], "met": thin["speedup_vs_full_fp32"] >= 1.8})
        write_result(ctx, "preset_gpu", title, rows, goals=goals, notes=PRESET_NOTES,
                     extra={"model": info or {}, **vae_info}, elapsed_s=time.perf_counter() - start)

    write([])
    order = ["480p"] if ctx.smoke else ["1080p", "480p"]  # the compile (slowest to start) last
    dit, info = dit_rows(ctx, order, set() if ctx.smoke else {"480p"}, checkpoint=write)
    write(dit, info)


PRESET_NOTES = [
    "random weights in bf16 (DiT) or the listed dtype (VAE decoder); batch 1 forward under bf16 autocast, "
    "512 caption tokens of width 3584; a CFG step is two such forwards (cond + uncond), so cfg_step_s is 2x "
    "the forward time.",
    "rel_err_vs_reference: ||out - out_reference|| / ||out_reference|| over the whole velocity, the same "
    "bf16 model with the PyTorch reference ops.",
    "VAE: temporal chunks of `chunk_latent_frames` latent frames with the causal cache (decode_chunked), so "
    "peak memory is bounded for any clip length.",
]
