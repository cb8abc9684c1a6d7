"""VAE training; retraining the thin decoder, or fine-tuning the full one, with the encoder frozen.

Losses: L1 + KL + a computed perceptual term (multi-scale spatial/temporal gradient L1, see
losses.py) + hinge adversarial with feature matching against a hybrid appearance/motion
PatchGAN (from `adv_start` on); `subject_weight` > 0 weights the L1 toward saturated pixels
(losses.subject_weighted_l1). A frozen encoder keeps the latents, so a decoder trained that way
drops into a model whose DiT was trained on the old latents. The discriminator and its
optimizer are checkpointed with the model, so a killed run resumes exactly. After training,
per-channel latent statistics over the training clips are written to `latent_stats.json` (they
go into the model's config; a decoder-only run copies its init_from's, since its latents are
the same).

Run: python -m seedance.training.vae --config VAE.json --out DIR [--max-steps N]
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from seedance.errors import ConfigError
from seedance.model.bundle import resolve_config
from seedance.model.config import ModelConfig
from seedance.model.vae import CausalVAE
from seedance.training.common.cli import pipeline_main
from seedance.training.common.data import ResumableSampler
from seedance.training.common.distributed import DistEnv
from seedance.training.common.trainer import OptimConfig, Trainer
from seedance.training.data.clips import VideoClips
from seedance.training.vae.discriminator import HybridDiscriminator
from seedance.training.vae.losses import (
    feature_matching,
    gradient_l1,
    hinge_d_loss,
    hinge_g_loss,
    subject_weighted_l1,
)


@dataclass(frozen=True)
class VAETrainConfig:
    data: str  # a folder of clips (ShapesWorld dataset or any videos)
    name: str = "vae"
    model: str = "tiny"  # preset name or model directory (its config.json gives the VAE shape)
    frames: int = 17  # frames loaded per clip
    crop_frames: int = 0  # > 0: train on random crops of this many frames (1 + 4k); convs don't need whole clips
    crop_size: int = 0  # > 0: ... and of this many pixels square (a multiple of the spatial factor)
    thin_decoder: bool = False  # train the thin decoder; the encoder comes frozen from init_from
    decoder_only: bool = False  # fine-tune the full decoder of init_from; its encoder frozen
    init_from: str = ""  # a directory with vae.safetensors
    kl_weight: float = 1e-6
    subject_weight: float = 0.0  # L1 weight 1 + this * chroma per pixel (0 = plain L1)
    grad_weight: float = 1.0
    adv_weight: float = 0.05
    fm_weight: float = 0.5
    adv_start: int = 0
    disc_lr: float = 2e-4
    optim: OptimConfig = field(default_factory=OptimConfig)

    @classmethod
    def from_dict(cls, data: dict) -> VAETrainConfig:
        data = dict(data)
        return cls(optim=OptimConfig.from_dict(data.pop("optim", {})), **data)

    def __post_init__(self) -> None:
        if self.thin_decoder and self.decoder_only:
            raise ConfigError("decoder_only: cannot be combined with thin_decoder (pick one decoder to train)")
        if self.subject_weight < 0:
            raise ConfigError(f"subject_weight: must be >= 0, got {self.subject_weight}")

    @property
    def frozen_encoder(self) -> bool:
        return self.thin_decoder or self.decoder_only

    def model_config(self) -> ModelConfig:
        return resolve_config(self.model)


class _Adversary:
    """The discriminator and its optimizer, checkpointable as one trainer extra."""

    def __init__(self, disc: torch.nn.Module, lr: float, env: DistEnv):
        self.module = disc
        self.net = torch.nn.parallel.DistributedDataParallel(disc) if env.distributed else disc
        self.opt = torch.optim.AdamW(disc.parameters(), lr=lr, betas=(0.5, 0.9))

    def state_dict(self) -> dict:
        return {"disc": self.module.state_dict(), "opt": self.opt.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state["disc"])
        self.opt.load_state_dict(state["opt"])


def build_vae(cfg: VAETrainConfig) -> CausalVAE:
    torch.manual_seed(cfg.optim.seed)
    vae = CausalVAE(cfg.model_config().vae, thin_decoder=cfg.thin_decoder)
    if cfg.init_from:
        path = Path(cfg.init_from) / "vae.safetensors"
        if not path.is_file():
            raise ConfigError(f"init_from: no vae.safetensors in {cfg.init_from}")
        state = load_file(path)
        if cfg.thin_decoder:  # only the encoder carries over; the thin decoder starts fresh
            state = {k[len("encoder."):]: v for k, v in state.items() if k.startswith("encoder.")}
            vae.encoder.load_state_dict(state)
        else:
            vae.load_state_dict(state)
    elif cfg.frozen_encoder:
        raise ConfigError("init_from: training a decoder alone needs a trained VAE to take the encoder from")
    if cfg.frozen_encoder:
        vae.encoder.requires_grad_(False)
    return vae


def random_crop(x: torch.Tensor, frames: int, size: int, g: torch.Generator) -> torch.Tensor:
    """One random (time, space) crop shared by the batch; 0 keeps that axis whole."""
    _, _, t, h, w = x.shape
    if frames:
        start = int(torch.randint(0, t - frames + 1, (1,), generator=g))
        x = x[:, :, start : start + frames]
    if size:
        top = int(torch.randint(0, h - size + 1, (1,), generator=g))
        left = int(torch.randint(0, w - size + 1, (1,), generator=g))
        x = x[:, :, :, top : top + size, left : left + size]
    return x


@torch.no_grad()
def latent_stats(vae: CausalVAE, clips: VideoClips, batch: int = 4) -> dict[str, list[float]]:
    """Per-channel mean and std of the posterior means over all clips."""
    zs = [vae.encode(clips.batch(list(range(i, min(i + batch, len(clips)))))).mode()
          for i in range(0, len(clips), batch)]
    z = torch.cat(zs).transpose(0, 1).flatten(1)
    return {"latent_mean": z.mean(1).tolist(), "latent_std": z.std(1).clamp(min=1e-4).tolist()}


def train_vae(cfg: VAETrainConfig, out_dir: Path, env: DistEnv | None = None, max_steps: int | None = None,
              resume: bool = True, progress: bool = True) -> Trainer:
    env = env or DistEnv()
    clips = VideoClips(Path(cfg.data), cfg.frames)
    vae = build_vae(cfg)
    adversary = _Adversary(HybridDiscriminator(), cfg.disc_lr, env)
    sampler = ResumableSampler(len(clips), seed=cfg.optim.seed, rank=env.rank, world_size=env.world_size)
    params = list(vae.decoder.parameters()) if cfg.frozen_encoder else list(vae.parameters())
    trainer = Trainer(f"vae:{cfg.name}", vae, dataclasses.asdict(cfg), cfg.optim, out_dir, sampler, env,
                      params=params, progress=progress, extras={"adversary": adversary})
    if resume:
        trainer.resume()

    def step(indices: list[int], step_index: int) -> dict[str, torch.Tensor]:
        g = torch.Generator().manual_seed((cfg.optim.seed * 1_000_003 + env.rank) * 1_000_003 + step_index)
        x = random_crop(clips.batch(indices), cfg.crop_frames, cfg.crop_size, g)
        rec, posterior = trainer.model(x, generator=g)
        l1 = subject_weighted_l1(rec, x, cfg.subject_weight)
        grad = gradient_l1(rec, x)
        kl = posterior.kl().mean() / x[0].numel()
        loss = l1 + cfg.grad_weight * grad + cfg.kl_weight * kl
        out = {"l1": l1.detach(), "grad": grad.detach(), "kl": kl.detach()}
        if step_index >= cfg.adv_start and cfg.adv_weight > 0:
            real_logits, real_feats = adversary.net(x)
            fake_logits, _ = adversary.net(rec.detach())
            d_loss = hinge_d_loss(real_logits, fake_logits)
            adversary.opt.zero_grad(set_to_none=True)
            d_loss.backward()
            adversary.opt.step()
            fake_logits, fake_feats = adversary.net(rec)
            adv, fm = hinge_g_loss(fake_logits), feature_matching(real_feats, fake_feats)
            loss = loss + cfg.adv_weight * adv + cfg.fm_weight * fm
            out.update({"d_loss": d_loss.detach(), "g_adv": adv.detach(), "fm": fm.detach()})
        return {"loss": loss, **out}

    trainer.fit(step, max_steps=max_steps)
    if env.is_main:
        out = Path(out_dir)
        if cfg.thin_decoder:
            save_file({k: v.contiguous() for k, v in vae.decoder.state_dict().items()},
                      out / "vae_thin_decoder.safetensors")
        else:
            save_file({k: v.contiguous() for k, v in vae.state_dict().items()}, out / "vae.safetensors")
            stats = Path(cfg.init_from) / "latent_stats.json"
            if cfg.decoder_only and stats.is_file():  # same encoder, same latents: same statistics
                shutil.copyfile(stats, out / "latent_stats.json")
            else:
                (out / "latent_stats.json").write_text(json.dumps(latent_stats(vae.eval(), clips)) + "\n")
    return trainer


def main(argv: list[str] | None = None) -> int:
    return pipeline_main(argv, prog="python -m seedance.training.vae", description=__doc__.split("\n\n")[0],
                         config_cls=VAETrainConfig, train=train_vae)
