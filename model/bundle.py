"""A model bundle: every network of one Seedance model, and how it lives on disk.

A model directory holds `config.json` (a ModelConfig) and one safetensors file per component:
    vae.safetensors  text_encoder.safetensors  dit.safetensors  [refiner.safetensors]
    [vae_thin_decoder.safetensors]  [tokenizer.json]  [manifest.json: sha256 of each file]
Loading is separate from modelling: the networks are built from the config, then the weights
are checked against them (every tensor present, no extra tensor, same shapes) before loading.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from seedance.errors import ConfigError, ModelLoadError
from seedance.model.config import ModelConfig
from seedance.model.dit import SeedanceDiT
from seedance.model.refiner import init_refiner_from_base
from seedance.model.text import TextEncoder, load_tokenizer
from seedance.model.vae import CausalVAE

EMBEDDED_DIR = Path(__file__).parent / "weights" / "tiny"
CONFIG_FILE = "config.json"
MANIFEST_FILE = "manifest.json"


@dataclass
class ModelBundle:
    config: ModelConfig
    vae: CausalVAE
    text_encoder: TextEncoder
    dit: SeedanceDiT
    refiner: SeedanceDiT | None
    source: str  # where the weights came from, for metadata and `seedance info`
    thin_vae: CausalVAE | None = None

    def components(self) -> dict[str, nn.Module]:
        parts: dict[str, nn.Module] = {"vae": self.vae, "text_encoder": self.text_encoder, "dit": self.dit}
        if self.refiner is not None:
            parts["refiner"] = self.refiner
        return parts

    def eval(self) -> ModelBundle:
        for module in self.components().values():
            module.eval().requires_grad_(False)
        return self


def build_bundle(config: ModelConfig, seed: int = 0, thin_decoder: bool = False) -> ModelBundle:
    """Randomly initialised networks for `config` (deterministic for a given seed)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        vae = CausalVAE(config.vae)
        text_encoder = TextEncoder(config.text_encoder)
        dit = SeedanceDiT(config.dit)
        refiner = None
        if config.refiner is not None:
            refiner = init_refiner_from_base(SeedanceDiT(config.refiner), dit)
        thin = CausalVAE(config.vae, thin_decoder=True) if thin_decoder else None
    if thin is not None:
        thin.encoder.load_state_dict(vae.encoder.state_dict())
    return ModelBundle(config, vae, text_encoder, dit, refiner, source=f"random init (seed {seed})", thin_vae=thin)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_bundle(bundle: ModelBundle, directory: Path, dtype: torch.dtype | None = None) -> Path:
    """Write config, weights (optionally cast to `dtype`, e.g. fp16) and a sha256 manifest."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / CONFIG_FILE).write_text(json.dumps(bundle.config.to_dict(), indent=2) + "\n")
    parts = dict(bundle.components())
    if bundle.thin_vae is not None:
        parts["vae_thin_decoder"] = bundle.thin_vae.decoder
    for name, module in parts.items():
        state = {k: (v.to(dtype) if dtype is not None and v.is_floating_point() else v).contiguous()
                 for k, v in module.state_dict().items()}
        save_file(state, directory / f"{name}.safetensors")
    if bundle.config.text_encoder.tokenizer != "byte":
        # the tokenizer.json itself, exactly (not save_pretrained, which writes extra files)
        bundle.text_encoder.tokenizer.backend_tokenizer.save(str(directory / bundle.config.text_encoder.tokenizer))
    write_manifest(directory)
    return directory


def write_manifest(directory: Path) -> Path:
    """sha256 of every file in a model directory (sub-folders included), as manifest.json."""
    directory = Path(directory)
    files = sorted(p for p in directory.rglob("*") if p.is_file() and p.name != MANIFEST_FILE)
    manifest = {"files": {p.relative_to(directory).as_posix(): _sha256(p) for p in files}}
    path = directory / MANIFEST_FILE
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    return path


def _load_weights(module: nn.Module, path: Path) -> None:
    if not path.is_file():
        raise ModelLoadError(f"{path.name}: missing from {path.parent}")
    try:
        state = load_file(path)
    except (SafetensorError, OSError) as e:
        raise ModelLoadError(f"{path}: not a readable safetensors file ({e})") from None
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    wrong = [f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}" for k, v in expected.items()
             if k in state and state[k].shape != v.shape]
    problems = []
    if missing:
        problems.append(f"missing {len(missing)} tensor(s), e.g. {missing[0]}")
    if extra:
        problems.append(f"{len(extra)} unexpected tensor(s), e.g. {extra[0]}")
    if wrong:
        problems.append(f"{len(wrong)} shape mismatch(es), e.g. {wrong[0]}")
    if problems:
        raise ModelLoadError(f"{path}: weights do not match config.json: " + "; ".join(problems))
    module.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()})


def read_config(directory: Path) -> ModelConfig:
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise ModelLoadError(f"{directory}: not a model directory (no {CONFIG_FILE})")
    try:
        return ModelConfig.from_dict(json.loads(path.read_text()))
    except (json.JSONDecodeError, ConfigError, TypeError) as e:
        raise ModelLoadError(f"{path}: invalid model config: {e}") from None


def resolve_config(name_or_dir: str) -> ModelConfig:
    """A preset name (tiny, small, seedance-1.0) or a model directory's config.json."""
    from seedance.model.presets import PRESETS, preset

    return preset(name_or_dir) if name_or_dir in PRESETS else read_config(Path(name_or_dir))


