"""Rule-based rewriter: no model, deterministic, always available.

It cannot add information the user did not give, so it does the two things a rewrite must:
make the prompt read like a training caption (clean, capitalised, full sentences) and add the
standard static/dynamic sentences from the template table in the prompt's language.
"""

from __future__ import annotations

import re

from .base import (
    RewriteResult,
    check_request,
    detect_language,
    end_sentence,
    finish_caption,
)
from .templates import PROMPT_PREFIXES, SENTENCE_JOINER, TEMPLATES

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_FULLWIDTH_PUNCT = "，。！？；：、"
# ASCII punctuation right after a Chinese character is almost always meant as full-width.
_TO_FULLWIDTH = {",": "，", ".": "。", "!": "！", "?": "？", ";": "；", ":": "："}


class TemplateRewriter:
    """Prompt -> dense caption by normalisation plus the template table's sentences."""

    backend = "template"

    def rewrite(self, prompt: str, task: str = "t2v", camera_fixed: bool = False) -> RewriteResult:
        text = check_request(prompt, task)
        language = detect_language(text)
        body = normalize_prompt(text, language)
        template = TEMPLATES[(task, language)]
        caption = SENTENCE_JOINER[language].join([*template.lead, body, *template.tail])
        caption = finish_caption(caption, language, camera_fixed)
        return RewriteResult(caption=caption, backend=self.backend, task=task, language=language)


def normalize_prompt(text: str, language: str) -> str:
    """Clean whitespace and punctuation and make the prompt one or more full sentences."""
    text = " ".join(text.split())
    text = _strip_request_prefix(text, language)
    text = _normalize_zh(text) if language == "zh" else _normalize_en(text)
    return end_sentence(text, language)


def _strip_request_prefix(text: str, language: str) -> str:
    for pattern in PROMPT_PREFIXES[language]:
        stripped = re.sub(rf"^(?:{pattern})", "", text, count=1, flags=re.IGNORECASE)
        # Never strip the prompt down to nothing ("make a video of" stays as it is).
        if stripped != text and stripped.strip(" .,!?;:，。！？；："):
            return stripped
    return text


def _normalize_en(text: str) -> str:
    text = re.sub(r"\s+([,.!?;:])", r"\1", text)  # no space before punctuation
    text = re.sub(r"([,.!?;:])\1+", r"\1", text)  # "!!!" / "..." -> one mark
    text = re.sub(r"([,;!?])(?=[^\s\d\"')\]])", r"\1 ", text)  # one space after a clause mark
    text = re.sub(r"\.(?=[A-Z][a-z])", ". ", text)  # "ball.The" -> "ball. The"
    sentences = re.split(r"(?<=[.!?])\s+", text)
    return " ".join(_capitalize(s) for s in sentences if s)


def _capitalize(sentence: str) -> str:
    """Upper-case the sentence's first letter, unless it starts with a number ("3.5 inches") or
    its first word is already mixed case ("iPhone", "eBay")."""
    match = re.search(r"[^\W_]", sentence)  # first letter or digit
    if match is None or not match.group().isalpha():
        return sentence
    first_word = sentence[match.start():].split(" ", 1)[0]
    if any(ch.isupper() for ch in first_word):
        return sentence
    i = match.start()
    return sentence[:i] + sentence[i].upper() + sentence[i + 1 :]


def _normalize_zh(text: str) -> str:
    text = re.sub(rf"(?<=[{_HAN}])\s*([,.!?;:])", lambda m: _TO_FULLWIDTH[m.group(1)], text)
    # No spaces between Chinese characters or around full-width punctuation.
    text = re.sub(rf"(?<=[{_HAN}{_FULLWIDTH_PUNCT}])\s+(?=[{_HAN}{_FULLWIDTH_PUNCT}])", "", text)
    text = re.sub(rf"\s+(?=[{_FULLWIDTH_PUNCT}])", "", text)
    text = re.sub(rf"(?<=[{_FULLWIDTH_PUNCT}])\s+", "", text)
    text = re.sub(rf"([{_FULLWIDTH_PUNCT}])\1+", r"\1", text)  # "。。" -> "。"
    text = re.sub(r"[，、；：]+(?=[。！？])", "", text)  # "，。" -> "。"
    return _capitalize(text)  # a Latin first letter, if any
