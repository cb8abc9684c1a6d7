"""VAE benchmarks: our decode vs diffusers' AutoencoderKLWan, thin vs full decoder, chunked decode."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import numpy as np
import torch
from common import REPO, Context, n_params, write_result

from seedance.model.presets import tiny
from seedance.model.vae import CausalVAE

# The trained tiny bundle; SEEDANCE_BENCH_MODEL points at another bundle directory (e.g. a training
# run's intermediate WORK/bundle0, which holds the trained VAE and thin decoder).
TRAINED_DIR = Path(os.environ.get("SEEDANCE_BENCH_MODEL", REPO / "model" / "weights" / "tiny"))


def our_vaes(seed: int = 0) -> tuple[CausalVAE, CausalVAE, str]:
    """(full, thin) sharing one encoder: the trained tiny weights when shipped, else random."""
    if (TRAINED_DIR / "vae_thin_decoder.safetensors").is_file():
        from seedance.model.bundle import load_bundle

        bundle = load_bundle(TRAINED_DIR, thin_decoder=True)
        where = TRAINED_DIR.relative_to(REPO) if TRAINED_DIR.is_relative_to(REPO) else TRAINED_DIR
        return bundle.vae.eval(), bundle.thin_vae.eval(), f"trained ({where})"
    cfg = tiny().vae
    torch.manual_seed(seed)
    full = CausalVAE(cfg).eval()
    thin = CausalVAE(cfg, thin_decoder=True).eval()
    thin.encoder.load_state_dict(full.encoder.state_dict())
    return full, thin, "random init"


def decoder_gmacs(vae: CausalVAE, latent_shape: tuple[int, ...]) -> float:
    """Multiply-accumulates of one decode, counted from every conv's output on the meta device."""
    with torch.device("meta"):
        meta = CausalVAE(vae.cfg, thin_decoder=vae.thin_decoder)
    total = 0

    def hook(module: torch.nn.Conv3d, _inp, out: torch.Tensor) -> None:
        nonlocal total
        total += out.numel() * module.in_channels * math.prod(module.kernel_size) // module.groups

    handles = [m.register_forward_hook(hook) for m in meta.decoder.modules() if isinstance(m, torch.nn.Conv3d)]
    with torch.no_grad():
        meta.decoder(torch.empty(latent_shape, device="meta"))
    for h in handles:
        h.remove()
    return total / 1e9


def wan_vae_matching(target_decoder_params: int, z_dim: int):
    """diffusers AutoencoderKLWan (Wan 2.1 layout: 4x8x8, causal 3D convs, mid attention) with the
    base width (multiple of 4) whose decoder parameter count is closest to ours; random weights."""
    from diffusers import AutoencoderKLWan

    def build(base: int, device: str | None = None):
        kw = dict(base_dim=base, z_dim=z_dim, latents_mean=[0.0] * z_dim, latents_std=[1.0] * z_dim)
        if device == "meta":
            with torch.device("meta"):
                return AutoencoderKLWan(**kw)
        return AutoencoderKLWan(**kw)

    best = min(range(8, 97, 4), key=lambda b: abs(n_params(build(b, "meta").decoder) - target_decoder_params))
    torch.manual_seed(0)
    return build(best).eval(), best


