"""The tiny recipe end to end at a very small scale: every stage runs and the bundle loads."""

from __future__ import annotations

import dataclasses
import json

import numpy as np

from seedance.model.bundle import load_bundle
from seedance.model.pipeline import GenerationRequest, SeedancePipeline
from seedance.training.recipes.tiny import TinyRecipe, run_recipe


def smoke_recipe() -> TinyRecipe:
    """Two steps for every stage, found by field name, so a stage added later cannot run at full length here."""
    steps = {f.name: 2 for f in dataclasses.fields(TinyRecipe) if f.name.endswith("_steps")}
    return TinyRecipe(clips64=6, clips32=4, clips128=3, **steps)


def test_smoke_recipe_shrinks_every_budget():
    budgets = dataclasses.asdict(smoke_recipe())
    assert max(v for k, v in budgets.items() if k != "seed") <= 6, budgets


def test_tiny_recipe_smoke(tmp_path):
    recipe = smoke_recipe()
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
