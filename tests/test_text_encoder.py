"""Byte tokenizer and text encoder (tiny preset on CPU; seedance-1.0 shape on the meta device)."""

from __future__ import annotations

import dataclasses
import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing here may reach a hub

from transformers import AutoTokenizer, PreTrainedTokenizerFast

from seedance.errors import ConfigError, ModelLoadError
from seedance.model.presets import seedance_1_0, tiny
from seedance.model.text import (
    BYTE_VOCAB_SIZE,
    TextEmbeddings,
    TextEncoder,
    build_byte_tokenizer,
    load_tokenizer,
)

SAMPLES = ["A red ball bounces on a wooden floor.", "一只小猫在草地上追蝴蝶，阳光明媚。", "  mixed 中文 and\ttabs\n", ""]


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    torch.manual_seed(0)
    return TextEncoder(tiny().text_encoder).eval()


# --- tokenizer -------------------------------------------------------------------------------


@pytest.mark.parametrize("text", SAMPLES)
def test_byte_tokenizer_round_trips(text: str) -> None:
    tok = build_byte_tokenizer(512)
    ids = tok.encode(text)
    assert len(ids) == len(text.encode("utf-8"))  # one token per byte
    assert tok.decode(ids) == text


def test_byte_tokenizer_ids_below_vocab() -> None:
    tok = build_byte_tokenizer(BYTE_VOCAB_SIZE)
    ids = tok.encode("".join(SAMPLES) + "\x00\xff")
    assert max(ids) < BYTE_VOCAB_SIZE
    assert max(tok.get_vocab().values()) < BYTE_VOCAB_SIZE
    assert {tok.pad_token, tok.bos_token, tok.eos_token} == {"<pad>", "<bos>", "<eos>"}
    with pytest.raises(ConfigError, match="vocab_size"):
        build_byte_tokenizer(BYTE_VOCAB_SIZE - 1)


def test_byte_tokenizer_save_load(tmp_path) -> None:
    tok = build_byte_tokenizer(512)
    tok.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path, local_files_only=True)
    from_file = PreTrainedTokenizerFast(tokenizer_file=str(tmp_path / "tokenizer.json"))
    for text in SAMPLES:
        assert again.encode(text) == tok.encode(text) == from_file.encode(text)
        assert again.decode(again.encode(text)) == text
    assert again.bos_token_id == tok.bos_token_id and again.pad_token_id == tok.pad_token_id


def test_load_tokenizer_from_model_dir(tmp_path) -> None:
    cfg = dataclasses.replace(tiny().text_encoder, tokenizer="tokenizer.json")
    with pytest.raises(ModelLoadError, match=r"tokenizer\.json"):
        load_tokenizer(cfg, tmp_path)
    build_byte_tokenizer(512).save_pretrained(tmp_path)
    tok = load_tokenizer(cfg, tmp_path)
    assert tok.decode(tok.encode("你好 world")) == "你好 world"
    assert tok.bos_token == "<bos>"  # recovered from the bare tokenizer.json
    enc = TextEncoder(cfg, tok)
    ids, _ = enc.tokenize(["hi"])
    assert ids[0, 0].item() == tok.bos_token_id


# --- encoder ---------------------------------------------------------------------------------


def test_tokenize_layout(encoder: TextEncoder) -> None:
    ids, mask = encoder.tokenize(["ab", "", "abcd"])
    bos, pad = encoder.tokenizer.bos_token_id, encoder.tokenizer.pad_token_id
    assert ids.shape == mask.shape == (3, 5)
    assert ids[:, 0].tolist() == [bos] * 3
    assert mask.sum(1).tolist() == [3, 1, 5]
    assert ids[1, 1:].tolist() == [pad] * 4  # right padding


def test_encode_shapes_mask_and_zero_padding(encoder: TextEncoder) -> None:
    out = encoder.encode(SAMPLES)
    assert isinstance(out, TextEmbeddings)
    lengths = [1 + len(s.encode("utf-8")) for s in SAMPLES]
    assert out.hidden.shape == (len(SAMPLES), max(lengths), 128)
    assert out.hidden.dtype == torch.float32 and out.mask.dtype == torch.bool
    assert out.mask.sum(1).tolist() == lengths
    assert torch.all(out.hidden[~out.mask] == 0)
    assert torch.all(out.hidden[out.mask].abs().sum(-1) > 0)
    assert torch.isfinite(out.hidden).all()


