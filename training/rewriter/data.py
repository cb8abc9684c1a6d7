"""Rewriter training data: rows of (prompt, task, language, chosen caption, rejected rewrites).

One JSONL row per example:

    {"prompt": "red circle goes right", "task": "t2v" | "i2v", "language": "en" | "zh",
     "chosen": "<the correct dense caption>", "rejected": ["<a wrong rewrite>", ...],
     "changed": ["colour", ...]}

`rejected` / `changed` may be empty (SFT-only rows); other keys are ignored. A training
sequence is exactly what `TransformersRewriter` sees and should produce at inference:

    encode_model_prompt(build_model_prompt(tok, prompt, task, detect_language(prompt)))
    + tok.encode(SEPARATOR + caption) + [eos]

with the loss on the caption and <eos> only. The prompt text and its token ids come from the
rewriter's own functions (model/rewriter/local_lm.py), so training and serving cannot drift.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from seedance.errors import InvalidRequestError
from seedance.model.rewriter.base import check_request, clean_model_output, detect_language
from seedance.model.rewriter.local_lm import build_model_prompt, encode_model_prompt
from seedance.model.rewriter.templates import LANGUAGES, TASKS
from seedance.training.data.latents import DatasetError

IGNORE_INDEX = -100  # label value torch's cross-entropy (and HF's LM loss) skips


@dataclass(frozen=True)
class RewriteRow:
    where: str  # "file.jsonl:LINE", for error messages
    prompt: str  # stripped, as check_request leaves it
    task: str
    language: str
    chosen: str  # whitespace-collapsed, i.e. what clean_model_output would return for it
    rejected: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()


@dataclass(frozen=True)
class Example:
    input_ids: list[int]
    labels: list[int]  # IGNORE_INDEX on prompt tokens


def _fail(where: str, field: str, rule: str) -> DatasetError:
    return DatasetError(f"{where}: {field}: {rule}")


def _caption(value: Any, where: str, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(where, field, "must be a non-empty string")
    text = " ".join(value.split())
    # The model is trained to emit the caption as inference would return it; a caption the
    # output cleaner would change (a leading "Caption:" label) could never be reproduced.
    if clean_model_output(text) != text:
        raise _fail(where, field, "starts with a 'Caption:' label, which the rewriter strips from output")
    return text


def _strings(obj: dict, key: str, where: str) -> list[Any]:
    value = obj.get(key, [])
    if not isinstance(value, list):
        raise _fail(where, key, "must be a list of strings")
    return value


def parse_row(obj: Any, where: str) -> RewriteRow:
    """Validate one decoded JSON row; errors name `where` and the field."""
    if not isinstance(obj, dict):
        raise DatasetError(f"{where}: must be a JSON object")
    try:
        prompt = check_request(obj.get("prompt", ""), "t2v")  # the rewriter's own request check
    except InvalidRequestError:
        raise _fail(where, "prompt", "must be a non-empty string") from None
    task = obj.get("task")
    if task not in TASKS:
        raise _fail(where, "task", f"must be one of {', '.join(TASKS)}, got {task!r}")
    language = obj.get("language")
    if language not in LANGUAGES:
        raise _fail(where, "language", f"must be one of {', '.join(LANGUAGES)}, got {language!r}")
    # At inference the caption language is detected from the prompt, never given: a row whose
    # label disagrees would teach a prompt -> caption mapping the rewriter is never asked for.
    if detect_language(prompt) != language:
        raise _fail(where, "language", f"is {language!r} but the prompt reads as {detect_language(prompt)!r}")
    chosen = _caption(obj.get("chosen"), where, "chosen")
    if detect_language(chosen) != language:
        raise _fail(where, "chosen", f"is not written in {language!r}")
    rejected = [_caption(r, where, f"rejected[{i}]") for i, r in enumerate(_strings(obj, "rejected", where))]
    for i, r in enumerate(rejected):
        if r == chosen:
            raise _fail(where, f"rejected[{i}]", "equals the chosen caption")
    changed = _strings(obj, "changed", where)
    if not all(isinstance(c, str) and c.strip() for c in changed):
        raise _fail(where, "changed", "must be a list of non-empty strings")
    return RewriteRow(where, prompt, task, language, chosen, tuple(rejected), tuple(changed))


def load_rows(path: str | Path) -> list[RewriteRow]:
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such rewrite data file (JSONL)")
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise DatasetError(f"{path}:{n}: not valid JSON ({e.msg})") from None
        rows.append(parse_row(obj, f"{path}:{n}"))
    if not rows:
        raise DatasetError(f"{path}: no rows")
    return rows


def model_input(tokenizer: Any, prompt: str, task: str) -> str:
    """The text the rewriter feeds its LM for this request (same calls as TransformersRewriter)."""
    text = check_request(prompt, task)
    return build_model_prompt(tokenizer, text, task, detect_language(text))


def caption_separator(tokenizer: Any) -> str:
    """What sits between the prompt text and the caption: the plain layout ends in "Caption:" and
    the caption follows after a space; a chat template's assistant turn starts directly."""
    return "" if getattr(tokenizer, "chat_template", None) else " "


def tokenizer_corpus(rows: list[RewriteRow]) -> list[str]:
    """Texts a from-scratch BPE tokenizer is trained on: the full model inputs (instruction
    lines included, so they compress well) and every caption as it follows the prompt."""
    # A tokenizer still being trained has no chat template, hence the plain layout (None).
    texts = [model_input(None, r.prompt, r.task) for r in rows]
    texts += [" " + c for r in rows for c in (r.chosen, *r.rejected)]
    return list(dict.fromkeys(texts))


def encode_example(tokenizer: Any, prompt: str, task: str, caption: str, max_length: int,
                   where: str = "") -> Example:
    prompt_ids = list(encode_model_prompt(tokenizer, model_input(tokenizer, prompt, task))["input_ids"])
    caption_ids = tokenizer.encode(caption_separator(tokenizer) + caption, add_special_tokens=False)
    # <eos> is a target so the model learns to stop: generation ends on it.
    target = [*caption_ids, tokenizer.eos_token_id]
    if len(prompt_ids) + len(target) > max_length:
        raise DatasetError(f"{where}: prompt + caption is {len(prompt_ids) + len(target)} tokens, more than "
                           f"max_length {max_length}")
    return Example(prompt_ids + target, [IGNORE_INDEX] * len(prompt_ids) + target)


def encode_rows(tokenizer: Any, rows: list[RewriteRow], max_length: int) -> list[Example]:
    """One SFT example per row: its prompt -> its chosen caption."""
    return [encode_example(tokenizer, r.prompt, r.task, r.chosen, max_length, r.where) for r in rows]


def first_mismatch(a: Any, b: Any, rows: list[RewriteRow]) -> str | None:
    """Where two tokenizers give a row different training ids (None: they agree on every row)."""
    for r in rows:
        for caption in (r.chosen, *r.rejected):
            ids = [encode_example(t, r.prompt, r.task, caption, 1 << 30).input_ids for t in (a, b)]
            if ids[0] != ids[1]:
                return r.where
    return None


def collate(examples: list[Example], pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded (input_ids, attention_mask, labels); padding is masked out of attention and loss."""
    length = max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), length), pad_id, dtype=torch.long)
    mask = torch.zeros(len(examples), length, dtype=torch.long)
    labels = torch.full((len(examples), length), IGNORE_INDEX, dtype=torch.long)
    for k, e in enumerate(examples):
        n = len(e.input_ids)
        ids[k, :n], mask[k, :n], labels[k, :n] = torch.tensor(e.input_ids), 1, torch.tensor(e.labels)
    return ids, mask, labels
