"""Prompt-rewriter SFT: a causal LM learns prompt -> dense caption on (human) rewrites.

Seedance fine-tunes Qwen2.5-14B on human-written rewrites. `init_from` does exactly that for
any local transformers causal LM (its tokenizer and chat template, if any, come with it). With
no `init_from`, a small Qwen2 LM is trained from scratch: its shape is a `TextEncoderConfig`
(the same fields, and the same `hf_config`, as the text encoder; `hidden_layer` and
`tokenizer` are unused; `max_length` caps prompt + caption tokens) and its tokenizer is a
byte-level BPE of `tokenizer_vocab` trained on the model inputs and captions (0: the byte
tokenizer).

Outputs: out_dir/latest.pt (exact resume), out_dir/tokenizer/ (the run's tokenizer with the
model's config.json beside it, reused on resume) and out_dir/model/ (save_pretrained model +
tokenizer, what TransformersRewriter loads; checked to encode every row as training did).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from seedance.errors import ConfigError, ModelLoadError
from seedance.model.config import TextEncoderConfig
from seedance.model.text import build_byte_tokenizer, hf_config
from seedance.training.common.data import ResumableSampler
from seedance.training.common.distributed import DistEnv, main_first
from seedance.training.common.trainer import OptimConfig, Trainer
from seedance.training.rewriter.data import (
    RewriteRow,
    collate,
    encode_rows,
    first_mismatch,
    load_rows,
    tokenizer_corpus,
)
from seedance.training.text_encoder.tokenizer import train_bpe_tokenizer

MODEL_DIR = "model"
TOKENIZER_DIR = "tokenizer"

# From scratch: the text encoder's tiny shape with room for a BPE vocabulary and a prompt that
# carries the full instruction line.
DEFAULT_LM = TextEncoderConfig(vocab_size=1024, max_length=384)


@dataclass(frozen=True)
class RewriterSFTConfig:
    data: str  # rewrite JSONL (see data.py)
    name: str = "rewriter"
    init_from: str = ""  # a local transformers causal LM directory to fine-tune; "" = from scratch
    lm: TextEncoderConfig = DEFAULT_LM
    tokenizer_vocab: int = 1024  # from scratch: byte-level BPE size; 0 = byte tokenizer
    optim: OptimConfig = field(default_factory=OptimConfig)

    @classmethod
    def from_dict(cls, data: dict) -> RewriterSFTConfig:
        data = dict(data)
        lm = TextEncoderConfig(**{**dataclasses.asdict(DEFAULT_LM), **data.pop("lm", {})})
        return cls(lm=lm, optim=OptimConfig.from_dict(data.pop("optim", {})), **data)


def load_local(path: str | Path) -> tuple[Any, Any]:
    """(tokenizer, causal LM) from a directory, the way TransformersRewriter loads them."""
    path = Path(path)
    if not (path / "config.json").is_file():
        raise ConfigError(f"{path}: not a transformers model directory (no config.json)")
    tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    return tok, AutoModelForCausalLM.from_pretrained(path, local_files_only=True)


def _scratch_tokenizer(cfg: RewriterSFTConfig, hf: Any, texts: list[str], out_dir: Path) -> Any:
    """Train (or build) once, save, and always use the copy read back from disk: a resumed run
    and the exported model then share the same tokenizer."""
    path = out_dir / TOKENIZER_DIR
    if not (path / "tokenizer_config.json").is_file():
        tok = train_bpe_tokenizer(texts, cfg.tokenizer_vocab) if cfg.tokenizer_vocab else \
            build_byte_tokenizer(cfg.lm.vocab_size)
        tok.save_pretrained(path)
        # AutoTokenizer picks the tokenizer class from config.json's model_type (transformers 5
        # loads any "qwen2" directory as Qwen2Tokenizer: Qwen's pre-tokenizer regex + NFC, not
        # ours). With the model config beside it, this copy loads exactly as the exported model
        # directory will at inference, so training sees the ids the rewriter will see.
        hf.save_pretrained(path)
    tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    if len(tok) > cfg.lm.vocab_size:
        raise ConfigError(f"tokenizer_vocab: the tokenizer has {len(tok)} tokens, more than lm.vocab_size "
                          f"{cfg.lm.vocab_size}")
    return tok


def build_lm(cfg: RewriterSFTConfig, texts: list[str], out_dir: Path) -> tuple[Any, Any]:
    """(tokenizer, model) to train: loaded from init_from, or built from scratch (seeded)."""
    if cfg.init_from:
        return load_local(cfg.init_from)
    hf = hf_config(cfg.lm)
    tok = _scratch_tokenizer(cfg, hf, texts, out_dir)
    hf.bos_token_id, hf.eos_token_id, hf.pad_token_id = tok.bos_token_id, tok.eos_token_id, tok.pad_token_id
    torch.manual_seed(cfg.optim.seed)
    return tok, AutoModelForCausalLM.from_config(hf)


def save_rewriter(model: Any, tokenizer: Any, directory: Path, rows: list[RewriteRow]) -> Path:
    """Write a directory TransformersRewriter loads as-is, and check that the tokenizer it will
    load there gives every training row the token ids training used."""
    directory.mkdir(parents=True, exist_ok=True)
    # Training runs without a KV cache (hf_config turns it off); generation wants it.
    model.config.use_cache = True
    model.generation_config.use_cache = True
    for attr in ("bos_token_id", "eos_token_id", "pad_token_id"):
        value = getattr(tokenizer, attr)
        if value is not None:
            setattr(model.generation_config, attr, value)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    served = AutoTokenizer.from_pretrained(directory, local_files_only=True)
    where = first_mismatch(tokenizer, served, rows)
    if where is not None:
        raise ModelLoadError(f"{directory}: the saved tokenizer ({type(served).__name__}) encodes {where} "
                             f"differently from the training tokenizer ({type(tokenizer).__name__})")
    return directory


def train_sft(cfg: RewriterSFTConfig, out_dir: Path, env: DistEnv | None = None, max_steps: int | None = None,
              resume: bool = True, progress: bool = True) -> Trainer:
    env, out_dir = env or DistEnv(), Path(out_dir)
    rows = load_rows(cfg.data)
    with main_first(env):  # rank 0 trains and writes the scratch tokenizer; the others read it
        tok, lm = build_lm(cfg, tokenizer_corpus(rows), out_dir)
    if tok.eos_token_id is None:
        raise ConfigError("the rewriter tokenizer has no eos token: generation could never stop")
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    examples = encode_rows(tok, rows, cfg.lm.max_length)
    sampler = ResumableSampler(len(examples), seed=cfg.optim.seed, rank=env.rank, world_size=env.world_size)
    trainer = Trainer(f"rewriter-sft:{cfg.name}", lm, dataclasses.asdict(cfg), cfg.optim, out_dir, sampler, env,
                      progress=progress)
    if resume:
        trainer.resume()

    def step(indices: list[int], _step: int) -> dict[str, torch.Tensor]:
        ids, mask, labels = collate([examples[i] for i in indices], pad)
        # HF shifts labels inside and averages over caption tokens (prompt/padding are ignored).
        out = trainer.model(input_ids=ids, attention_mask=mask, labels=labels, use_cache=False)
        return {"loss": out.loss}

    trainer.fit(step, max_steps=max_steps)
    if env.is_main:
        save_rewriter(lm, tok, out_dir / MODEL_DIR, rows)
    return trainer
