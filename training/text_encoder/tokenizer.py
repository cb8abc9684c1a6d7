"""Training the text encoder's tokenizer on the caption corpus: byte-level BPE.

Byte-level, so every string (Chinese included) stays encodable; BPE merges learned from our
captions make sequences several times shorter than raw bytes. CJK characters are split apart
before BPE: Chinese has no spaces, so a plain byte-level BPE merges whole runs such as
"色圆形快速向左移动" (colour tail + shape + speed + direction) into one token, and a small
model then has to learn every such combination on its own. With one token per character the
shape or direction of a prompt is a few tokens a rewriter can copy. Special tokens match the byte
tokenizer's (<pad> <bos> <eos> <unk> = ids 0-3) so the rest of the model does not care which
tokenizer a bundle ships.
"""

from __future__ import annotations

from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from seedance.model.text.tokenizer import BOS, EOS, PAD, SPECIAL_TOKENS, UNK

# CJK punctuation, ideographs and full-width forms: each one is a pre-token of its own.
CJK_CHAR = Regex(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")


def train_bpe_tokenizer(texts: list[str], vocab_size: int) -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE(unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(CJK_CHAR, behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False),
    ])
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
