"""Training the text encoder's tokenizer on the caption corpus: byte-level BPE.

Byte-level, so every string (Chinese included) stays encodable; BPE merges learned from our
captions make sequences several times shorter than raw bytes. Special tokens match the byte
tokenizer's (<pad> <bos> <eos> <unk> = ids 0-3) so the rest of the model does not care which
tokenizer a bundle ships.
"""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from seedance.model.text.tokenizer import BOS, EOS, PAD, SPECIAL_TOKENS, UNK


def train_bpe_tokenizer(texts: list[str], vocab_size: int) -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE(unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD,
                                   unk_token=UNK, padding_side="right")


def save_tokenizer(tok: PreTrainedTokenizerFast, path: Path) -> Path:
    """Write a standalone tokenizer.json (what TextEncoderConfig.tokenizer names)."""
    tok.backend_tokenizer.save(str(path))
    return path
