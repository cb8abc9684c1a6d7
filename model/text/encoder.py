"""The text encoder: a decoder-only LM whose hidden states condition the DiT.

Seedance conditions on a decoder-only LLM's token states (the paper does not publish which; the
seedance-1.0 preset uses a Qwen2.5-7B shape). We build the transformers *base* model (no LM
head) from `TextEncoderConfig`, so the same code serves the tiny preset, trained from scratch on
a byte tokenizer, and a real 7B checkpoint loaded into the same module.

Sequences are `<bos> text`, truncated, right-padded. Right padding plus causal attention means
a real token only ever attends to earlier real tokens, so a prompt's embedding does not depend
on what else is in the batch; padded positions are zeroed so the DiT never sees their garbage.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModel, PretrainedConfig

from seedance.errors import ConfigError, ModelLoadError

from ..config import TextEncoderConfig
from .tokenizer import load_tokenizer


@dataclass
class TextEmbeddings:
    """hidden: [B, L, D] float, zero at padded positions; mask: [B, L] bool, True = real token."""

    hidden: torch.Tensor
    mask: torch.Tensor

    def to(self, device: torch.device | str) -> TextEmbeddings:
        return TextEmbeddings(self.hidden.to(device), self.mask.to(device))


def hf_config(cfg: TextEncoderConfig) -> PretrainedConfig:
    """The transformers config for `cfg` (`cfg.model_type` picks the config class)."""
    try:
        return AutoConfig.for_model(
            cfg.model_type,
            vocab_size=cfg.vocab_size,
            hidden_size=cfg.hidden_size,
            num_hidden_layers=cfg.num_layers,
            num_attention_heads=cfg.num_heads,
            num_key_value_heads=cfg.num_kv_heads,
            intermediate_size=cfg.intermediate_size,
            # RoPE positions never exceed max_length; keep the model's usual minimum otherwise.
            max_position_embeddings=max(cfg.max_length, 2048),
            # Older transformers take rope_theta directly; 5.x folds it into rope_parameters.
            rope_theta=cfg.rope_theta,
            tie_word_embeddings=False,
            use_cache=False,
        )
    except ValueError as e:  # unknown model_type
        raise ConfigError(f"text_encoder.model_type: {e}") from e


class TextEncoder(torch.nn.Module):
    """Tokenizer + transformers base model -> per-token embeddings for the DiT."""

    def __init__(self, cfg: TextEncoderConfig, tokenizer=None):
        super().__init__()
        n = cfg.num_layers
        # hidden_states has n + 1 entries: the embeddings, then each layer's output.
        if not (cfg.hidden_layer == -1 or -(n + 1) <= cfg.hidden_layer <= n):
            raise ConfigError(f"text_encoder.hidden_layer: must be -1 or in [{-(n + 1)}, {n}], "
                              f"got {cfg.hidden_layer}")
        self.cfg = cfg
        if tokenizer is None and cfg.tokenizer == "byte":
            tokenizer = load_tokenizer(cfg, None)
        # A file tokenizer needs a model directory; callers that only build the network (e.g.
        # a meta-device parameter count) may leave it unset, tokenize() then says so.
        self.tokenizer = tokenizer
        self.model = AutoModel.from_config(hf_config(cfg))

    @classmethod
    def from_model_dir(cls, cfg: TextEncoderConfig, model_dir: Path | None) -> TextEncoder:
        """Build with the tokenizer `cfg` names inside `model_dir` (weights are loaded elsewhere)."""
        return cls(cfg, load_tokenizer(cfg, model_dir))

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _special_ids(self) -> tuple[int, int]:
        tok = self.tokenizer
        if tok is None:
            raise ModelLoadError(f"text encoder has no tokenizer (text_encoder.tokenizer={self.cfg.tokenizer!r})")
        # Qwen-style tokenizers have no <bos>; their document marker (eos) plays the part, so an
        # empty prompt is still one real token rather than an empty sequence.
        bos = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
        if bos is None:
            raise ModelLoadError("tokenizer defines neither a bos nor an eos token")
        pad = tok.pad_token_id if tok.pad_token_id is not None else bos  # masked out anyway
        return bos, pad

    def tokenize(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """input_ids [B, L] long and attention_mask [B, L] long: `<bos> text`, truncated to
        cfg.max_length, right-padded to the batch's longest sequence."""
        if isinstance(texts, str):
            raise TypeError("tokenize takes a list of strings")
        bos, pad = self._special_ids()
        # Specials are added here, not by the tokenizer, so every tokenizer gets the same layout.
        encoded = self.tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        seqs = [[bos, *ids][: self.cfg.max_length] for ids in encoded]
        length = max((len(s) for s in seqs), default=1)
        input_ids = torch.full((len(seqs), length), pad, dtype=torch.long)
        attention_mask = torch.zeros((len(seqs), length), dtype=torch.long)
        for i, s in enumerate(seqs):
            input_ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
            attention_mask[i, : len(s)] = 1
        return input_ids, attention_mask

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> TextEmbeddings:
        """Hidden states of layer cfg.hidden_layer (-1 = last_hidden_state, after the final norm)."""
        want_layer = self.cfg.hidden_layer != -1
        out = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            output_hidden_states=want_layer,
            use_cache=False,
        )
        hidden = out.hidden_states[self.cfg.hidden_layer] if want_layer else out.last_hidden_state
        mask = attention_mask.bool()
        hidden = hidden * mask.unsqueeze(-1).to(hidden.dtype)
        return TextEmbeddings(hidden=hidden, mask=mask)

    @torch.no_grad()
    def encode(self, texts: list[str]) -> TextEmbeddings:
        """Tokenize and run on the module's device."""
        input_ids, attention_mask = self.tokenize(texts)
        device = self.device
        return self.forward(input_ids.to(device), attention_mask.to(device))
