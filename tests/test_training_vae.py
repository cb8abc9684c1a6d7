"""VAE training: real steps on real MP4s, exact resume (with the adversary), thin decoder, bad data."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import run_torchrun
from safetensors.torch import load_file

from seedance.errors import ConfigError
from seedance.model.media import write_mp4
from seedance.training.common.trainer import OptimConfig
from seedance.training.data.clips import VideoClips
from seedance.training.data.latents import DatasetError
from seedance.training.vae import VAETrainConfig, train_vae
from seedance.training.vae.losses import subject_weighted_l1


def write_clips(directory: Path, count: int = 3, frames: int = 9, size: int = 32) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        video = np.full((frames, size, size, 3), 40, dtype=np.uint8)
        for t in range(frames):
            x = 2 + t + i
            video[t, 10:18, x : x + 8] = (220, 40 + 60 * i, 40)
        write_mp4(video, directory / f"clip{i}.mp4", fps=8)
    return directory


def config(data: Path, **kw) -> VAETrainConfig:
    optim = OptimConfig(lr=1e-3, warmup_steps=1, max_steps=4, batch_size=2, checkpoint_every=2, log_every=1)
    return VAETrainConfig(data=str(data), frames=9, adv_start=1, optim=optim, **kw)


def test_vae_trains_resumes_exactly_and_writes_stats(tmp_path):
    data = write_clips(tmp_path / "clips")
    full = train_vae(config(data), tmp_path / "full", progress=False).history
    assert all(np.isfinite(h["loss"]) for h in full) and "d_loss" in full[-1]
    train_vae(config(data), tmp_path / "killed", max_steps=2, progress=False)
    resumed = train_vae(config(data), tmp_path / "killed", progress=False).history
    assert [h["loss"] for h in resumed] == [h["loss"] for h in full[2:]]
    assert (tmp_path / "full" / "vae.safetensors").exists()
    assert (tmp_path / "full" / "latent_stats.json").exists()


def test_thin_decoder_keeps_the_encoder_frozen(tmp_path):
    data = write_clips(tmp_path / "clips")
    train_vae(config(data), tmp_path / "full", max_steps=1, progress=False)
    thin = config(data, thin_decoder=True, init_from=str(tmp_path / "full"))
    train_vae(thin, tmp_path / "thin", max_steps=2, progress=False)
    before = load_file(tmp_path / "full" / "vae.safetensors")
    after = torch.load(tmp_path / "thin" / "latest.pt", weights_only=False)["model"]
    for k, v in after.items():
        if k.startswith("encoder."):
            assert torch.equal(v, before[k]), k
    decoder = load_file(tmp_path / "thin" / "vae_thin_decoder.safetensors")
    assert decoder and not any(k.startswith("encoder.") for k in decoder)


def test_decoder_only_fine_tune_keeps_the_encoder_and_its_latent_stats(tmp_path):
    data = write_clips(tmp_path / "clips")
    train_vae(config(data), tmp_path / "full", max_steps=1, progress=False)
    tuned = config(data, decoder_only=True, init_from=str(tmp_path / "full"), subject_weight=4.0, adv_weight=0.0)
    history = train_vae(tuned, tmp_path / "tuned", max_steps=2, progress=False).history
    assert len(history) == 2 and "d_loss" not in history[-1]
    before, after = load_file(tmp_path / "full" / "vae.safetensors"), load_file(tmp_path / "tuned" / "vae.safetensors")
    assert before.keys() == after.keys()
    assert all(torch.equal(after[k], before[k]) for k in before if k.startswith("encoder."))
    assert any(not torch.equal(after[k], before[k]) for k in before if k.startswith("decoder."))
    stats = [json.loads((tmp_path / d / "latent_stats.json").read_text()) for d in ("full", "tuned")]
    assert stats[0] == stats[1]


def test_decoder_training_configs_are_checked(tmp_path):
    with pytest.raises(ConfigError, match="decoder_only"):
        config(tmp_path, decoder_only=True, thin_decoder=True, init_from=str(tmp_path))
    with pytest.raises(ConfigError, match="subject_weight"):
        config(tmp_path, subject_weight=-1.0)
    with pytest.raises(ConfigError, match="init_from"):
        train_vae(config(write_clips(tmp_path / "clips"), decoder_only=True), tmp_path / "out", progress=False)


def test_subject_weighted_l1_counts_saturated_pixels_more():
    target = torch.zeros(1, 3, 1, 2, 2)
    target[0, :, 0, 0, 0] = torch.tensor([1.0, -1.0, -1.0])  # one saturated red pixel, three greys
    off_subject, off_grey = target.clone(), target.clone()
    off_subject[0, :, 0, 0, 0] += 0.5
    off_grey[0, :, 0, 1, 1] += 0.5
    assert subject_weighted_l1(off_grey, target, 0.0) == subject_weighted_l1(off_subject, target, 0.0)
    assert subject_weighted_l1(off_subject, target, 4.0) > 3 * subject_weighted_l1(off_grey, target, 4.0)
    assert torch.isclose(subject_weighted_l1(off_grey, target, 0.0), (off_grey - target).abs().mean())


def test_random_crops_keep_the_vae_frame_rule(tmp_path):
    data = write_clips(tmp_path / "clips")
    history = train_vae(config(data, crop_frames=5, crop_size=16), tmp_path / "crop", max_steps=2,
                        progress=False).history
    assert len(history) == 2 and all(np.isfinite(h["loss"]) for h in history)


def test_corrupt_clip_is_skipped_and_reported(tmp_path, capsys):
    data = write_clips(tmp_path / "clips", count=2)
    (data / "broken.mp4").write_bytes(b"\x00\x00\x00 not a video")
    clips = VideoClips(data, frames=9)
    assert len(clips) == 2 and clips.skipped and "broken.mp4" in clips.skipped[0][0]
    assert "skipped" in capsys.readouterr().err


def test_missing_or_empty_dataset_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        VideoClips(tmp_path / "nope", frames=9)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no videos"):
        VideoClips(tmp_path / "empty", frames=9)


def test_torchrun_two_processes_with_the_adversary(tmp_path):
    """DDP over the VAE and over the discriminator (adversarial terms from step 1), gloo on CPU."""
    cfg = config(write_clips(tmp_path / "clips", count=4))  # adv_start=1
    cfg = dataclasses.replace(cfg, optim=dataclasses.replace(cfg.optim, max_steps=2, batch_size=1))
    (tmp_path / "vae.json").write_text(json.dumps(dataclasses.asdict(cfg)))
    proc = run_torchrun("seedance.training.vae", tmp_path / "vae.json", tmp_path / "ddp")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "ddp" / "vae.safetensors").exists()
    rows = [json.loads(x) for x in (tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2] and all(np.isfinite(r["loss"]) and "d_loss" in r for r in rows[1:])
