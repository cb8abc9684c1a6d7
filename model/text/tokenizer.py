"""Tokenizers for the text encoder: a byte-level one built in code, or a tokenizer.json on disk.

The "byte" tokenizer exists so the tiny preset (and every test) needs no download and no
training data: each UTF-8 byte is one token, so any language (Chinese included) round-trips
losslessly. Ids are laid out as

    0 <pad>   1 <bos>   2 <eos>   3 <unk>   4..259 the 256 bytes

and everything from 260 up to `vocab_size` is unused (the embedding table may be larger than
the vocabulary, as it is for Qwen). It is a plain `PreTrainedTokenizerFast`, so
`save_pretrained` / `from_pretrained` carry it inside a model directory like any HF tokenizer.
"""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from seedance.errors import ConfigError, ModelLoadError

from ..config import TextEncoderConfig

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIAL_TOKENS = (PAD, BOS, EOS, UNK)
NUM_BYTES = 256
BYTE_VOCAB_SIZE = len(SPECIAL_TOKENS) + NUM_BYTES

# Candidate names for the begin/pad tokens of tokenizer.json files that do not declare them
# (a bare tokenizer.json carries no tokenizer_config.json). Qwen's only document marker is
# <|endoftext|>, which it also uses for padding.
_BOS_CANDIDATES = (BOS, "<s>", "<|begin_of_text|>", "<|endoftext|>")
_PAD_CANDIDATES = (PAD, "<|endoftext|>", "</s>", "<|end_of_text|>")
_EOS_CANDIDATES = (EOS, "</s>", "<|end_of_text|>", "<|endoftext|>")


def build_byte_tokenizer(vocab_size: int) -> PreTrainedTokenizerFast:
    """A lossless UTF-8 byte tokenizer whose ids all fit below `vocab_size`."""
    if vocab_size < BYTE_VOCAB_SIZE:
        raise ConfigError(
            f"text_encoder.vocab_size: the byte tokenizer needs at least {BYTE_VOCAB_SIZE} ids, "
            f"got {vocab_size}"
        )
    # ByteLevel maps every byte to one printable unicode character; a BPE model with those 256
    # characters as its vocabulary and no merges is then exactly "one token per byte".
    table = _bytes_to_unicode()
    byte_chars = [table[b] for b in range(NUM_BYTES)]
    # Guard against a future `tokenizers` changing its byte alphabet under us.
    assert set(byte_chars) == set(pre_tokenizers.ByteLevel.alphabet())
    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
    vocab.update({ch: len(SPECIAL_TOKENS) + i for i, ch in enumerate(byte_chars)})
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=UNK))
    # use_regex=False: no word splitting is needed without merges, and it keeps spaces intact.
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(list(SPECIAL_TOKENS))
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token=PAD,
        bos_token=BOS,
        eos_token=EOS,
        unk_token=UNK,
        padding_side="right",
    )


def _bytes_to_unicode() -> dict[int, str]:
    # GPT-2's table (also what `tokenizers` ByteLevel uses): printable latin-1 bytes map to
    # themselves, the rest to code points from 256 up, in byte order.
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table = {b: chr(b) for b in keep}
    n = 0
    for b in range(NUM_BYTES):
        if b not in table:
            table[b] = chr(NUM_BYTES + n)
            n += 1
    return table


def load_tokenizer(cfg: TextEncoderConfig, model_dir: Path | None) -> PreTrainedTokenizerFast:
    """The tokenizer `cfg` names: built in code for "byte", else `model_dir / cfg.tokenizer`."""
    if cfg.tokenizer == "byte":
        return build_byte_tokenizer(cfg.vocab_size)
    if model_dir is None:
        raise ModelLoadError(f"text_encoder.tokenizer: {cfg.tokenizer!r} needs a model directory")
    path = Path(model_dir) / cfg.tokenizer
    if not path.is_file():
        raise ModelLoadError(f"tokenizer file not found: {path}")
    try:
        tok = PreTrainedTokenizerFast(tokenizer_file=str(path), padding_side="right")
    except Exception as e:  # tokenizers raises plain Exception subclasses on bad JSON
        raise ModelLoadError(f"cannot read tokenizer {path}: {e}") from e
    _fill_missing_specials(tok)
    if len(tok) > cfg.vocab_size:
        raise ModelLoadError(
            f"tokenizer {path} has {len(tok)} tokens, more than text_encoder.vocab_size={cfg.vocab_size}"
        )
    return tok


def _fill_missing_specials(tok: PreTrainedTokenizerFast) -> None:
    """Declare bos/eos/pad from well-known names when the tokenizer.json did not."""
    vocab = tok.get_vocab()
    for attr, candidates in (("bos_token", _BOS_CANDIDATES), ("eos_token", _EOS_CANDIDATES),
                             ("pad_token", _PAD_CANDIDATES)):
        if getattr(tok, attr) is None:
            name = next((c for c in candidates if c in vocab), None)
            if name is not None:
                setattr(tok, attr, name)
