"""`make train-tiny`: train every stage of the tiny model on ShapesWorld and assemble the bundle.

Stages (each resumable; a finished stage is skipped on a rerun, an interrupted one resumes from
its checkpoint):
  data        ShapesWorld clips: 64px (single and multi-shot), 32px (low-res pre-training),
              128px (refiner)
  vae         VAE on random 9-frame 48px crops (L1 + KL + gradient; light adversarial terms in
              the last quarter), reconstruction PSNR on held-out clips; then the thin decoder
              with the encoder frozen, and the full decoder fine-tuned with the encoder frozen and
              its L1 weighted toward the saturated subject pixels
  text        byte-level BPE tokenizer + decoder-only LM on all captions and prompts (EN + ZH)
  prepare     latents + caption embeddings for the DiT and the refiner
  dit         progressive: T2I at 64px -> image+video at 32px -> image+video at 64px ->
              continue-training on the moving subset with I2V at 40% (annealed LR) ->
              a long run on all 64px clips with a 25% T2I share, exported as its weight EMA ->
              a motion stage: the loss weighted toward tokens that change over time
  refiner     initialised from the base DiT, trained at 128px on the upsampled 64px latents
  rewriter    SFT on (prompt -> dense caption), then DPO with LoRA on (correct, wrong) rewrites
  assemble    the final bundle (fp16 safetensors + config + sha256 manifest + this recipe)
  shapebench  the default ShapeBench set on the assembled model, its VAE ceiling and caption
              sensitivity

Run: python -m seedance.training.recipes.tiny --work .cache/train-tiny --model-out model/weights/tiny
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from seedance.training.common.trainer import OptimConfig


@dataclass(frozen=True)
class TinyRecipe:
    """Every budget of the recipe; `scaled(f)` shrinks the step and clip counts (smoke runs)."""

    clips64: int = 2000
    clips32: int = 1000
    clips128: int = 300
    vae_steps: int = 1500
    thin_steps: int = 250
    decoder_steps: int = 600
    text_steps: int = 800
    t2i_steps: int = 600
    low_steps: int = 1200
    base_steps: int = 1600
    ct_steps: int = 600
    long_steps: int = 15000
    motion_steps: int = 2500
    refiner_steps: int = 400
    sft_steps: int = 1200
    dpo_steps: int = 150
    seed: int = 0

    def scaled(self, factor: float) -> TinyRecipe:
        changes = {f.name: max(4, int(getattr(self, f.name) * factor)) for f in dataclasses.fields(self)
                   if f.name != "seed"}
        return dataclasses.replace(self, **changes)


def _optim(steps: int, batch: int, lr: float, schedule: str = "constant", warmup: int = 50,
           ema_decay: float = 0.0) -> OptimConfig:
    return OptimConfig(lr=lr, max_steps=steps, batch_size=batch, warmup_steps=min(warmup, max(1, steps // 10)),
                       schedule=schedule, log_every=max(1, min(50, steps // 20)),
                       checkpoint_every=max(2, min(250, steps // 4)), ema_decay=ema_decay)


class Runner:
    """Runs named stages once, timing them into WORK/recipe_log.json."""

    def __init__(self, work: Path):
        self.work = Path(work)
        self.work.mkdir(parents=True, exist_ok=True)
        self.log_path = self.work / "recipe_log.json"
        self.log = json.loads(self.log_path.read_text()) if self.log_path.exists() else {}

    def stage(self, name: str, fn: Callable[[], object]) -> None:
        if self.log.get(name, {}).get("done"):
            print(f"[train-tiny] {name}: done earlier ({self.log[name]['seconds']:.0f} s), skipped")
            return
        print(f"[train-tiny] {name}: starting")
        start = time.perf_counter()
        fn()
        seconds = time.perf_counter() - start + self.log.get(name, {}).get("seconds", 0.0)
        self.log[name] = {"done": True, "seconds": round(seconds, 1)}
        self.log_path.write_text(json.dumps(self.log, indent=2) + "\n")
        print(f"[train-tiny] {name}: finished in {seconds:.0f} s")


def run_recipe(recipe: TinyRecipe, work: Path, model_out: Path, progress: bool = True,
               shapebench: bool = True) -> dict:
    from seedance.training.recipes import tiny_stages as s

    runner = Runner(work)
    w = runner.work
    runner.stage("data", lambda: s.make_data(recipe, w))
    runner.stage("vae", lambda: s.train_vae_stage(recipe, w, progress))
    runner.stage("vae_thin", lambda: s.train_thin_stage(recipe, w, progress))
    runner.stage("vae_decoder", lambda: s.train_decoder_stage(recipe, w, progress))
    runner.stage("text", lambda: s.train_text_stage(recipe, w, progress))
    runner.stage("bundle0", lambda: s.first_bundle(w))
    runner.stage("prepare", lambda: s.prepare_all(w, progress))
    for name, stage_fn in s.dit_stages(recipe, w):
        runner.stage(name, lambda stage_fn=stage_fn: stage_fn(progress))
    runner.stage("rewriter_sft", lambda: s.rewriter_sft(recipe, w, progress))
    runner.stage("rewriter_dpo", lambda: s.rewriter_dpo(recipe, w, progress))
    runner.stage("assemble", lambda: s.assemble(recipe, w, Path(model_out)))
    if shapebench:
        runner.stage("shapebench", lambda: s.shapebench(Path(model_out), w, progress))
    total = sum(v["seconds"] for v in runner.log.values())
    print(f"[train-tiny] all stages done in {total / 60:.1f} min; model in {model_out}")
    return runner.log


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m seedance.training.recipes.tiny",
                                     description="Train the tiny model on ShapesWorld, end to end.")
    parser.add_argument("--work", default=".cache/train-tiny", help="working folder (data, checkpoints, logs)")
    parser.add_argument("--model-out", default="model/weights/tiny", help="where the assembled bundle goes")
    parser.add_argument("--scale", type=float, default=1.0, help="scale every step and clip count (smoke runs)")
    parser.add_argument("--no-shapebench", action="store_true", help="skip the final ShapeBench run")
    parser.add_argument("--fresh", action="store_true", help="delete the working folder first")
    args = parser.parse_args(argv)
    if args.fresh and Path(args.work).exists():
        shutil.rmtree(args.work)
    recipe = TinyRecipe().scaled(args.scale) if args.scale != 1.0 else TinyRecipe()
    run_recipe(recipe, Path(args.work), Path(args.model_out), shapebench=not args.no_shapebench)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