def load_bundle(directory: Path, thin_decoder: bool = False) -> ModelBundle:
    """Load a model directory written by save_bundle; raises ModelLoadError on any mismatch."""
    directory = Path(directory)
    config = read_config(directory)
    tokenizer = load_tokenizer(config.text_encoder, directory)
    vae = CausalVAE(config.vae)
    text_encoder = TextEncoder(config.text_encoder, tokenizer=tokenizer)
    dit = SeedanceDiT(config.dit)
    refiner = SeedanceDiT(config.refiner) if config.refiner is not None else None
    bundle = ModelBundle(config, vae, text_encoder, dit, refiner, source=str(directory))
    for name, module in bundle.components().items():
        _load_weights(module, directory / f"{name}.safetensors")
    thin_path = directory / "vae_thin_decoder.safetensors"
    if thin_decoder:
        bundle.thin_vae = CausalVAE(config.vae, thin_decoder=True)
        bundle.thin_vae.encoder.load_state_dict(vae.encoder.state_dict())
        _load_weights(bundle.thin_vae.decoder, thin_path)
    return bundle.eval()


def default_config() -> ModelConfig:
    """The embedded default model's config (without loading any weights)."""
    if (EMBEDDED_DIR / CONFIG_FILE).is_file():
        return read_config(EMBEDDED_DIR)
    from seedance.model.presets import tiny

    return tiny()


def default_bundle() -> ModelBundle:
    """The embedded default model: shipped tiny weights when present, else a random tiny model."""
    if (EMBEDDED_DIR / CONFIG_FILE).is_file():
        return load_bundle(EMBEDDED_DIR)
    from seedance.model.presets import tiny

    return build_bundle(tiny(), seed=0).eval()


def parameter_counts(config: ModelConfig) -> dict[str, int]:
    """Parameters per component, built on the meta device (no memory, works for any size)."""
    counts = {}
    with torch.device("meta"):
        counts["vae"] = sum(p.numel() for p in CausalVAE(config.vae).parameters())
        thin = CausalVAE(config.vae, thin_decoder=True)
        counts["vae_thin_decoder"] = sum(p.numel() for p in thin.decoder.parameters())
        counts["text_encoder"] = sum(p.numel() for p in TextEncoder(config.text_encoder).parameters())
        counts["dit"] = sum(p.numel() for p in SeedanceDiT(config.dit).parameters())
        if config.refiner is not None:
            counts["refiner"] = sum(p.numel() for p in SeedanceDiT(config.refiner).parameters())
    return counts
