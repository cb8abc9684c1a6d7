"""DiT training: a few real steps, exact resume after a kill, config mismatch refused, torchrun."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from conftest import run_torchrun

from seedance.errors import ConfigError
from seedance.model.dit import SeedanceDiT
from seedance.model.presets import tiny
from seedance.training.common.checkpoint import CheckpointMismatchError
from seedance.training.common.data import ResumableSampler
from seedance.training.common.distributed import DistEnv
from seedance.training.common.trainer import OptimConfig
from seedance.training.data.latents import CAPTION_KINDS, LatentBuckets, LatentDataset, LatentDatasetWriter
from seedance.training.dit import DiTStageConfig, TaskMix, train_stage
from seedance.training.dit.train import (
    MOTION_SCALE,
    load_mirror,
    make_step_fn,
    motion_weight,
    training_sampler,
)


def write_synthetic_prepared(directory: Path, count: int = 6, frames: int = 3, lowres: bool = False) -> Path:
    """A small prepared dataset with random latents and caption embeddings (2 shots on odd items)."""
    g = torch.Generator().manual_seed(0)
    dim = tiny().text_encoder.hidden_size
    writer = LatentDatasetWriter(text_dim=dim, max_text_len=12)
    writer.set_uncond(torch.randn(1, dim, generator=g), torch.ones(1))
    for i in range(count):
        shots = 2 if i % 2 else 1
        caps = {k: [(torch.randn(5 + s, dim, generator=g), torch.ones(5 + s))
                    for s in range(shots)] for k in CAPTION_KINDS}
        frame_shot = torch.tensor([0] * (frames - 1) + [shots - 1])
        writer.add(torch.randn(8, frames, 4, 4, generator=g), caps, frame_shot, moving=bool(i % 3),
                   lowres=torch.randn(8, frames, 4, 4, generator=g) if lowres else None)
    return writer.write(directory, {"source": "synthetic"})


def stage(data: Path, steps: int = 6, **kw) -> DiTStageConfig:
    return DiTStageConfig(name="test", data=str(data), mix=TaskMix(t2i=0.2, i2v=0.4),
                          optim=OptimConfig(lr=1e-3, warmup_steps=2, max_steps=steps, batch_size=2,
                                            checkpoint_every=3, log_every=1, **kw))


def test_prepared_dataset_round_trip(tmp_path):
    ds = LatentDataset(write_synthetic_prepared(tmp_path / "d"))
    assert len(ds) == 6 and ds.latent_shape == (8, 3, 4, 4)
    assert len(ds.caption_rows(1, "t2v_en")) == 2 and len(ds.caption_rows(0, "i2v_zh")) == 1
    assert ds.moving_indices() == [1, 2, 4, 5]


def test_stage_trains_and_writes_weights(tmp_path):
    data = write_synthetic_prepared(tmp_path / "d")
    trainer = train_stage(stage(data), tmp_path / "run", progress=False)
    losses = [h["loss"] for h in trainer.history]
    assert len(losses) == 6 and all(torch.isfinite(torch.tensor(losses)))
    assert (tmp_path / "run" / "dit.safetensors").exists() and (tmp_path / "run" / "latest.pt").exists()
    assert len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == 6


def test_motion_weight_marks_only_tokens_that_change():
    x0 = torch.zeros(2, 8, 5, 4, 4)
    x0[:, :, 0] = 3.0  # the lone first (image) frame differs from the rest: not motion
    x0[1, :, 1:, 0, 0] = torch.tensor([0.0, 0.0, 1.0, 1.0])  # item 1: one token changes over time
    w = motion_weight(x0, 4.0)
    assert w.shape == (2, 1, 5, 4, 4)
    assert torch.equal(w[0], torch.ones_like(w[0]))  # a static clip keeps weight 1 everywhere
    assert torch.all(w[1, :, 1:, 0, 0] == 5.0)  # deviation 0.5 > MOTION_SCALE: the full 1 + 4
    assert MOTION_SCALE < 0.5
    rest = w[1].clone()
    rest[:, 1:, 0, 0] = 1.0
    assert torch.equal(rest, torch.ones_like(rest))
    assert torch.equal(motion_weight(x0, 0.0), torch.ones_like(w))


def test_motion_weighted_stage_trains(tmp_path):
    data = write_synthetic_prepared(tmp_path / "d")
    cfg = dataclasses.replace(stage(data, steps=2), motion_weight=4.0)
    losses = [h["loss"] for h in train_stage(cfg, tmp_path / "run", progress=False).history]
    assert len(losses) == 2 and all(torch.isfinite(torch.tensor(losses)))
    plain = [h["loss"] for h in train_stage(stage(data, steps=2), tmp_path / "plain", progress=False).history]
    assert losses != plain  # the weight changes the objective
    with pytest.raises(ConfigError, match="motion_weight: must be >= 0"):
        dataclasses.replace(cfg, motion_weight=-1.0)


def test_resume_continues_exactly(tmp_path):
    data = write_synthetic_prepared(tmp_path / "d")
    full = train_stage(stage(data), tmp_path / "full", progress=False).history
    train_stage(stage(data), tmp_path / "killed", max_steps=3, progress=False)  # "killed" after step 3
    resumed = train_stage(stage(data), tmp_path / "killed", progress=False).history
    assert [h["step"] for h in resumed] == [4, 5, 6]
    assert [h["loss"] for h in resumed] == [h["loss"] for h in full[3:]]


def test_weight_ema_is_exported_and_resumes_exactly(tmp_path):
    from safetensors.torch import load_file

    data = write_synthetic_prepared(tmp_path / "d")
    full = train_stage(stage(data, ema_decay=0.9), tmp_path / "full", progress=False)
    exported = load_file(tmp_path / "full" / "dit.safetensors")
    trained = full.module.state_dict()
    # The export is the average, not the last step's weights (which it would equal if EMA were ignored).
    changed = [k for k in full.ema.shadow if not torch.equal(exported[k], trained[k])]
    assert len(changed) == len(full.ema.shadow) and full.ema.updates == 6
    assert all(torch.equal(exported[k], full.ema.shadow[k]) for k in full.ema.shadow)
    train_stage(stage(data, ema_decay=0.9), tmp_path / "killed", max_steps=3, progress=False)
    resumed = train_stage(stage(data, ema_decay=0.9), tmp_path / "killed", progress=False)
    assert resumed.ema.updates == 6
    assert all(torch.equal(resumed.ema.shadow[k], full.ema.shadow[k]) for k in full.ema.shadow)


def test_timestep_shift_is_the_stages_not_the_samplers(tmp_path):
    data = write_synthetic_prepared(tmp_path / "d")
    model_cfg = tiny()
    assert model_cfg.sampler.shift != 1.0  # the preset samples with a shift the recipe does not train at
    assert training_sampler(stage(data), model_cfg) == model_cfg.sampler
    own = dataclasses.replace(stage(data, steps=2), timestep_shift=1.0)
    assert training_sampler(own, model_cfg) == dataclasses.replace(model_cfg.sampler, shift=1.0)
    shifted = [h["loss"] for h in train_stage(own, tmp_path / "own", progress=False).history]
    default = [h["loss"] for h in train_stage(stage(data, steps=2), tmp_path / "default", progress=False).history]
    assert shifted != default  # same data and seed, other timesteps
    assert DiTStageConfig.from_dict(own.to_dict()).timestep_shift == 1.0
    with pytest.raises(ConfigError, match="timestep_shift: must be >= 1"):
        dataclasses.replace(own, timestep_shift=0.5)


def test_mirror_step_draws_each_clip_and_its_mirror_alike(tmp_path):
    data = write_synthetic_prepared(tmp_path / "d")
    # The data as its own mirror: a mirror step's two halves must then be one sample twice over
    # (same latents, noise, time, task and caption); with a real mirror only the clip and caption differ.
    cfg = dataclasses.replace(stage(data, steps=4), mirror_data=str(data),
                              mix=TaskMix(t2i=0.0, i2v=0.5, cfg_dropout=0.3, mirror=1.0))
    model_cfg = cfg.model_config()
    dit = SeedanceDiT(model_cfg.dit)
    seen = []
    dit.register_forward_pre_hook(lambda _m, args: seen.append(args))
    buckets = LatentBuckets(data)
    out = make_step_fn(dit, buckets, cfg, model_cfg, DistEnv(), load_mirror(cfg, buckets))([2, 3, 4, 5], 0)
    x, times, text, shots = seen[0]
    assert x.shape[0] == 4 and float(out["mirror"]) == 1.0  # two clips, each twice
    torch.testing.assert_close(x[:2], x[2:])
    torch.testing.assert_close(times[:2], times[2:])
    torch.testing.assert_close(text.hidden[:2], text.hidden[2:])
    assert torch.equal(shots[:2], shots[2:]) and not torch.equal(x[0], x[1])
    plain = make_step_fn(dit, buckets, dataclasses.replace(cfg, mirror_data="", mix=TaskMix()), model_cfg, DistEnv())
    assert "mirror" not in plain([2, 3, 4, 5], 0) and seen[-1][0].shape[0] == 4  # four clips
    losses = [h["loss"] for h in train_stage(cfg, tmp_path / "run", progress=False).history]
    assert len(losses) == 4 and all(torch.isfinite(torch.tensor(losses)))


def test_mirror_data_must_line_up_and_be_asked_for(tmp_path):
    data = write_synthetic_prepared(tmp_path / "d")
    short = write_synthetic_prepared(tmp_path / "short", count=4)
    cfg = dataclasses.replace(stage(data, steps=1), mirror_data=str(short), mix=TaskMix(mirror=0.5))
    with pytest.raises(ConfigError, match=r"mirror_data: .* does not line up"):
        train_stage(cfg, tmp_path / "run", progress=False)
    with pytest.raises(ConfigError, match=r"mix\.mirror: mirror steps need mirror_data"):
        dataclasses.replace(cfg, mirror_data="")
    with pytest.raises(ConfigError, match=r"mix\.mirror: must be in \[0, 1\]"):
        TaskMix(mirror=1.5)


def test_ema_decay_out_of_range_is_refused():
    with pytest.raises(ValueError, match=r"optim\.ema_decay"):
        OptimConfig(ema_decay=1.0)


def test_resume_with_a_different_config_is_refused(tmp_path):
    data = write_synthetic_prepared(tmp_path / "d")
    train_stage(stage(data), tmp_path / "run", max_steps=3, progress=False)
    with pytest.raises(CheckpointMismatchError, match=r"optim\.lr"):
        train_stage(stage(data).__class__(**{**stage(data).__dict__, "optim": OptimConfig(
            lr=5e-4, warmup_steps=2, max_steps=6, batch_size=2, checkpoint_every=3, log_every=1)}),
            tmp_path / "run", progress=False)


def test_sampler_shards_and_resumes():
    a, b = ResumableSampler(10, seed=1, rank=0, world_size=2), ResumableSampler(10, seed=1, rank=1, world_size=2)
    first = a.next_indices(5) + b.next_indices(5)
    assert sorted(first) == list(range(10))
    s = ResumableSampler(7, seed=3)
    s.next_indices(5)
    state = s.state_dict()
    expected = s.next_indices(9)
    s2 = ResumableSampler(7, seed=3)
    s2.load_state_dict(state)
    assert s2.next_indices(9) == expected


def test_torchrun_two_processes(tmp_path):
    data = write_synthetic_prepared(tmp_path / "d")
    cfg = stage(data, steps=2)
    (tmp_path / "stage.json").write_text(json.dumps(cfg.to_dict()))
    proc = run_torchrun("seedance.training.dit", tmp_path / "stage.json", tmp_path / "ddp")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "ddp" / "dit.safetensors").exists()
    lines = (tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["step"] for x in lines] == [1, 2]


def test_refiner_stage_starts_from_the_base_and_uses_lowres(tmp_path):
    base_data = write_synthetic_prepared(tmp_path / "d")
    train_stage(stage(base_data, steps=1), tmp_path / "base", progress=False)
    with pytest.raises(ConfigError, match="low-res"):
        train_stage(DiTStageConfig(**{**stage(base_data).__dict__, "refiner": True}), tmp_path / "r0", progress=False)
    data = write_synthetic_prepared(tmp_path / "hr", lowres=True)
    cfg = DiTStageConfig(**{**stage(data, steps=2).__dict__, "refiner": True, "init_from": str(tmp_path / "base")})
    trainer = train_stage(cfg, tmp_path / "refiner", progress=False)
    assert trainer.module.cfg.extra_in_channels == 8
    assert (tmp_path / "refiner" / "refiner.safetensors").exists()


def test_lr_scale_gives_the_caption_pool_its_own_learning_rate(tmp_path):
    """optim.lr_scale multiplies the LR of parameters by name prefix (here the DiT's caption pool),
    through warmup and schedule; JSON's lists round-trip; a non-positive factor is refused."""
    data = write_synthetic_prepared(tmp_path / "d")
    cfg = stage(data, steps=3, lr_scale=(("text_pool.", 20.0),))
    trainer = train_stage(cfg, tmp_path / "run", progress=False)
    groups = trainer.optimizer.param_groups
    pool = {id(p) for p in trainer.module.text_pool.parameters()}
    assert [len(g["params"]) for g in groups] == [sum(1 for p in trainer.module.parameters()) - len(pool), len(pool)]
    assert {id(p) for p in groups[1]["params"]} == pool
    assert groups[1]["lr"] == pytest.approx(20 * groups[0]["lr"])
    round_trip = OptimConfig.from_dict(json.loads(json.dumps(dataclasses.asdict(cfg.optim))))
    assert round_trip == cfg.optim
    with pytest.raises(ValueError, match=r"optim\.lr_scale"):
        OptimConfig(lr_scale=(("text_pool.", 0.0),))


def test_stages_start_from_a_dit_saved_before_the_caption_pool(tmp_path):
    """init_from a dit.safetensors without text_pool.* (the shipped DiT predates it): the DiT and
    the refiner stages load it and train with a fresh pool; any other missing tensor is refused."""
    from safetensors.torch import load_file, save_file

    data = write_synthetic_prepared(tmp_path / "d")
    train_stage(stage(data, steps=1), tmp_path / "base", progress=False)
    old = tmp_path / "old"
    old.mkdir()
    state = {k: v for k, v in load_file(tmp_path / "base" / "dit.safetensors").items() if not k.startswith("text_pool.")}
    save_file(state, old / "dit.safetensors")
    trainer = train_stage(DiTStageConfig(**{**stage(data, steps=1).__dict__, "init_from": str(old)}), tmp_path / "a",
                          progress=False)
    assert trainer.module.text_pool is not None
    hr = write_synthetic_prepared(tmp_path / "hr", lowres=True)
    refiner = train_stage(DiTStageConfig(**{**stage(hr, steps=1).__dict__, "refiner": True, "init_from": str(old)}),
                          tmp_path / "r", progress=False)
    assert refiner.module.cfg.extra_in_channels == 8
    save_file({k: v for k, v in state.items() if k != "in_proj.weight"}, old / "dit.safetensors")
    with pytest.raises(RuntimeError, match=r"in_proj\.weight"):
        train_stage(DiTStageConfig(**{**stage(data, steps=1).__dict__, "init_from": str(old)}), tmp_path / "b",
                    progress=False)
