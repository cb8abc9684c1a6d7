"""The tiny recipe end to end at a very small scale: every stage runs and the bundle loads."""

from __future__ import annotations

import json

import numpy as np

from seedance.model.bundle import load_bundle
from seedance.model.pipeline import GenerationRequest, SeedancePipeline
from seedance.training.recipes.tiny import TinyRecipe, run_recipe


def test_tiny_recipe_smoke(tmp_path):
    recipe = TinyRecipe(clips64=6, clips32=4, clips128=3, vae_steps=2, thin_steps=2, text_steps=2, t2i_steps=2,
                        low_steps=2, base_steps=2, ct_steps=2, refiner_steps=2, sft_steps=2, dpo_steps=2)
    log = run_recipe(recipe, tmp_path / "work", tmp_path / "model", progress=False, shapebench=False)
    assert all(stage["done"] for stage in log.values())
    model = tmp_path / "model"
    manifest = json.loads((model / "manifest.json").read_text())["files"]
    assert "rewriter/config.json" in manifest and "dit.safetensors" in manifest and "tokenizer.json" in manifest
    bundle = load_bundle(model)
    assert bundle.config.rewriter.backend == "transformers"
    result = SeedancePipeline(bundle).generate(GenerationRequest("a red circle moving right", frames=5, steps=1,
                                                                 seed=0))
    assert result.frames.shape == (5, 64, 64, 3) and result.captions[0].backend == "transformers"
    assert np.isfinite(result.frames).all()
    # a rerun skips every finished stage
    assert run_recipe(recipe, tmp_path / "work", tmp_path / "model", progress=False, shapebench=False) == log
