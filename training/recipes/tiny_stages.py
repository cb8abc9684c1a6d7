"""The stages of the tiny recipe (tiny.py): each builds a config for a pipeline and runs it."""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import load_file

from seedance.model.bundle import build_bundle, load_bundle, save_bundle, write_manifest
from seedance.model.config import RewriterConfig, TextEncoderConfig
from seedance.model.presets import tiny
from seedance.model.text import load_tokenizer
from seedance.model.vae import CausalVAE
from seedance.training.data.prepare import prepare_shapesworld
from seedance.training.data.shapesworld import write_dataset
from seedance.training.dit import DiTStageConfig, TaskMix, train_stage
from seedance.training.recipes.tiny import TinyRecipe, _optim
from seedance.training.rewriter import RewriterDPOConfig, RewriterSFTConfig, train_dpo, train_sft
from seedance.training.rewriter.shapesworld import write_rewriter_rows
from seedance.training.text_encoder import TextEncoderTrainConfig, train_text_encoder
from seedance.training.vae import VAETrainConfig, train_vae

WORLD = {"multishot_share": 0.25, "static_share": 0.1, "camera_share": 0.3, "close_share": 0.2}


def make_data(r: TinyRecipe, w: Path) -> None:
    write_dataset(w / "data" / "s64", r.clips64, seed=r.seed, **WORLD)
    write_dataset(w / "data" / "s32", r.clips32, seed=r.seed + 1, width=32, height=32, **WORLD)
    write_dataset(w / "data" / "s128", r.clips128, seed=r.seed + 2, width=128, height=128, **WORLD)


def train_vae_stage(r: TinyRecipe, w: Path, progress: bool) -> None:
    # Adversarial terms only in the last quarter and light: at fm_weight 0.5 feature matching
    # (~2.0) outweighed L1 (~0.25) the moment it switched on, in the first full run.
    # Batch 8 at 5e-4: on an H100 probe of this VAE (L1 + KL, 48px 9-frame crops) it reached
    # 26.5 dB held-out PSNR after 2000 steps, ahead of batch 4 at 3e-4 for the same samples seen;
    # the cosine anneal takes the last stretch.
    cfg = VAETrainConfig(data=str(w / "data" / "s64"), frames=17, crop_frames=9, crop_size=48,
                         adv_start=r.vae_steps * 3 // 4, adv_weight=0.02, fm_weight=0.05,
                         optim=_optim(r.vae_steps, 8, 5e-4, schedule="cosine"))
    train_vae(cfg, w / "vae", progress=progress)
    report = write_vae_quality(w / "vae", w)
    print(f"[train-tiny] VAE reconstruction on held-out clips: PSNR {report['psnr_db']:.2f} dB, "
          f"L1 {report['l1']:.4f} (aim: > 30 dB before the DiT stages)")


