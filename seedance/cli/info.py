"""`seedance info`: a model's configuration and parameter counts, and those of every preset."""

from __future__ import annotations

import argparse
import json

from seedance.model.bundle import CONFIG_FILE, EMBEDDED_DIR, parameter_counts, read_config
from seedance.model.config import ModelConfig
from seedance.model.presets import PRESETS, preset


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="show configs and parameter counts",
                       description="Show a model's configuration and parameter counts per component, and the "
                                   "counts of the three presets (built on the meta device: no memory needed).")
    p.add_argument("--model", metavar="DIR", help="model directory (default: the embedded model)")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.set_defaults(run=run)


def human(n: int) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.2f}{unit}"
    return str(n)


def describe(cfg: ModelConfig) -> list[str]:
    v, d, t = cfg.vae, cfg.dit, cfg.text_encoder
    lines = [
        f"  VAE           compression {v.compression} (t, h, w), {v.latent_channels} latent channels, "
        f"encoder channels {v.encoder_channels}, thin decoder {v.thin_decoder_channels}",
        f"  text encoder  {t.model_type}: {t.num_layers} layers x {t.hidden_size}, vocab {t.vocab_size}, "
        f"tokenizer {t.tokenizer}, max {t.max_length} tokens, "
        f"{'last layer' if t.hidden_layer == -1 else f'layer {t.hidden_layer}'} to the DiT",
        f"  DiT           {d.depth} (spatial, temporal) pairs x {d.hidden_size} wide, {d.num_heads} heads, "
        f"temporal window {d.temporal_window}, patch {d.patch_size}, RoPE (seq, t, h, w) dims {d.rope_split}, "
        f"pooled caption in adaLN {d.text_pool if d.pooled_text else 'off'}",
    ]
    if cfg.refiner is not None:
        lines.append(f"  refiner       {cfg.refiner.depth} pairs x {cfg.refiner.hidden_size}, "
                     f"+{cfg.refiner.extra_in_channels} low-res latent channels")
    vid = cfg.video
    lines.append(f"  video         base {vid.base_resolution}, refine to {', '.join(vid.refine_resolutions) or '-'}, "
                 f"default {vid.default_frames} frames @ {vid.default_fps} fps, ratio {vid.default_ratio}")
    lines.append(f"  sampler       {cfg.sampler.steps} steps, guidance {cfg.sampler.guidance}, shift {cfg.sampler.shift}, "
                 f"rewriter {cfg.rewriter.backend}")
    return lines


def table(counts: dict[str, int]) -> list[str]:
    rows = [f"    {name:<18} {n:>15,}  ({human(n)})" for name, n in counts.items()]
    total = sum(n for k, n in counts.items() if k != "vae_thin_decoder")
    rows.append(f"    {'total':<18} {total:>15,}  ({human(total)})  (thin decoder not counted)")
    return rows


def run(args: argparse.Namespace) -> int:
    if args.model:
        cfg, source = read_config(args.model), args.model
    elif (EMBEDDED_DIR / CONFIG_FILE).is_file():
        cfg, source = read_config(EMBEDDED_DIR), f"embedded ({EMBEDDED_DIR})"
    else:
        cfg, source = preset("tiny"), "embedded: no trained weights yet (tiny preset, random init)"
    presets = {name: parameter_counts(preset(name)) for name in PRESETS}
    if args.json:
        print(json.dumps({"model": {"source": source, "config": cfg.to_dict(), "parameters": parameter_counts(cfg)},
                          "presets": presets}, indent=2))
        return 0
    print(f"model: {cfg.name}  [{source}]")
    print("\n".join(describe(cfg)))
    print("  parameters:")
    print("\n".join(table(parameter_counts(cfg))))
    print("\npresets (parameter counts from a meta-device build):")
    for name, counts in presets.items():
        print(f"  {name}")
        print("\n".join(table(counts)))
    return 0