def vae_decode(ctx: Context) -> None:
    """Decode time at matched latent shapes: ours (full, thin, chunked) vs AutoencoderKLWan."""
    start = time.perf_counter()
    full, thin, weights = our_vaes()
    full, thin = full.to(ctx.device), thin.to(ctx.device)
    c = full.cfg.latent_channels
    shapes = [(2, 2, 2)] if ctx.smoke else [(5, 8, 8), (9, 8, 8)]
    notes = [f"our VAE weights: {weights}. Latent [1, C, t, h, w] -> video [1, 3, 1+4(t-1), 8h, 8w] for both "
             f"(both 4x8x8 causal). Our latent has {c} channels; Wan is built with z_dim={c} too, so the "
             "shapes match exactly.",
             "Wan's decode runs one latent frame at a time with its own causal feature cache (its standard "
             "path), so 'ours, chunked (1 latent frame)' is the like-for-like row.",
             "`CausalVAE.decode` in inference runs the decoder's layers through model/vae/streaming.py in one "
             "chunk, whose CPU convs always use oneDNN; 'module forward' rows call `vae.decoder(z)` (the "
             "training path), where PyTorch sends batch-1 3x3x3 convs with B*C*T*H <= 20480 (short clips, "
             "narrow thin-decoder levels) to its slower im2col kernel."]
    wan = None
    extra = {"our_decoder_params": n_params(full.decoder), "our_thin_decoder_params": n_params(thin.decoder)}
    if ctx.use_diffusers:
        wan, base = wan_vae_matching(n_params(full.decoder), c)
        wan = wan.to(ctx.device)
        extra.update({"wan_base_dim": base, "wan_decoder_params": n_params(wan.decoder),
                      "wan_z_dim": c})
    else:
        notes.append("diffusers is not installed (or --no-diffusers): only our decoders were measured.")
    rows, goals = [], []
    for shape in shapes:
        z = torch.randn(1, c, *shape, generator=torch.Generator().manual_seed(0)).to(ctx.device)
        frames = 1 + 4 * (shape[0] - 1)
        px = f"{frames}x{shape[1] * 8}x{shape[2] * 8}"
        gmacs = {"full": decoder_gmacs(full, tuple(z.shape)), "thin": decoder_gmacs(thin, tuple(z.shape))}
        variants = [("ours, full decoder", n_params(full.decoder), lambda: full.decode(z)),  # noqa: B023
                    ("ours, thin decoder", n_params(thin.decoder), lambda: thin.decode(z)),  # noqa: B023
                    ("ours, full, module forward (PyTorch's conv choice)", n_params(full.decoder),
                     lambda: full.decoder(z)),  # noqa: B023
                    ("ours, thin, module forward (PyTorch's conv choice)", n_params(thin.decoder),
                     lambda: thin.decoder(z)),  # noqa: B023
                    ("ours, full, chunked (1 latent frame)", n_params(full.decoder),
                     lambda: full.decode_chunked(z, 1)),  # noqa: B023
                    ("ours, full, chunked (2 latent frames)", n_params(full.decoder),
                     lambda: full.decode_chunked(z, 2))]  # noqa: B023
        if wan is not None:
            variants.append(("diffusers AutoencoderKLWan", n_params(wan.decoder),
                             lambda: wan.decode(z, return_dict=False)[0]))  # noqa: B023
        times = {}
        for label, params, fn in variants:
            with torch.no_grad():
                m = ctx.measure(fn)
            times[label] = m.median_s
            macs = gmacs["thin"] if "thin" in label else gmacs["full"] if label.startswith("ours") else None
            if "module forward" in label:
                macs = None
            rows.append({"decoder": label, "decoder_params": params, "conv_gmacs": round(macs, 2) if macs else None,
                         "latent": [c, *shape], "video": px, **m.row(), "frames_per_s": round(frames / m.median_s, 1)})
        ratio = times["ours, full decoder"] / times["ours, thin decoder"]
        rows[-len(variants) + 1]["speedup_vs_full"] = round(ratio, 2)
        rows[-len(variants) + 3]["speedup_vs_full"] = round(
            times["ours, full, module forward (PyTorch's conv choice)"]
            / times["ours, thin, module forward (PyTorch's conv choice)"], 2)
        goals.append({"goal": f"thin decoder >= 1.8x faster than full ({px})", "target": 1.8,
                      "measured": round(ratio, 2), "met": ratio >= 1.8})
        if wan is not None:
            rows[-len(variants)]["speedup_vs_wan"] = round(times["diffusers AutoencoderKLWan"]
                                                         / times["ours, full decoder"], 2)
    psnr = thin_vs_full_psnr(full, thin, weights, ctx)
    goals.append({"goal": "thin decoder within 0.5 dB PSNR of full", "target": 0.5,
                  "measured": psnr.get("gap_db", psnr.get("status")), "met": psnr.get("met")})
    extra["psnr"] = psnr
    write_result(ctx, "vae_decode", "VAE decode: ours (full / thin / chunked) vs diffusers AutoencoderKLWan",
                 rows, notes=notes, goals=goals, extra=extra, elapsed_s=time.perf_counter() - start)


