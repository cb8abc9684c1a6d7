"""Text encoder training: BPE tokenizer on EN+ZH captions, LM steps, exact resume, export loads."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from conftest import run_torchrun
from safetensors.torch import load_file

from seedance.model.config import TextEncoderConfig
from seedance.model.text import TextEncoder
from seedance.model.text.tokenizer import load_tokenizer
from seedance.training.common.trainer import OptimConfig
from seedance.training.data.corpus import caption_corpus
from seedance.training.data.latents import DatasetError
from seedance.training.text_encoder import TextEncoderTrainConfig, train_text_encoder
from seedance.training.text_encoder.tokenizer import train_bpe_tokenizer

CAPTIONS = [
    "A large red circle on a dark grey background moves slowly to the right. The camera is fixed.",
    "A small blue square moves up quickly. The camera pans left.",
    "深灰色背景上，一个大的红色圆形缓慢向右移动。镜头固定。",
    "一个小的蓝色正方形快速向上移动。镜头向左平移。",
] * 3


def write_manifest(path):
    path.mkdir()
    rows = [{"id": i, "path": f"{i}.mp4", "caption_en": c, "user_prompts": {"en": [c[:20]]}, "fps": 8}
            for i, c in enumerate(CAPTIONS)]
    (path / "manifest.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n")
    return path


def test_corpus_collects_captions_and_prompts(tmp_path):
    texts = caption_corpus(write_manifest(tmp_path / "d"))
    assert CAPTIONS[0] in texts and CAPTIONS[2] in texts and CAPTIONS[0][:20] in texts
    assert len(texts) == len(set(texts))
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "manifest.jsonl").write_text('{"caption": "ok"}\n{broken\n')
    with pytest.raises(DatasetError, match=r"manifest.jsonl:2"):
        caption_corpus(bad)


def test_bpe_tokenizer_round_trips_both_languages_and_compresses():
    tok = train_bpe_tokenizer(CAPTIONS, vocab_size=400)
    for text in CAPTIONS[:4]:
        ids = tok.encode(text, add_special_tokens=False)
        assert tok.decode(ids) == text
        assert len(ids) < len(text.encode("utf-8")) / 1.5
    assert tok.convert_tokens_to_ids(["<pad>", "<bos>", "<eos>", "<unk>"]) == [0, 1, 2, 3]


def test_bpe_tokenizer_never_merges_across_chinese_characters():
    # A plain byte-level BPE learns tokens like "色圆形快速向左移动" (shape + speed + direction in
    # one id); the CJK split keeps every Chinese character a token of its own.
    tok = train_bpe_tokenizer(CAPTIONS * 4, vocab_size=400)
    for text in CAPTIONS[2:4]:
        pieces = [tok.decode([i]) for i in tok.encode(text, add_special_tokens=False)]
        assert all(len(p) == 1 for p in pieces), pieces
        assert "".join(pieces) == text
    english = [tok.decode([i]) for i in tok.encode(CAPTIONS[0], add_special_tokens=False)]
    assert " red" in english  # English words still merge


def test_train_resume_and_export(tmp_path):
    data = write_manifest(tmp_path / "d")
    optim = OptimConfig(lr=3e-3, warmup_steps=1, max_steps=4, batch_size=4, checkpoint_every=2, log_every=1)
    cfg = TextEncoderTrainConfig(data=str(data), tokenizer_vocab=400, optim=optim)
    full = train_text_encoder(cfg, tmp_path / "full", progress=False).history
    assert full[-1]["loss"] < full[0]["loss"]
    train_text_encoder(cfg, tmp_path / "killed", max_steps=2, progress=False)
    resumed = train_text_encoder(cfg, tmp_path / "killed", progress=False).history
    assert [h["loss"] for h in resumed] == [h["loss"] for h in full[2:]]

    te_cfg = TextEncoderConfig(**json.loads((tmp_path / "full" / "text_encoder_config.json").read_text()))
    assert te_cfg.tokenizer == "tokenizer.json"
    encoder = TextEncoder(te_cfg, load_tokenizer(te_cfg, tmp_path / "full"))
    encoder.load_state_dict(load_file(tmp_path / "full" / "text_encoder.safetensors"))
    emb = encoder.encode(CAPTIONS[:2])
    assert emb.hidden.shape[0] == 2 and torch.isfinite(emb.hidden).all()


def test_torchrun_two_processes(tmp_path):
    optim = OptimConfig(lr=3e-3, warmup_steps=1, max_steps=2, batch_size=2, checkpoint_every=2, log_every=1)
    cfg = TextEncoderTrainConfig(data=str(write_manifest(tmp_path / "d")), tokenizer_vocab=400, optim=optim)
    (tmp_path / "te.json").write_text(json.dumps(dataclasses.asdict(cfg)))
    proc = run_torchrun("seedance.training.text_encoder", tmp_path / "te.json", tmp_path / "ddp")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "ddp" / "text_encoder.safetensors").exists()
    steps = [json.loads(x)["step"] for x in (tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2]
