"""Rewriter training: data checks, the inference prompt format, SFT (exact resume, export loads in
TransformersRewriter, memorisation), LoRA, DPO (log 2 at step 0, rewards separate), faithfulness."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path

import pytest
import torch
from conftest import run_torchrun
from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

from seedance.errors import ConfigError, RewriteError
from seedance.model.config import TextEncoderConfig
from seedance.model.rewriter import RewriteResult, TransformersRewriter
from seedance.model.rewriter.local_lm import build_model_prompt, encode_model_prompt
from seedance.training.common.trainer import OptimConfig
from seedance.training.data.latents import DatasetError
from seedance.training.rewriter import (
    LoRAConfig,
    RewriterDPOConfig,
    RewriterSFTConfig,
    apply_lora,
    load_rows,
    mark_only_lora_trainable,
    merge_lora,
    rewrite_faithfulness,
    train_dpo,
    train_sft,
)
from seedance.training.rewriter.cli import main
from seedance.training.rewriter.data import IGNORE_INDEX, encode_example
from seedance.training.rewriter.sft import load_local

ROWS = [
    # Digits: our BPE merges "12", but transformers 5 loads a qwen2 model directory's tokenizer
    # with Qwen's pre-tokenizer, which splits digits; training must use the ids serving sees.
    {"prompt": "red circle, 12 px, goes right", "task": "t2v", "language": "en",
     "chosen": "A red circle 12 px wide on a grey background moves slowly to the right. The camera is fixed.",
     "rejected": ["A blue circle 12 px wide on a grey background moves slowly to the right. The camera is fixed.",
                  "A red circle 12 px wide on a grey background moves slowly to the left. The camera is fixed."],
     "changed": ["colour", "direction"]},
    # Same prompt, I2V: describe the motion only. The model must tell the tasks apart.
    {"prompt": "red circle, 12 px, goes right", "task": "i2v", "language": "en",
     "chosen": "The red circle moves slowly to the right.",
     "rejected": ["The red circle moves slowly to the left."], "changed": ["direction"]},
    {"prompt": "蓝色方块向左移动", "task": "t2v", "language": "zh",
     "chosen": "灰色背景上，一个蓝色正方形缓慢向左移动。镜头固定。",
     "rejected": ["灰色背景上，一个红色正方形缓慢向左移动。镜头固定。"], "changed": ["colour"]},
    {"prompt": "绿色圆形向上", "task": "i2v", "language": "zh",
     "chosen": "绿色圆形快速向上移动。", "rejected": ["绿色圆形快速向下移动。"], "changed": ["direction"]},
]
LM = TextEncoderConfig(vocab_size=512, hidden_size=64, num_layers=2, num_heads=4, num_kv_heads=2,
                       intermediate_size=128, max_length=256)
SFT_STEPS = 80


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return path


def sft_config(data: Path, steps: int, **optim) -> RewriterSFTConfig:
    opt = {"lr": 3e-3, "warmup_steps": 5, "max_steps": steps, "batch_size": 4, "checkpoint_every": 1000,
           "log_every": 1000, **optim}
    return RewriterSFTConfig(data=str(data), lm=LM, tokenizer_vocab=512, optim=OptimConfig(**opt))


def dpo_config(data: Path, sft: Path, steps: int, **optim) -> RewriterDPOConfig:
    opt = {"lr": 1e-2, "warmup_steps": 1, "max_steps": steps, "batch_size": 4, "checkpoint_every": 1000,
           "log_every": 1000, **optim}
    return RewriterDPOConfig(data=str(data), sft_model=str(sft), beta=0.1, lora=LoRAConfig(rank=4, alpha=8),
                             optim=OptimConfig(**opt))


_KEYWORDS = {
    "colour": {"red": "red", "blue": "blue", "green": "green", "红色": "red", "蓝色": "blue", "绿色": "green"},
    "shape": {"circle": "circle", "square": "square", "圆形": "circle", "正方形": "square"},
    "direction": {"right": "right", "left": "left", "up": "up", "down": "down",
                  "向右": "right", "向左": "left", "向上": "up", "向下": "down"},
}


def keyword_parse(text: str) -> dict[str, str | None]:
    """Stand-in for the ShapesWorld caption parser: first keyword of each attribute."""
    out: dict[str, str | None] = {}
    for attr, words in _KEYWORDS.items():
        hits = [(m.start(), value) for word, value in words.items()
                for m in re.finditer(rf"\b{word}\b" if word.isascii() else word, text)]
        out[attr] = min(hits)[1] if hits else None
    return out


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("rw") / "data.jsonl", ROWS)


@pytest.fixture(scope="module")
def sft(data: Path) -> tuple[Path, list[dict]]:
    """An SFT run long enough to memorise the four rows: (out_dir, history)."""
    out = data.parent / "sft"
    return out, train_sft(sft_config(data, SFT_STEPS), out, progress=False).history


# --- data ---------------------------------------------------------------------------------------

_OK = ROWS[0]


@pytest.mark.parametrize("row, field", [
    ({k: v for k, v in _OK.items() if k != "prompt"}, "prompt"),
    ({**_OK, "prompt": "   "}, "prompt"),
    ({**_OK, "task": "t2i"}, "task"),
    ({**_OK, "language": "fr"}, "language"),
    ({**_OK, "language": "zh"}, "language"),  # an English prompt labelled Chinese
    ({k: v for k, v in _OK.items() if k != "chosen"}, "chosen"),
    ({**_OK, "chosen": "Caption: a red circle."}, "chosen"),
    ({**ROWS[2], "chosen": "A blue square."}, "chosen"),  # wrong language
    ({**_OK, "rejected": "A blue circle."}, "rejected"),
    ({**_OK, "rejected": ["A blue circle.", ""]}, r"rejected\[1\]"),
    ({**_OK, "rejected": [_OK["chosen"]]}, r"rejected\[0\]"),
    ({**_OK, "changed": [1]}, "changed"),
])
def test_bad_rows_name_line_and_field(tmp_path: Path, row: dict, field: str) -> None:
    path = write_jsonl(tmp_path / "data.jsonl", [_OK, row])
    with pytest.raises(DatasetError, match=rf"data\.jsonl:2: {field}: "):
        load_rows(path)


def test_bad_files(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text(json.dumps(_OK) + "\n{broken\n")
    with pytest.raises(DatasetError, match=r"a\.jsonl:2: not valid JSON"):
        load_rows(tmp_path / "a.jsonl")
    (tmp_path / "b.jsonl").write_text("[1, 2]\n")
    with pytest.raises(DatasetError, match=r"b\.jsonl:1: must be a JSON object"):
        load_rows(tmp_path / "b.jsonl")
    with pytest.raises(DatasetError, match="no such"):
        load_rows(tmp_path / "missing.jsonl")


def test_rows_are_normalised(tmp_path: Path) -> None:
    rows = load_rows(write_jsonl(tmp_path / "d.jsonl", [{**_OK, "prompt": "  red circle,  12 px\n",
                                                         "chosen": " A red\n circle.  ", "rejected": []}]))
    assert (rows[0].prompt, rows[0].chosen, rows[0].rejected) == ("red circle,  12 px", "A red circle.", ())


# --- SFT ----------------------------------------------------------------------------------------


def test_sequence_is_the_inference_prompt_then_caption_then_eos(sft: tuple[Path, list]) -> None:
    tok, _ = load_local(sft[0] / "model")
    ex = encode_example(tok, ROWS[0]["prompt"], "i2v", ROWS[1]["chosen"], 256)
    prompt = encode_model_prompt(tok, build_model_prompt(tok, ROWS[0]["prompt"], "i2v", "en"))["input_ids"]
    n = len(prompt)
    assert ex.input_ids[:n] == list(prompt) and ex.labels[:n] == [IGNORE_INDEX] * n
    assert ex.labels[n:] == ex.input_ids[n:] and ex.input_ids[-1] == tok.eos_token_id
    assert tok.decode(ex.input_ids[n:-1]) == " " + ROWS[1]["chosen"]


def test_sft_resumes_exactly(data: Path, tmp_path: Path) -> None:
    cfg = sft_config(data, 4, checkpoint_every=2)
    full = train_sft(cfg, tmp_path / "full", progress=False).history
    train_sft(cfg, tmp_path / "killed", max_steps=2, progress=False)
    resumed = train_sft(cfg, tmp_path / "killed", progress=False).history
    assert [h["step"] for h in resumed] == [3, 4]
    assert [h["loss"] for h in resumed] == [h["loss"] for h in full[2:]]


def test_sft_loss_falls_and_export_memorises(sft: tuple[Path, list]) -> None:
    out, history = sft
    losses = [h["loss"] for h in history]
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < 0.05 < 5.0 < losses[0]
    assert sum(losses[-10:]) < sum(losses[:10]) / 50
    trained_with = AutoTokenizer.from_pretrained(out / "tokenizer", local_files_only=True)
    rw = TransformersRewriter(out / "model", max_new_tokens=60)
    # Generation is fed exactly the prompt ids training used (recorded at model.generate).
    _, model = rw._load()
    seen: list[list[int]] = []
    generate = model.generate
    model.generate = lambda **kw: seen.append(kw["input_ids"][0].tolist()) or generate(**kw)
    for row in ROWS:
        result = rw.rewrite(row["prompt"], row["task"])
        assert result == RewriteResult(row["chosen"], "transformers", row["task"], row["language"])
        ex = encode_example(trained_with, row["prompt"], row["task"], row["chosen"], 256)
        n = len(seen[-1])
        assert ex.input_ids[:n] == seen[-1] and ex.labels[n - 1] == IGNORE_INDEX != ex.labels[n]
    assert rw.rewrite(ROWS[0]["prompt"], camera_fixed=True).caption == ROWS[0]["chosen"]  # no duplicate
    assert TransformersRewriter(out / "model", max_new_tokens=60).rewrite(ROWS[0]["prompt"], "i2v") == \
        rw.rewrite(ROWS[0]["prompt"], "i2v")  # greedy: deterministic across loads


def test_sft_init_from_an_existing_model(sft: tuple[Path, list], data: Path, tmp_path: Path) -> None:
    cfg = RewriterSFTConfig(data=str(data), init_from=str(sft[0] / "model"), lm=LM,
                            optim=OptimConfig(lr=1e-4, warmup_steps=1, max_steps=1, batch_size=4))
    history = train_sft(cfg, tmp_path / "ft", progress=False).history
    assert history[0]["loss"] < 0.05  # the memorised weights were loaded, not a fresh init
    assert TransformersRewriter(tmp_path / "ft" / "model").rewrite("绿色圆形向上", "i2v").caption == ROWS[3]["chosen"]


# --- LoRA ---------------------------------------------------------------------------------------


def _tiny_qwen() -> Qwen2ForCausalLM:
    torch.manual_seed(0)
    return Qwen2ForCausalLM(Qwen2Config(vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                        num_key_value_heads=2, intermediate_size=48)).eval()


def test_lora_identity_trainable_and_merge() -> None:
    model = _tiny_qwen()
    ids = torch.randint(0, 64, (2, 9), generator=torch.Generator().manual_seed(1))
    base = model(input_ids=ids).logits
    wrapped = apply_lora(model, LoRAConfig(rank=4, alpha=8))
    assert len(wrapped) == 2 * 7 and wrapped[0] == "model.layers.0.self_attn.q_proj"
    assert torch.equal(model(input_ids=ids).logits, base)  # B = 0: exactly the base model
    params = mark_only_lora_trainable(model)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {n for n, _ in model.named_parameters() if n.endswith((".lora_a", ".lora_b"))}
    assert len(params) == len(trainable) == 28
    with torch.no_grad():
        for p in params:
            p.add_(torch.randn_like(p) * 0.1)  # a trained-looking update
    adapted = model(input_ids=ids).logits
    assert not torch.allclose(adapted, base, atol=1e-3)
    merged = merge_lora(model)
    assert not any("lora" in n for n, _ in merged.named_parameters())
    assert isinstance(merged.model.layers[0].mlp.down_proj, torch.nn.Linear)
    torch.testing.assert_close(merged(input_ids=ids).logits, adapted, atol=1e-5, rtol=1e-5)
    with pytest.raises(ConfigError, match=r"no nn\.Linear"):
        apply_lora(_tiny_qwen(), LoRAConfig(targets=("nope",)))


# --- DPO ----------------------------------------------------------------------------------------


def test_dpo_starts_at_log2_separates_rewards_and_exports(sft: tuple[Path, list], data: Path,
                                                          tmp_path: Path) -> None:
    trainer = train_dpo(dpo_config(data, sft[0], 8), tmp_path / "dpo", progress=False)
    h = trainer.history
    assert h[0]["loss"] == pytest.approx(math.log(2), abs=1e-6)
    assert h[0]["reward_acc"] == 0.0 and h[0]["margin"] == 0.0  # policy == reference
    assert h[-1]["reward_acc"] == 1.0 and h[-1]["margin"] > 0.5 and h[-1]["loss"] < 0.5
    assert not any("lora" in n for n, _ in trainer.module.named_parameters())  # merged for export
    result = TransformersRewriter(tmp_path / "dpo" / "model", max_new_tokens=60).rewrite("绿色圆形向上", "i2v")
    assert result.caption == ROWS[3]["chosen"]


def test_dpo_resumes_exactly(sft: tuple[Path, list], data: Path, tmp_path: Path) -> None:
    cfg = dpo_config(data, sft[0] / "model", 4, checkpoint_every=2)
    full = train_dpo(cfg, tmp_path / "full", progress=False).history
    train_dpo(cfg, tmp_path / "killed", max_steps=2, progress=False)
    resumed = train_dpo(cfg, tmp_path / "killed", progress=False).history
    assert [(h["loss"], h["margin"]) for h in resumed] == [(h["loss"], h["margin"]) for h in full[2:]]


def test_dpo_needs_rejected_rows(sft: tuple[Path, list], tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", [{**r, "rejected": [], "changed": []} for r in ROWS])
    with pytest.raises(DatasetError, match="no row with a rejected"):
        train_dpo(dpo_config(data, sft[0], 2), tmp_path / "dpo", progress=False)


def test_cli_runs_both_stages(data: Path, tmp_path: Path) -> None:
    opt = {"max_steps": 2, "batch_size": 2, "warmup_steps": 1}
    sft_cfg = {"data": str(data), "tokenizer_vocab": 400, "optim": opt,
               "lm": {"hidden_size": 32, "num_layers": 1, "num_heads": 2, "num_kv_heads": 1, "vocab_size": 512}}
    (tmp_path / "sft.json").write_text(json.dumps(sft_cfg))
    assert main(["sft", "--config", str(tmp_path / "sft.json"), "--out", str(tmp_path / "s")]) == 0
    dpo_cfg = {"data": str(data), "sft_model": str(tmp_path / "s"), "lora": {"rank": 2, "targets": ["q_proj"]},
               "optim": {**opt, "betas": [0.9, 0.95]}}
    (tmp_path / "dpo.json").write_text(json.dumps(dpo_cfg))
    assert main(["dpo", "--config", str(tmp_path / "dpo.json"), "--out", str(tmp_path / "d")]) == 0
    assert (tmp_path / "d" / "model" / "config.json").is_file() and (tmp_path / "d" / "latest.pt").is_file()


# --- faithfulness -------------------------------------------------------------------------------


class _Fixed:
    """A rewriter that answers every prompt with one caption (or fails)."""

    def __init__(self, caption: str | None):
        self.caption = caption

    def rewrite(self, prompt: str, task: str = "t2v", camera_fixed: bool = False) -> RewriteResult:
        if self.caption is None:
            raise RewriteError("no caption")
        return RewriteResult(self.caption, "template", task, "en")


def test_rewrite_faithfulness(sft: tuple[Path, list], data: Path) -> None:
    rows = load_rows(data)
    good = rewrite_faithfulness(TransformersRewriter(sft[0] / "model", max_new_tokens=60), rows, keyword_parse)
    assert (good["count"], good["valid"], good["faithful"], good["mismatches"]) == (4, 1.0, 1.0, {})
    assert set(good["by_language"]) == {"en", "zh"} and good["by_task"]["i2v"]["count"] == 2
    wrong = rewrite_faithfulness(_Fixed("A red circle moves to the left."), rows, keyword_parse)
    assert wrong["valid"] == 1.0 and wrong["faithful"] == 0.0
    assert wrong["by_language"]["en"]["faithful"] == 0.0 and wrong["mismatches"] == {"direction": 3, "colour": 2, "shape": 1}
    assert rewrite_faithfulness(_Fixed(None), rows, keyword_parse)["valid"] == 0.0
    assert rewrite_faithfulness(_Fixed("Something else."), rows, keyword_parse)["valid"] == 0.0
    partial = rewrite_faithfulness(_Fixed("The red circle moves slowly to the right."), rows, keyword_parse)
    assert partial["faithful"] == 0.5 and partial["by_language"]["en"]["faithful"] == 1.0


def test_sft_under_torchrun_two_processes(data: Path, tmp_path: Path) -> None:
    cfg = sft_config(data, 2, log_every=1)
    (tmp_path / "sft.json").write_text(json.dumps(dataclasses.asdict(cfg)))
    proc = run_torchrun(["seedance.training.rewriter", "sft"], tmp_path / "sft.json", tmp_path / "ddp")
    assert proc.returncode == 0, proc.stderr[-3000:]
    steps = [json.loads(x)["step"] for x in (tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2]
    assert (tmp_path / "ddp" / "model").is_dir()