def psnr_db(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR of two videos in [-1, 1] (peak-to-peak 2)."""
    mse = (a.clamp(-1, 1) - b.clamp(-1, 1)).pow(2).mean().item()
    return float("inf") if mse == 0 else 10 * math.log10(4.0 / mse)


def thin_vs_full_psnr(full: CausalVAE, thin: CausalVAE, weights: str, ctx: Context) -> dict:
    """Reconstruction PSNR of both decoders on ShapesWorld clips; only meaningful with trained weights."""
    if not weights.startswith("trained"):
        return {"status": "not measured: needs trained VAE weights (model/weights/tiny/ has none); with random "
                          "weights both decoders output noise and their PSNR says nothing", "met": None}
    from seedance.model.conditioning import frames_to_video_tensor
    from seedance.training.data.shapesworld import generate

    full_p, thin_p = [], []
    for _spec, frames in generate(1 if ctx.smoke else 4, seed=1234):
        video = frames_to_video_tensor(np.asarray(frames)).to(ctx.device)
        with torch.no_grad():
            z = full.encode(video).mode()
            full_p.append(psnr_db(full.decode(z), video))
            thin_p.append(psnr_db(thin.decode(z), video))
    f, t = float(np.mean(full_p)), float(np.mean(thin_p))
    return {"full_db": round(f, 2), "thin_db": round(t, 2), "gap_db": round(f - t, 2), "clips": len(full_p),
            "met": f - t <= 0.5}


def vae_chunk_scaling(ctx: Context) -> None:
    """Decode time and peak memory vs clip length: one-shot decode vs chunked (2 latent frames)."""
    start = time.perf_counter()
    full, _thin, weights = our_vaes()
    full = full.to(ctx.device)
    c = full.cfg.latent_channels
    lengths = [2] if ctx.smoke else [5, 9, 17]
    hw = (2, 2) if ctx.smoke else (8, 8)
    rows = []
    for t in lengths:
        z = torch.randn(1, c, t, *hw, generator=torch.Generator().manual_seed(0)).to(ctx.device)
        frames = 1 + 4 * (t - 1)
        with torch.no_grad():
            ref = full.decode(z)
            variants = [("one shot", lambda: full.decode(z)),  # noqa: B023
                        ("chunked, 2 latent frames", lambda: full.decode_chunked(z, 2))]  # noqa: B023
            if ctx.smoke:  # tiles only pay above ~2 x 15 latent pixels (the halo): exercised, not timed
                variants.append(("chunked 2 + tiled 1x1", lambda: full.decode_chunked(z, 2, tile=1)))  # noqa: B023
            for label, fn in variants:
                m = ctx.measure(fn)
                err = (m.output - ref).abs().max().item()
                rows.append({"decode": label, "latent": [c, t, *hw], "video": f"{frames}x{hw[0] * 8}x{hw[1] * 8}",
                             **m.row(), "max_abs_err_vs_one_shot": err,
                             "output_mb": round(ref.numel() * ref.element_size() / 2**20, 1)})
    write_result(ctx, "vae_chunk_scaling", "VAE decode memory vs clip length: one shot vs chunked", rows,
                 notes=[f"weights: {weights}. peak_mem_mb is the process's RSS growth during one decode and "
                        "includes the output video itself (output_mb); chunked decode bounds the activations, "
                        "not the output, which iter_decode() can stream instead. Spatial tiling is exact with "
                        "a 15-latent-pixel halo for the tiny decoder, so it only pays above ~64x64 latents "
                        "(512 px); it is tested (tests/test_vae_fast.py), not timed here."],
                 elapsed_s=time.perf_counter() - start)
