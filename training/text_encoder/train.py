"""Text encoder training: a small decoder-only LM on the caption corpus (English and Chinese).

Seedance conditions its DiT on a fine-tuned decoder-only LLM's hidden states. Here the LM is
trained from scratch by next-token prediction on every caption and prompt of the dataset, with
a byte-level BPE tokenizer trained on the same corpus (`tokenizer_vocab` > 0) or the byte
tokenizer. The export drops the LM head: `text_encoder.safetensors` loads straight into
`seedance.model.text.TextEncoder`, and `text_encoder_config.json` is the TextEncoderConfig to
put in the model's config.json (it names tokenizer.json when one was trained).

Run: python -m seedance.training.text_encoder --config TE.json --out DIR [--max-steps N]
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM

from seedance.errors import ConfigError
from seedance.model.bundle import resolve_config
from seedance.model.config import TextEncoderConfig
from seedance.model.text import build_byte_tokenizer, hf_config
from seedance.model.text.tokenizer import load_tokenizer
from seedance.training.common.cli import pipeline_main
from seedance.training.common.data import ResumableSampler
from seedance.training.common.distributed import DistEnv, main_first
from seedance.training.common.trainer import OptimConfig, Trainer
from seedance.training.data.corpus import caption_corpus
from seedance.training.text_encoder.tokenizer import save_tokenizer, train_bpe_tokenizer

TOKENIZER_FILE = "tokenizer.json"


@dataclass(frozen=True)
class TextEncoderTrainConfig:
    data: str  # a dataset folder with manifest.jsonl, or a .txt corpus
    name: str = "text_encoder"
    model: str = "tiny"  # preset name or model directory (its text_encoder config)
    tokenizer_vocab: int = 0  # > 0: train a byte-level BPE tokenizer of this size
    optim: OptimConfig = field(default_factory=OptimConfig)

    @classmethod
    def from_dict(cls, data: dict) -> TextEncoderTrainConfig:
        data = dict(data)
        return cls(optim=OptimConfig.from_dict(data.pop("optim", {})), **data)

    def encoder_config(self) -> TextEncoderConfig:
        cfg = resolve_config(self.model).text_encoder
        if self.tokenizer_vocab:
            if self.tokenizer_vocab > cfg.vocab_size:
                raise ConfigError(f"tokenizer_vocab: {self.tokenizer_vocab} exceeds text_encoder.vocab_size "
                                  f"{cfg.vocab_size}")
            cfg = dataclasses.replace(cfg, tokenizer=TOKENIZER_FILE)
        return cfg


def tokenizer_for(cfg: TextEncoderTrainConfig, te_cfg: TextEncoderConfig, texts: list[str], out_dir: Path):
    """The run's tokenizer; a trained one is saved once and reused on resume."""
    if not cfg.tokenizer_vocab:
        return build_byte_tokenizer(te_cfg.vocab_size)
    path = out_dir / TOKENIZER_FILE
    if not path.is_file():
        out_dir.mkdir(parents=True, exist_ok=True)
        save_tokenizer(train_bpe_tokenizer(texts, cfg.tokenizer_vocab), path)
    return load_tokenizer(te_cfg, out_dir)


def train_text_encoder(cfg: TextEncoderTrainConfig, out_dir: Path, env: DistEnv | None = None,
                       max_steps: int | None = None, resume: bool = True, progress: bool = True) -> Trainer:
    env, out_dir = env or DistEnv(), Path(out_dir)
    te_cfg = cfg.encoder_config()
    texts = caption_corpus(Path(cfg.data))
    with main_first(env):  # rank 0 trains and writes the tokenizer; the others read it
        tok = tokenizer_for(cfg, te_cfg, texts, out_dir)
    bos, eos, pad = tok.bos_token_id, tok.eos_token_id, tok.pad_token_id
    room = te_cfg.max_length - 2  # <bos> text <eos>
    sequences = [[bos, *tok.encode(t, add_special_tokens=False)[:room], eos] for t in texts]
    torch.manual_seed(cfg.optim.seed)
    lm = AutoModelForCausalLM.from_config(hf_config(te_cfg))
    sampler = ResumableSampler(len(sequences), seed=cfg.optim.seed, rank=env.rank, world_size=env.world_size)
    run_config = {**dataclasses.asdict(cfg), "text_encoder": dataclasses.asdict(te_cfg)}
    trainer = Trainer(f"text-encoder:{cfg.name}", lm, run_config, cfg.optim, out_dir, sampler, env,
                      progress=progress)
    if resume:
        trainer.resume()

    def step(indices: list[int], _step: int) -> dict[str, torch.Tensor]:
        batch = [sequences[i] for i in indices]
        length = max(len(s) for s in batch)
        ids = torch.full((len(batch), length), pad, dtype=torch.long)
        mask = torch.zeros(len(batch), length, dtype=torch.long)
        for k, s in enumerate(batch):
            ids[k, : len(s)], mask[k, : len(s)] = torch.tensor(s), 1
        labels = ids.masked_fill(mask == 0, -100)
        out = trainer.model(input_ids=ids, attention_mask=mask, labels=labels)
        return {"loss": out.loss}

    trainer.fit(step, max_steps=max_steps)
    if env.is_main:
        base = {k: v.contiguous() for k, v in lm.state_dict().items() if not k.startswith("lm_head.")}
        save_file(base, out_dir / "text_encoder.safetensors")
        (out_dir / "text_encoder_config.json").write_text(json.dumps(dataclasses.asdict(te_cfg), indent=2) + "\n")
    return trainer


def main(argv: list[str] | None = None) -> int:
    return pipeline_main(argv, prog="python -m seedance.training.text_encoder", description=__doc__.split("\n\n")[0],
                         config_cls=TextEncoderTrainConfig, train=train_text_encoder)
