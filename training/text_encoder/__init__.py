"""Text encoder training: tokenizer (byte-level BPE) and a small decoder-only LM on captions."""

from seedance.training.text_encoder.train import TextEncoderTrainConfig, train_text_encoder

__all__ = ["TextEncoderTrainConfig", "train_text_encoder"]
