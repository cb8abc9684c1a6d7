"""DiT training: one stage of progressive pre-training, continue-training, or the refiner.

A stage trains the DiT by flow matching on a prepared dataset (training/data/latents.py) with
Seedance's task mix: a share of batches are text-to-image (the clips' first latent frames,
which the causal VAE encodes alone), a share of video samples are image-to-video (the first
latent frame given as condition + mask, and excluded from the loss), the rest text-to-video;
captions are English or Chinese at random, per-shot for multi-shot clips, and dropped (the
empty caption) at `cfg_dropout` for classifier-free guidance. Stages chain by `init_from`.
`motion_weight` > 0 weights the loss toward tokens whose clean latent changes over time.
With `mirror_data` and `mix.mirror`, a share of steps pair clips with their mirror images.
With `refiner`, the network is the refiner and each sample's low-res latent (the base-resolution
clip upsampled and encoded) rides along as extra input channels.

Run: python -m seedance.training.dit --config STAGE.json --out DIR [--max-steps N]
(in-process, or under `torchrun --nproc_per_node 2` for DDP over gloo on CPU).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from seedance.errors import ConfigError
from seedance.model.bundle import resolve_config
from seedance.model.conditioning import pack_captions, stack_text
from seedance.model.config import ModelConfig, SamplerConfig
from seedance.model.dit import SeedanceDiT, TextTokens, build_task_input, load_dit_weights
from seedance.model.flow import flow_matching_loss, interpolate, resolution_shift, sample_training_timesteps
from seedance.model.refiner import init_refiner_from_base
from seedance.training.common.cli import pipeline_main
from seedance.training.common.data import BucketSampler
from seedance.training.common.distributed import DistEnv
from seedance.training.common.trainer import OptimConfig, StepFn, Trainer
from seedance.training.data.latents import LatentBuckets, LatentDataset


@dataclass(frozen=True)
class TaskMix:
    t2i: float = 0.05  # share of batches that are single images
    i2v: float = 0.2  # share of video samples conditioned on their first frame (0.4 in continue-training)
    cfg_dropout: float = 0.1  # share of samples trained with the empty caption
    chinese: float = 0.5  # share of samples captioned in Chinese
    mirror: float = 0.0  # share of steps that pair each clip with its mirror image (needs mirror_data)

    def __post_init__(self) -> None:
        for name in ("t2i", "i2v", "cfg_dropout", "chinese", "mirror"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"mix.{name}: must be in [0, 1]")


@dataclass(frozen=True)
class DiTStageConfig:
    name: str
    data: str  # a prepared dataset: one bucket directory, or a folder of buckets
    model: str = "tiny"  # a preset name or a model directory (its config.json gives the DiT shape)
    init_from: str = ""  # a directory with dit.safetensors (a model dir or an earlier stage's output)
    refiner: bool = False  # train the refiner (data must carry low-res latents); init_from: base or refiner
    motion_only: bool = False  # continue-training: the higher-motion subset only
    # Extra loss weight on tokens that change over time (see motion_weight); 0 = plain flow matching.
    motion_weight: float = 0.0
    # Base shift of the training timesteps (before the resolution term); None = the model's
    # sampler.shift. Separate because the sampler's shift is an inference setting, tuned after
    # training (session 10), and changing it must not silently change what a stage trains on.
    timestep_shift: float | None = None
    # The prepared mirror image of `data` (shapesworld --mirror, then prepare), item k = the mirror
    # of item k. A mirror step (mix.mirror) trains half a batch of clips next to their mirrors
    # with the same noise, time, task and caption language: the pair differs only in which way
    # things move and in the caption's direction word, which is what the DiT must learn to read.
    mirror_data: str = ""
    mix: TaskMix = field(default_factory=TaskMix)
    optim: OptimConfig = field(default_factory=OptimConfig)

    def __post_init__(self) -> None:
        if self.motion_weight < 0:
            raise ConfigError(f"motion_weight: must be >= 0, got {self.motion_weight}")
        if self.mix.mirror > 0 and not self.mirror_data:
            raise ConfigError("mix.mirror: mirror steps need mirror_data (the prepared mirror of data)")
        if self.timestep_shift is not None and not self.timestep_shift >= 1.0:
            raise ConfigError(f"timestep_shift: must be >= 1 (1 = no shift) or null, got {self.timestep_shift}")

    @classmethod
    def from_dict(cls, data: dict) -> DiTStageConfig:
        data = dict(data)
        mix = TaskMix(**data.pop("mix", {}))
        return cls(mix=mix, optim=OptimConfig.from_dict(data.pop("optim", {})), **data)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def model_config(self) -> ModelConfig:
        return resolve_config(self.model)


def _step_generator(seed: int, rank: int, step: int) -> torch.Generator:
    """Randomness for one step is a function of (seed, rank, step): resume needs no RNG state
    to reproduce it, and each rank draws differently."""
    return torch.Generator().manual_seed((seed * 1_000_003 + rank) * 1_000_003 + step)


def _captions(ds: LatentDataset, index: int, lang: str, i2v: bool, image: bool, drop: bool) -> TextTokens:
    # I2V rows: shot 0's caption describes only the motion (the frame is given), later shots as T2V.
    rows = ds.caption_rows(index, f"{'i2v' if i2v else 't2v'}_{lang}")
    if image:
        rows = rows[:1]  # an image is the first frame: the first shot's caption describes it
    if drop:
        hidden = ds.uncond_hidden.expand(len(rows), -1, -1)
        mask = ds.uncond_mask.expand(len(rows), -1)
    else:
        hidden, mask = ds.hidden[rows], ds.mask[rows]
    return pack_captions(hidden.float(), mask)


MOTION_SCALE = 0.3  # latent deviation (unit-variance latents) that earns the full motion weight


def motion_weight(x0: torch.Tensor, strength: float) -> torch.Tensor:
    """Per-token loss weight [B, 1, T, H, W]: 1 + strength * min(dev / MOTION_SCALE, 1), where dev
    is how far a token's clean latent strays from its own mean over frames 1..T-1 (frame 0 is the
    causal VAE's lone image frame, whose statistics differ, so it keeps weight 1).

    Why: a moving subject covers a few percent of the tokens, so plain flow matching can reach a
    low loss with a blob that stays put; ~90% of the 64px clips move, yet the tiny DiT's samples
    barely did. Static clips have dev ~0 and keep weight ~1 everywhere."""
    weight = torch.ones_like(x0[:, :1])
    if strength <= 0 or x0.shape[2] < 3:
        return weight
    later = x0[:, :, 1:]
    dev = (later - later.mean(2, keepdim=True)).abs().mean(1, keepdim=True)
    weight[:, :, 1:] += strength * (dev / MOTION_SCALE).clamp(max=1.0)
    return weight


def training_sampler(cfg: DiTStageConfig, model_cfg: ModelConfig) -> SamplerConfig:
    """The model's sampler settings with the stage's own timestep shift, where it sets one, else
    the shift the model samples with (the refiner's, for a refiner stage)."""
    shift = model_cfg.sampler.shift_for(cfg.refiner) if cfg.timestep_shift is None else cfg.timestep_shift
    return dataclasses.replace(model_cfg.sampler, shift=shift)


def load_mirror(cfg: DiTStageConfig, data: LatentBuckets) -> LatentBuckets | None:
    """The stage's mirror dataset, checked to line up with `data` item by item."""
    if not cfg.mirror_data:
        return None
    mirror = LatentBuckets(Path(cfg.mirror_data), motion_only=cfg.motion_only)
    shapes = lambda d: [(len(b), b.latent_shape) for b in d.buckets]  # noqa: E731
    if shapes(mirror) != shapes(data) or mirror.items != data.items:
        raise ConfigError(f"mirror_data: {cfg.mirror_data} does not line up with data {cfg.data} item by item "
                          f"(buckets {shapes(mirror)} vs {shapes(data)}); prepare the mirror of the same dataset")
    return mirror


def make_step_fn(model: torch.nn.Module, data: LatentBuckets, cfg: DiTStageConfig, model_cfg: ModelConfig,
                 env: DistEnv, mirror: LatentBuckets | None = None) -> StepFn:
    mix = cfg.mix
    train_sampler = training_sampler(cfg, model_cfg)

    def step(global_indices: list[int], step_index: int) -> dict[str, torch.Tensor]:
        ds, indices = data.locate(global_indices)
        g = _step_generator(cfg.optim.seed, env.rank, step_index)
        u = lambda n=1: torch.rand(n, generator=g)  # noqa: E731
        image = bool(u() < mix.t2i)
        sources = [ds]  # a mirror step: half the clips, then their mirrors, drawn alike
        if mirror is not None and bool(u() < mix.mirror):
            indices = indices[:max(1, len(indices) // 2)]
            sources.append(mirror.locate(global_indices[:len(indices)])[0])
        copies, n = len(sources), len(indices)
        x0 = torch.cat([src.latents[indices].float() for src in sources])
        frame_shot = torch.cat([src.frame_shot[indices] for src in sources])
        if image:
            x0, frame_shot = x0[:, :, :1], torch.zeros(copies * n, 1, dtype=torch.long)
        b, t = x0.shape[0], x0.shape[2]
        i2v = ((u(n) < mix.i2v) & (not image) & (t > 1)).repeat(copies)
        drop = (u(n) < mix.cfg_dropout).repeat(copies)
        zh = (u(n) < mix.chinese).repeat(copies)
        items = [(src, idx) for src in sources for idx in indices]
        text = stack_text([_captions(src, idx, "zh" if zh[k] else "en", bool(i2v[k]), image, bool(drop[k]))
                           for k, (src, idx) in enumerate(items)])
        given = torch.zeros(b, t)
        given[:, 0] = i2v.float()
        shift = resolution_shift(t * x0.shape[3] * x0.shape[4], train_sampler)
        times = sample_training_timesteps(n, shift, generator=g, mean=train_sampler.logit_mean,
                                          std=train_sampler.logit_std).repeat(copies)
        noise = torch.randn((n, *x0.shape[1:]), generator=g).repeat(copies, 1, 1, 1, 1)
        xt, target = interpolate(x0, noise, times)
        extra = None
        if cfg.refiner:
            extra = torch.cat([src.lowres[indices].float() for src in sources])
            extra = extra[:, :, :1] if image else extra
        velocity = model(build_task_input(xt, x0, given, extra), times, text, frame_shot)
        weight = (1.0 - given)[:, None, :, None, None] * motion_weight(x0, cfg.motion_weight)
        logs = {"loss": flow_matching_loss(velocity, target, weight), "i2v_share": i2v.float().mean(),
                "t2i": torch.tensor(float(image))}
        if mirror is not None:
            logs["mirror"] = torch.tensor(float(copies > 1))
        return logs

    return step


def build_dit(cfg: DiTStageConfig) -> tuple[SeedanceDiT, ModelConfig]:
    """The network to train: the base DiT, or the refiner (from its own weights, or from the base's)."""
    model_cfg = cfg.model_config()
    if cfg.refiner and model_cfg.refiner is None:
        raise ConfigError(f"refiner: model {cfg.model!r} has no refiner")
    torch.manual_seed(cfg.optim.seed)
    dit = SeedanceDiT(model_cfg.refiner if cfg.refiner else model_cfg.dit)
    if not cfg.init_from:
        return dit, model_cfg
    src = Path(cfg.init_from)
    own = src / ("refiner.safetensors" if cfg.refiner else "dit.safetensors")
    if own.is_file():
        if load_dit_weights(dit, load_file(own)):
            print(f"init_from: {own} has no caption pool; it starts fresh (zero output)")
    elif cfg.refiner and (src / "dit.safetensors").is_file():
        base = SeedanceDiT(model_cfg.dit)
        load_dit_weights(base, load_file(src / "dit.safetensors"))  # a base saved before the pool loads too
        init_refiner_from_base(dit, base)
    else:
        raise ConfigError(f"init_from: no {own.name} in {src}")
    return dit, model_cfg


def train_stage(cfg: DiTStageConfig, out_dir: Path, env: DistEnv | None = None, max_steps: int | None = None,
                resume: bool = True, progress: bool = True) -> Trainer:
    """Train one stage; writes out_dir/latest.pt (resumable) and out_dir/dit.safetensors."""
    env = env or DistEnv()
    data = LatentBuckets(Path(cfg.data), motion_only=cfg.motion_only)
    dit, model_cfg = build_dit(cfg)
    if cfg.refiner and any(b.lowres is None for b in data.buckets):
        raise ConfigError(f"data: {cfg.data} has no low-res latents (lowres.safetensors) for refiner training")
    if data.meta["text_dim"] != model_cfg.dit.text_dim or data.latent_channels != model_cfg.dit.latent_channels:
        raise ConfigError(f"data: prepared for text_dim={data.meta['text_dim']}, latent channels "
                          f"{data.latent_channels}; model {cfg.model!r} needs {model_cfg.dit.text_dim}, "
                          f"{model_cfg.dit.latent_channels}")
    mirror = load_mirror(cfg, data)
    sampler = BucketSampler(data.sizes, seed=cfg.optim.seed, rank=env.rank, world_size=env.world_size)
    trainer = Trainer(f"dit:{cfg.name}", dit, cfg.to_dict(), cfg.optim, out_dir, sampler, env, progress=progress)
    if resume:
        trainer.resume()
    trainer.fit(make_step_fn(trainer.model, data, cfg, model_cfg, env, mirror), max_steps=max_steps)
    if env.is_main:
        name = "refiner.safetensors" if cfg.refiner else "dit.safetensors"
        save_file(trainer.export_weights(), Path(out_dir) / name)
    return trainer


def main(argv: list[str] | None = None) -> int:
    return pipeline_main(argv, prog="python -m seedance.training.dit", description=__doc__.split("\n\n")[0],
                         config_cls=DiTStageConfig, train=train_stage)
