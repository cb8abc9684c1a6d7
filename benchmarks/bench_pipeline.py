"""Pipeline benchmarks: the tiny default pipeline prompt -> MP4, fast-path variants, vs diffusers WanPipeline."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from bench_dit import wan_matching
from bench_vae import wan_vae_matching
from common import REPO, Context, n_params, write_result

from seedance.model.bundle import build_bundle, default_bundle
from seedance.model.pipeline import GenerationRequest, SeedancePipeline
from seedance.model.pipeline.outputs import save_result
from seedance.model.presets import tiny

PROMPT = "a red circle moves to the right"


def request(ctx: Context, **kw) -> GenerationRequest:
    if ctx.smoke:
        kw = {"frames": 1, "steps": 1, **kw}
    return GenerationRequest(prompt=PROMPT, seed=1, **kw)


def tiny_umt5(target_params: int, vocab: int, max_length: int):
    """A transformers UMT5EncoderModel (Wan's text encoder family) built from a config, random
    weights, with d_ff chosen so its parameter count is closest to `target_params`."""
    from transformers import UMT5Config, UMT5EncoderModel

    def build(d_ff: int, device: str | None = None):
        cfg = UMT5Config(vocab_size=vocab, d_model=128, d_kv=32, d_ff=d_ff, num_layers=2, num_heads=4,
                         relative_attention_num_buckets=32, relative_attention_max_distance=max_length,
                         feed_forward_proj="gated-gelu", dropout_rate=0.0)
        if device == "meta":
            with torch.device("meta"):
                return UMT5EncoderModel(cfg)
        return UMT5EncoderModel(cfg)

    a, b = n_params(build(64, "meta")), n_params(build(128, "meta"))
    d_ff = max(8, round(64 + (target_params - a) * 64 / (b - a)))
    torch.manual_seed(0)
    return build(d_ff).eval(), d_ff


def wan_pipeline(bundle):
    """diffusers WanPipeline from tiny local components matched to our tiny bundle's parameter counts."""
    from diffusers import FlowMatchEulerDiscreteScheduler, WanPipeline

    from seedance.model.text.tokenizer import build_byte_tokenizer

    cfg = bundle.config
    tokenizer = build_byte_tokenizer(cfg.text_encoder.vocab_size)
    text_encoder, d_ff = tiny_umt5(n_params(bundle.text_encoder), cfg.text_encoder.vocab_size,
                                   cfg.text_encoder.max_length)
    transformer, tcfg = wan_matching(bundle.dit, in_channels=cfg.vae.latent_channels)
    vae, base = wan_vae_matching(n_params(bundle.vae.decoder), cfg.vae.latent_channels)
    scheduler = FlowMatchEulerDiscreteScheduler(shift=cfg.sampler.shift)
    pipe = WanPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, scheduler=scheduler,
                       transformer=transformer)
    pipe.set_progress_bar_config(disable=True)
    counts = {"text_encoder": n_params(text_encoder), "transformer": n_params(transformer),
              "vae": n_params(vae), "vae_decoder": n_params(vae.decoder)}
    return pipe, {"umt5_d_ff": d_ff, "transformer": tcfg, "vae_base_dim": base, "params": counts}