def write_vae_quality(run: Path, w: Path) -> dict[str, float]:
    """vae_quality of RUN/vae.safetensors on the 128px clips, also written to RUN/eval.json."""
    report = vae_quality(run / "vae.safetensors", w / "data" / "s128")
    (run / "eval.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


@torch.no_grad()
def vae_quality(weights: Path, held_out: Path, count: int = 8) -> dict[str, float]:
    """Reconstruction PSNR / L1 of the trained VAE on clips it never saw (another world seed,
    128px: the VAE is convolutional, so a different size is also a generalisation check)."""
    from seedance.training.data.clips import VideoClips

    vae = CausalVAE(tiny().vae)
    vae.load_state_dict(load_file(weights))
    clips = VideoClips(held_out, 17, limit=count)
    x = clips.batch(list(range(len(clips))))[:, :, :9]
    rec = vae.eval().decode(vae.encode(x).mode()).clamp(-1, 1)
    mse = float(((rec - x) / 2).pow(2).mean())
    return {"psnr_db": round(10 * math.log10(1.0 / max(mse, 1e-12)), 2), "l1": round(float((rec - x).abs().mean()), 4),
            "clips": len(clips)}


def train_thin_stage(r: TinyRecipe, w: Path, progress: bool) -> None:
    cfg = VAETrainConfig(data=str(w / "data" / "s64"), name="vae-thin", frames=17, crop_frames=9, crop_size=48,
                         thin_decoder=True, init_from=str(w / "vae"), adv_start=r.thin_steps * 3 // 4,
                         adv_weight=0.02, fm_weight=0.05, optim=_optim(r.thin_steps, 4, 5e-4))
    train_vae(cfg, w / "vae_thin", progress=progress)


def train_decoder_stage(r: TinyRecipe, w: Path, progress: bool) -> None:
    # The VAE stage's decoder shifts the subject's hue and blurs its outline (ShapeBench's VAE
    # ceiling: colour 50%); 300 steps of this at weight 4 took colour to 69% (at weight 0: 53%)
    # with the same encoder, so the DiT's latents stay valid. Whole 17-frame clips, not the VAE
    # stage's 9-frame crops: a decoder trained on 3 latent frames breaks the subject up in the
    # 4th and 5th (PSNR 27 dB at frame 8, 22 dB at frame 16), and a moving subject read over the
    # whole clip kept its direction in 3 of 32 clips; 150 steps on 17 frames made it 22 of 32
    # (session 13). 600 steps, not 300: the second 300 took the ceiling's colour from 69% to 88%
    # and its direction from 75% to 84% (docs/TRAINING.md, session 14).
    cfg = VAETrainConfig(data=str(w / "data" / "s64"), name="vae-decoder", frames=17, crop_frames=17, crop_size=48,
                         decoder_only=True, init_from=str(w / "vae"), subject_weight=4.0, adv_weight=0.0,
                         optim=_optim(r.decoder_steps, 8, 2e-4, schedule="cosine"))
    train_vae(cfg, w / "vae_decoder", progress=progress)
    report = write_vae_quality(w / "vae_decoder", w)
    print(f"[train-tiny] fine-tuned decoder on held-out clips: PSNR {report['psnr_db']:.2f} dB")


def train_text_stage(r: TinyRecipe, w: Path, progress: bool) -> None:
    cfg = TextEncoderTrainConfig(data=str(w / "data" / "s64"), tokenizer_vocab=512,
                                 optim=_optim(r.text_steps, 32, 2e-3))
    train_text_encoder(cfg, w / "text", progress=progress)


def first_bundle(w: Path) -> None:
    """Trained VAE (+ its latent stats) and text encoder, random DiT: what `prepare` encodes with."""
    stats = json.loads((w / "vae" / "latent_stats.json").read_text())
    te_cfg = TextEncoderConfig(**json.loads((w / "text" / "text_encoder_config.json").read_text()))
    base = tiny()
    cfg = dataclasses.replace(base, text_encoder=te_cfg, vae=dataclasses.replace(
        base.vae, latent_mean=tuple(stats["latent_mean"]), latent_std=tuple(stats["latent_std"])))
    bundle = build_bundle(cfg, thin_decoder=True)
    bundle.vae.load_state_dict(load_file(w / "vae" / "vae.safetensors"))
    bundle.thin_vae.encoder.load_state_dict(bundle.vae.encoder.state_dict())
    bundle.thin_vae.decoder.load_state_dict(load_file(w / "vae_thin" / "vae_thin_decoder.safetensors"))
    bundle.text_encoder.tokenizer = load_tokenizer(te_cfg, w / "text")
    bundle.text_encoder.load_state_dict(load_file(w / "text" / "text_encoder.safetensors"))
    save_bundle(bundle, w / "bundle0")


def prepare_all(w: Path, progress: bool) -> None:
    model = w / "bundle0"
    prepare_shapesworld(w / "data" / "s64", model, w / "prep" / "64p", progress=progress)
    prepare_shapesworld(w / "data" / "s32", model, w / "prep" / "32p", progress=progress)
    prepare_shapesworld(w / "data" / "s128", model, w / "prep" / "128p", lowres=(64, 64), progress=progress)


def dit_stages(r: TinyRecipe, w: Path) -> list[tuple[str, Callable[[bool], object]]]:
    """Progressive pre-training, continue-training, then the refiner."""
    model = str(w / "bundle0")
    prep = w / "prep"
    specs = [
        ("dit_t2i", dict(data=prep / "64p", mix=TaskMix(t2i=1.0, i2v=0.0), optim=_optim(r.t2i_steps, 32, 5e-4))),
        ("dit_low", dict(data=prep / "32p", init_from=w / "dit_t2i", mix=TaskMix(t2i=0.05, i2v=0.2),
                         optim=_optim(r.low_steps, 16, 5e-4))),
        ("dit_base", dict(data=prep / "64p", init_from=w / "dit_low", mix=TaskMix(t2i=0.05, i2v=0.2),
                          optim=_optim(r.base_steps, 8, 5e-4))),
        ("dit_ct", dict(data=prep / "64p", init_from=w / "dit_base", motion_only=True,
                        mix=TaskMix(t2i=0.05, i2v=0.4), optim=_optim(r.ct_steps, 8, 3e-4, schedule="cosine"))),
        # The stages above leave the DiT undertrained; this one is most of its compute (~1 h 50 min
        # on 2 cores). At 10,250 steps its EMA drew the prompt's colour in 75% of 96 T2V prompts
        # against 51% for dit_ct (through the fine-tuned decoder; the old decoder hid the gain).
        ("dit_long", dict(data=prep / "64p", init_from=w / "dit_ct", mix=TaskMix(t2i=0.25, i2v=0.3),
                          optim=_optim(r.long_steps, 8, 3e-4, schedule="cosine", ema_decay=0.999))),
        # Motion: the long stage's samples barely moved (median subject speed half the analyzer's
        # static threshold). Weighting the loss toward tokens that change over time (motion_weight)
        # made them move more (median 0.021 -> 0.037 frame widths/s at 1,000 steps) and raised
        # colour and shape; the direction is still not the prompt's (docs/TRAINING.md).
        ("dit_motion", dict(data=prep / "64p", init_from=w / "dit_long", motion_weight=4.0,
                            mix=TaskMix(t2i=0.1, i2v=0.3),
                            optim=_optim(r.motion_steps, 8, 2e-4, schedule="cosine", ema_decay=0.998))),
        ("refiner", dict(data=prep / "128p", init_from=w / "dit_ct", refiner=True, mix=TaskMix(t2i=0.05, i2v=0.2),
                         optim=_optim(r.refiner_steps, 4, 3e-4))),
    ]
    stages = []
    for name, kw in specs:
        kw = {k: str(v) if isinstance(v, Path) else v for k, v in kw.items()}
        # Trained at shift 1 (the shipped DiT was); the preset samples at shift 3, which a sweep
        # of the trained DiT chose (docs/TRAINING.md, session 10).
        cfg = DiTStageConfig(name=name, model=model, timestep_shift=1.0, **kw)
        stages.append((name, lambda progress, cfg=cfg, name=name: train_stage(cfg, w / name, progress=progress)))
    return stages


def rewriter_sft(r: TinyRecipe, w: Path, progress: bool) -> None:
    rows = write_rewriter_rows(w / "data" / "s64", w / "rewriter_rows.jsonl")
    train_sft(RewriterSFTConfig(data=str(rows), optim=_optim(r.sft_steps, 32, 2e-3)),
              w / "rewriter_sft", progress=progress)


def rewriter_dpo(r: TinyRecipe, w: Path, progress: bool) -> None:
    cfg = RewriterDPOConfig(data=str(w / "rewriter_rows.jsonl"), sft_model=str(w / "rewriter_sft"),
                            optim=_optim(r.dpo_steps, 16, 5e-4))
    train_dpo(cfg, w / "rewriter_dpo", progress=progress)


def assemble(r: TinyRecipe, w: Path, out: Path) -> None:
    """The shipped bundle: fp16 weights, the trained rewriter, the recipe, a sha256 manifest."""
    bundle = load_bundle(w / "bundle0", thin_decoder=True)
    rewriter = RewriterConfig(backend="transformers", path="rewriter", num_beams=4)  # 4 beams: see RewriterConfig
    bundle.config = dataclasses.replace(bundle.config, rewriter=rewriter)
    bundle.vae.load_state_dict(load_file(w / "vae_decoder" / "vae.safetensors"))  # same encoder as bundle0's
    bundle.dit.load_state_dict(load_file(w / "dit_motion" / "dit.safetensors"))
    bundle.refiner.load_state_dict(load_file(w / "refiner" / "refiner.safetensors"))
    staging = out.with_name(out.name + ".staging")
    shutil.rmtree(staging, ignore_errors=True)
    save_bundle(bundle, staging, dtype=torch.float16)
    shutil.copytree(w / "rewriter_dpo" / "model", staging / "rewriter")
    log = json.loads((w / "recipe_log.json").read_text()) if (w / "recipe_log.json").exists() else {}
    (staging / "training.json").write_text(json.dumps({"recipe": dataclasses.asdict(r), "stages": log}, indent=2) + "\n")
    write_manifest(staging)
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)


def shapebench(model: Path, w: Path, progress: bool) -> None:
    from seedance.model.pipeline import SeedancePipeline
    from seedance.training.eval.ceiling import format_ceiling, vae_ceiling
    from seedance.training.eval.prompts import DEFAULT_PROMPTS, load_prompts
    from seedance.training.eval.sensitivity import caption_sensitivity, format_sensitivity
    from seedance.training.eval.shapebench import format_table, run_shapebench

    pipeline = SeedancePipeline(load_bundle(model))
    report = run_shapebench(pipeline, load_prompts(DEFAULT_PROMPTS), progress=progress)
    report["vae_ceiling"] = vae_ceiling(pipeline, count=32)  # what the VAE alone lets through
    report["caption_sensitivity"] = caption_sensitivity(pipeline, count=24)  # which caption words the DiT reads
    (w / "shapebench.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(format_table(report))
    print(format_ceiling(report["vae_ceiling"]))
    print(format_sensitivity(report["caption_sensitivity"]))
