"""Offline preparation of ShapesWorld clips into latents + caption embeddings."""

from __future__ import annotations

import torch

from seedance.model.bundle import build_bundle, save_bundle
from seedance.model.presets import tiny
from seedance.training.data.latents import LatentBuckets
from seedance.training.data.prepare import latent_frame_shots, prepare_shapesworld
from seedance.training.data.shapesworld import read_manifest, write_dataset


def test_latent_frame_shots_follow_the_causal_layout():
    # 33 frames cut at 17: latent 0-4 cover pixels 0..16, latents 5-8 cover 17..32
    assert latent_frame_shots([[0, 17], [17, 33]], 9, 4).tolist() == [0] * 5 + [1] * 4
    assert latent_frame_shots([[0, 9], [9, 21], [21, 33]], 9, 4).tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]


def test_prepare_shapesworld_writes_a_training_set(tmp_path):
    write_dataset(tmp_path / "clips", 4, seed=3, multishot_share=0.5)
    model = save_bundle(build_bundle(tiny()), tmp_path / "model")
    out = prepare_shapesworld(tmp_path / "clips", model, tmp_path / "prep", lowres=(32, 32), progress=False)
    rows = read_manifest(tmp_path / "clips" / "manifest.jsonl")
    data = LatentBuckets(out)
    assert sum(data.sizes) == 4 and len(data.buckets) == len({r["frames"] for r in rows})
    for ds in data.buckets:
        assert ds.latent_shape[0] == 8 and ds.lowres.shape == ds.latents.shape
        assert torch.isfinite(ds.latents.float()).all() and ds.mask.any(1).all()
        for i in range(len(ds)):
            shots = len(ds.caption_rows(i, "t2v_en"))
            assert shots == len(ds.caption_rows(i, "i2v_zh")) == int(ds.frame_shot[i].max()) + 1
    multi = [ds for ds in data.buckets if ds.latent_shape[1] == 9]
    assert multi and int(multi[0].frame_shot.max()) >= 1  # the multi-shot bucket has several shots


def test_dit_stage_trains_on_prepared_buckets(tmp_path):
    from seedance.training.common.trainer import OptimConfig
    from seedance.training.dit import DiTStageConfig, train_stage

    write_dataset(tmp_path / "clips", 4, seed=3, multishot_share=0.5)
    model = save_bundle(build_bundle(tiny()), tmp_path / "model")
    out = prepare_shapesworld(tmp_path / "clips", model, tmp_path / "prep", progress=False)
    cfg = DiTStageConfig(name="t", data=str(out), optim=OptimConfig(max_steps=3, batch_size=2, warmup_steps=1))
    history = train_stage(cfg, tmp_path / "run", progress=False).history
    assert len(history) == 3 and all(h["loss"] == h["loss"] for h in history)
