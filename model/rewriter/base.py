"""What every rewriter backend shares: the result type, request checks, language detection and
the post-processing that makes `camera_fixed` hold whatever produced the caption."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from seedance.errors import InvalidRequestError

from .templates import (
    CAMERA_FIXED,
    FULL_STOP,
    INSTRUCTIONS,
    LANGUAGE_HINT,
    SENTENCE_JOINER,
    TASKS,
)

# Han ideographs: the unified block, extension A, compatibility ideographs and the
# supplementary-plane extensions. Kana/Hangul are deliberately not "zh".
_CJK = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
_TERMINAL = (".", "!", "?", "。", "！", "？", '"', "”", "'", "’", "」", ")", "）")


@dataclass(frozen=True)
class RewriteResult:
    caption: str
    backend: str  # "template" | "transformers" | "openai"
    task: str  # "t2v" | "i2v"
    language: str  # "en" | "zh", detected from the user's prompt


class Rewriter(Protocol):
    def rewrite(self, prompt: str, task: str = "t2v", camera_fixed: bool = False) -> RewriteResult: ...


def detect_language(text: str) -> str:
    """"zh" if the text contains any CJK ideograph, else "en"."""
    return "zh" if _CJK.search(text) else "en"


def check_request(prompt: str, task: str) -> str:
    """Validate a rewrite request; returns the prompt stripped of surrounding whitespace."""
    if not isinstance(prompt, str) or not prompt.strip():
        raise InvalidRequestError("prompt", "must not be empty")
    if task not in TASKS:
        raise InvalidRequestError("task", f"must be one of {', '.join(TASKS)}, got {task!r}")
    return prompt.strip()


def end_sentence(text: str, language: str) -> str:
    """`text` with terminal punctuation, so another sentence can follow it."""
    text = text.rstrip()
    if text.endswith((",", ";", ":", "，", "；", "：", "、")):
        text = text[:-1]
    return text if text.endswith(_TERMINAL) else text + FULL_STOP[language]


def finish_caption(caption: str, language: str, camera_fixed: bool) -> str:
    """Append the fixed-camera sentence when asked (and not already there)."""
    if not camera_fixed:
        return caption
    sentence = CAMERA_FIXED[language]
    if caption.rstrip().endswith(sentence):
        return caption.rstrip()
    return end_sentence(caption, language) + SENTENCE_JOINER[language] + sentence


def clean_model_output(text: str) -> str:
    """A model's answer as a one-paragraph caption: cut at the first blank line (models tend to
    ramble on after the caption), drop an echoed "Caption:" label, collapse whitespace."""
    text = re.split(r"\n\s*\n", text.strip(), maxsplit=1)[0]
    text = re.sub(r"^\s*(caption|描述)\s*[:：]\s*", "", text, flags=re.IGNORECASE)
    return " ".join(text.split())


def instruction_messages(prompt: str, task: str, language: str) -> list[dict[str, str]]:
    """[system, user] chat messages asking an LM for a caption (distinct for t2v and i2v)."""
    return [
        {"role": "system", "content": f"{INSTRUCTIONS[task]} {LANGUAGE_HINT[language]}"},
        {"role": "user", "content": prompt},
    ]