def pipeline_bench(ctx: Context) -> None:
    """Ours end to end (prompt -> frames, and -> MP4) with fast-path variants; WanPipeline side by side."""
    start = time.perf_counter()
    req = request(ctx)
    rows, goals, notes, extra = [], [], [], {}
    bundle = build_bundle(tiny(), seed=0, thin_decoder=True).eval()
    ours_params = {"text_encoder": n_params(bundle.text_encoder), "dit": n_params(bundle.dit),
                   "vae": n_params(bundle.vae), "vae_decoder": n_params(bundle.vae.decoder),
                   "thin_decoder": n_params(bundle.thin_vae.decoder)}
    extra["our_params"] = ours_params
    variants = [("ours (plain)", {})]
    if not ctx.smoke:
        variants += [("ours, thin decoder", {"thin_decoder": True}), ("ours, chunked decode (2)", {"decode_chunk": 2})]
    timings = {}
    for label, kw in variants:
        pipe = SeedancePipeline(bundle, device=ctx.device, **kw)
        m = ctx.measure(lambda: pipe.generate(req))  # noqa: B023
        result = m.output
        timings[label] = m.median_s
        rows.append({"pipeline": label, "frames": result.plan.frames, "size": f"{result.plan.width}x"
                     f"{result.plan.height}", "steps": result.plan.steps, "guidance": result.plan.guidance,
                     **m.row(), "stages_s": result.timings})
    # Prompt -> MP4 in-process (generate + write MP4/JSON/PNG), plain pipeline.
    pipe = SeedancePipeline(bundle, device=ctx.device)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "clip.mp4"
        m = ctx.measure(lambda: save_result(pipe.generate(req), out))
        rows.append({"pipeline": "ours (plain) prompt -> MP4 files, in process", "frames": req.frames or 17,
                     **m.row()})
        mp4_s = m.median_s
        if not ctx.smoke:  # the CLI as a user runs it: a new process, imports and model build included
            # Same thread count as this process (a shared machine makes more threads erratic).
            env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
                   "OMP_NUM_THREADS": str(torch.get_num_threads())}
            cli = [str(Path(sys.executable).parent / "seedance"), "generate", PROMPT, "-o", str(out), "--seed", "1",
                   "-q"]
            walls = []
            for _ in range(ctx.reps):
                s = time.perf_counter()
                subprocess.run(cli, check=True, env=env, capture_output=True, cwd=REPO)
                walls.append(time.perf_counter() - s)
            cli_s = float(np.median(walls))
            rows.append({"pipeline": "`seedance generate` CLI, new process (imports + model build included)",
                         "frames": 17, "median_s": round(cli_s, 3), "min_s": round(min(walls), 3),
                         "reps": len(walls), "command": " ".join(["seedance", "generate", repr(PROMPT), "-o",
                                                                   "OUT.mp4", "--seed", "1", "-q"])})
            goals.append({"goal": "tiny default 2 s clip (17 frames @ 8 fps, 64x64), prompt -> MP4 in a few "
                                  "seconds on 2 CPU cores", "target": "a few s",
                          "measured": f"{mp4_s:.2f} s in process, {cli_s:.2f} s CLI wall", "met": mp4_s < 5})
    if ctx.use_diffusers:
        wan, info = wan_pipeline(bundle)
        extra["wan"] = info
        frames = req.frames or bundle.config.video.default_frames
        steps = req.steps or bundle.config.sampler.steps
        guidance = bundle.config.sampler.guidance
        size = 64

        def run_wan():
            return wan(prompt=PROMPT, negative_prompt="", height=size, width=size, num_frames=frames,
                       num_inference_steps=steps, guidance_scale=guidance, output_type="np",
                       max_sequence_length=bundle.config.text_encoder.max_length,
                       generator=torch.Generator().manual_seed(1)).frames

        with torch.no_grad():
            m = ctx.measure(run_wan)
        rows.append({"pipeline": "diffusers WanPipeline (tiny matched components)", "frames": frames,
                     "size": f"{size}x{size}", "steps": steps, "guidance": guidance, **m.row()})
        rows[0]["speedup_vs_wan"] = round(m.median_s / timings["ours (plain)"], 2)
        notes.append("WanPipeline built offline from tiny local components: UMT5EncoderModel from a config "
                     "(random init) with our byte-level tokenizer, WanTransformer3DModel and AutoencoderKLWan "
                     "matched to our parameter counts, FlowMatchEulerDiscreteScheduler (Euler, like ours). Same "
                     "prompt, frames, size, steps and guidance; WanPipeline runs the two CFG branches as two "
                     "forwards, ours as one batch of 2; neither writes files in these rows.")
    else:
        notes.append("diffusers is not installed (or --no-diffusers): WanPipeline was not measured.")
    notes.append("Ours includes the template prompt rewrite and text encoding (once per request: the caption "
                 "embeddings are computed once and reused by every denoise step and both CFG branches).")
    write_result(ctx, "pipeline", "Full pipeline: prompt -> video (tiny preset, random weights)", rows,
                 notes=notes, goals=goals, extra=extra, elapsed_s=time.perf_counter() - start)


def default_bundle_source() -> str:
    return default_bundle().source
