"""Text corpora for the language-model pipelines: every caption and prompt of a dataset."""

from __future__ import annotations

import json
from pathlib import Path

from seedance.training.data.latents import DatasetError

TEXT_KEYS = ("caption", "prompt", "rewrite")


def _strings(value, key: str = "") -> list[str]:
    """All strings under keys that name captions, prompts or rewrites (recursively)."""
    if isinstance(value, str):
        return [value] if any(k in key for k in TEXT_KEYS) and value.strip() else []
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in _strings(v, f"{key}.{k}".lower())]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v, key)]
    return []


def caption_corpus(source: Path) -> list[str]:
    """Unique texts, in first-seen order, from a dataset's manifest.jsonl or a .txt (one per line)."""
    source = Path(source)
    if source.is_dir():
        source = source / "manifest.jsonl"
    if not source.is_file():
        raise DatasetError(f"{source}: no such corpus (a dataset folder with manifest.jsonl, or a .txt file)")
    texts: list[str] = []
    if source.suffix == ".txt":
        texts = [line.strip() for line in source.read_text().splitlines() if line.strip()]
    else:
        for n, line in enumerate(source.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                texts.extend(_strings(json.loads(line)))
            except json.JSONDecodeError as e:
                raise DatasetError(f"{source}:{n}: not valid JSON ({e.msg})") from None
    unique = list(dict.fromkeys(texts))
    if not unique:
        raise DatasetError(f"{source}: no captions or prompts found")
    return unique