def test_empty_prompt_is_just_bos(encoder: TextEncoder) -> None:
    out = encoder.encode([""])
    assert out.hidden.shape == (1, 1, 128) and out.mask.tolist() == [[True]]


def test_deterministic_for_same_weights(encoder: TextEncoder) -> None:
    twin = TextEncoder(tiny().text_encoder).eval()
    twin.load_state_dict(encoder.state_dict())
    a, b = encoder.encode(SAMPLES), twin.encode(SAMPLES)
    assert torch.equal(a.hidden, b.hidden) and torch.equal(a.mask, b.mask)


def test_padding_invariance(encoder: TextEncoder) -> None:
    a = "a cat"
    alone = encoder.encode([a])
    batched = encoder.encode([a, "a much longer prompt about a dog running on the beach at sunset"])
    n = alone.mask.sum().item()
    assert batched.mask[0].sum().item() == n
    torch.testing.assert_close(batched.hidden[0, :n], alone.hidden[0], atol=1e-5, rtol=1e-5)


def test_truncation_at_max_length(encoder: TextEncoder) -> None:
    max_len = encoder.cfg.max_length
    out = encoder.encode(["x" * (3 * max_len), "short"])
    assert out.hidden.shape[1] == max_len
    assert out.mask[0].all() and out.mask[1].sum().item() == 6


def test_other_hidden_layer() -> None:
    cfg = dataclasses.replace(tiny().text_encoder, hidden_layer=1)
    torch.manual_seed(0)
    enc = TextEncoder(cfg).eval()
    out = enc.encode(["hello", "你好世界"])
    ids, mask = enc.tokenize(["hello", "你好世界"])
    with torch.no_grad():
        ref = enc.model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[1]
    torch.testing.assert_close(out.hidden[out.mask], ref[mask.bool()])
    assert torch.all(out.hidden[~out.mask] == 0)
    with pytest.raises(ConfigError, match="hidden_layer"):
        TextEncoder(dataclasses.replace(cfg, hidden_layer=7))


def test_forward_is_differentiable(encoder: TextEncoder) -> None:
    ids, mask = encoder.tokenize(["grad"])
    encoder.model.embed_tokens.weight.grad = None
    encoder(ids, mask).hidden.sum().backward()
    assert encoder.model.embed_tokens.weight.grad is not None
    encoder.zero_grad(set_to_none=True)


def test_seedance_text_encoder_shape_on_meta() -> None:
    cfg = seedance_1_0().text_encoder
    with torch.device("meta"):
        enc = TextEncoder(cfg)
    assert enc.tokenizer is None  # tokenizer.json lives in a model directory
    params = sum(p.numel() for p in enc.parameters())
    assert 7.0e9 <= params <= 7.7e9, params
    assert enc.device.type == "meta"
    assert enc.model.embed_tokens.weight.shape == (152064, 3584)
    assert len(enc.model.layers) == 28
    with pytest.raises(ModelLoadError, match="tokenizer"):
        enc.tokenize(["x"])


def test_hf_config_carries_shape() -> None:
    from seedance.model.text import hf_config

    hc = hf_config(seedance_1_0().text_encoder)
    assert (hc.hidden_size, hc.num_hidden_layers, hc.num_key_value_heads) == (3584, 28, 4)
    assert hc.max_position_embeddings >= 512 and not hc.tie_word_embeddings
    # transformers 5.x keeps rope_theta inside rope_parameters; 4.x as an attribute.
    theta = getattr(hc, "rope_parameters", None) or {"rope_theta": hc.rope_theta}
    assert theta["rope_theta"] == 1e6
    with pytest.raises(ConfigError, match="model_type"):
        hf_config(dataclasses.replace(tiny().text_encoder, model_type="no-such-model"))
