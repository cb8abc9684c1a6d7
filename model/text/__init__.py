"""Text side of the model: tokenizers and the LLM text encoder that conditions the DiT."""

from .encoder import TextEmbeddings, TextEncoder, hf_config
from .tokenizer import BYTE_VOCAB_SIZE, build_byte_tokenizer, load_tokenizer

__all__ = [
    "BYTE_VOCAB_SIZE",
    "TextEmbeddings",
    "TextEncoder",
    "build_byte_tokenizer",
    "hf_config",
    "load_tokenizer",
]
