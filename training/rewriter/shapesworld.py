"""ShapesWorld -> rewriter training rows (the JSONL format of training/rewriter/data.py).

Per clip and language: every user prompt paired with the clip's dense caption (chosen) and the
labelled wrong rewrites (rejected, each changing one attribute) for T2V and I2V. Multi-shot clips
add one row per shot, with the framing-prefixed per-shot prompt the pipeline sends for each shot
("Close-up: a red circle moving left") and that shot's caption, so the rewriter learns the
per-shot form too.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from seedance.training.data.shapesworld import (
    clip_caption,
    read_manifest,
    row_spec,
    user_prompts,
    wrong_rewrites,
)
from seedance.training.eval.prompts import FRAMING


def _row(prompt: str, task: str, lang: str, chosen: str, wrong: list) -> dict:
    return {"prompt": prompt, "task": task, "language": lang, "chosen": chosen,
            "rejected": [w.text for w in wrong if w.text != chosen], "changed": [w.attribute for w in wrong if w.text != chosen]}


def rewriter_rows(data: Path) -> list[dict]:
    rows = []
    for clip in read_manifest(Path(data) / "manifest.jsonl"):
        spec = row_spec(clip)
        for lang in ("en", "zh"):
            if len(spec.shots) == 1:
                for task in ("t2v", "i2v"):
                    chosen = clip["rewrites"][task][lang]
                    wrong = wrong_rewrites(spec, lang, task)
                    rows.extend(_row(p.text, task, lang, chosen, wrong) for p in user_prompts(spec, lang, task))
                continue
            for shot in spec.shots:
                sub = dataclasses.replace(spec, shots=[shot])
                prefix = FRAMING[lang][shot.framing]
                chosen, wrong = clip_caption(sub, lang), wrong_rewrites(sub, lang, "t2v")
                rows.extend(_row(prefix + p.text, "t2v", lang, chosen, wrong) for p in user_prompts(sub, lang, "t2v"))
    return rows


def write_rewriter_rows(data: Path, out: Path) -> Path:
    rows = rewriter_rows(data)
    Path(out).write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return Path(out)
