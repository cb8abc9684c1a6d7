"""Configs: presets are consistent, JSON round-trips, and bad configs name the field."""

from __future__ import annotations

import dataclasses
import json

import pytest

from seedance.errors import ConfigError
from seedance.model.config import DiTConfig, ModelConfig, VAEConfig
from seedance.model.presets import PRESETS, preset


@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_round_trip_through_json(name):
    cfg = preset(name)
    assert ModelConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert sum(cfg.dit.rope_split) == cfg.dit.head_dim


def test_production_preset_has_the_papers_vae():
    cfg = preset("seedance-1.0")
    assert cfg.vae.compression == (4, 16, 16) and cfg.vae.latent_channels == 48
    assert cfg.dit.patch_size == (1, 1, 1)  # one latent voxel = one token
    assert cfg.video.base_resolution == "480p" and "1080p" in cfg.video.refine_resolutions


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: VAEConfig(compression=(4, 16, 8)), "vae.compression"),
        (lambda: VAEConfig(compression=(4, 8, 8)), "vae.encoder_channels"),
        (lambda: DiTConfig(hidden_size=100, num_heads=3), "dit.hidden_size"),
        (lambda: DiTConfig(rope_dims=(2, 2, 2, 2)), "dit.rope_dims"),
        (lambda: dataclasses.replace(preset("tiny"), dit=dataclasses.replace(preset("tiny").dit, text_dim=64)),
         "dit.text_dim"),
    ],
)
def test_bad_configs_name_the_field(build, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        build()


def test_unknown_fields_and_presets_are_rejected():
    data = preset("tiny").to_dict()
    data["dit"]["depthh"] = 3
    with pytest.raises(ConfigError, match="depthh"):
        ModelConfig.from_dict(data)
    with pytest.raises(ConfigError, match="unknown preset"):
        preset("huge")


def test_frame_rules():
    vae = preset("tiny").vae
    assert vae.latent_frames(17) == 5 and vae.pixel_frames(5) == 17 and vae.latent_frames(1) == 1
    with pytest.raises(ConfigError, match="1 \\+ 4k"):
        vae.latent_frames(16)
