"""Helpers shared by CLI subcommands: loading the model a user points at."""

from __future__ import annotations

import os
import sys

from seedance.model.bundle import ModelBundle, default_bundle, default_config, load_bundle, read_config
from seedance.model.config import ModelConfig

RANDOM_WEIGHTS_NOTE = (
    "note: no trained weights are embedded yet, so this uses the tiny preset with random weights: "
    "the video is valid but meaningless."
)


def load_model(model_dir: str | None) -> ModelBundle:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub
    bundle = load_bundle(model_dir) if model_dir else default_bundle()
    if bundle.source.startswith("random"):
        print(RANDOM_WEIGHTS_NOTE, file=sys.stderr)
    return bundle


def model_config(model_dir: str | None) -> ModelConfig:
    """The config of the model a user points at, read without loading weights (fast validation)."""
    return read_config(model_dir) if model_dir else default_config()
