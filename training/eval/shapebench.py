"""ShapeBench: generate for each prompt, then score the video with the ShapesWorld analyzer.

Scores (each split by language, and overall):
- t2v: colour / shape / size / direction / camera accuracy of the subject, for the attributes the
  prompt states;
- i2v: PSNR of the generated first frame against the given one, and motion-direction accuracy;
- multishot: subject consistency across shots (same colour and shape) and per-shot attributes;
- rewriter: the rewrite is valid (parses into ShapesWorld attributes) and faithful (every
  attribute the prompt states survives in the caption).
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from seedance.model.media import fit_image
from seedance.model.pipeline import GenerationRequest, GenerationResult, SeedancePipeline
from seedance.training.data.shapesworld import analyze, parse_caption, subject_consistency
from seedance.training.eval.prompts import BenchRow


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * math.log10(255.0**2 / mse)


def _matches(found: dict[str, Any], expected: dict[str, str]) -> dict[str, bool]:
    return {k: found.get(k) == v for k, v in expected.items()}


def _shot_ranges(result: GenerationResult) -> list[tuple[int, int]]:
    return [(a, b + 1) for a, b in (s["frames"] for s in result.metadata["shots"])]


def _caption_check(caption: str, expected: dict[str, str]) -> dict[str, bool]:
    try:
        parsed = parse_caption(caption)
    except ValueError:
        parsed = {}
    valid = bool(caption.strip()) and any(parsed.get(k) is not None for k in ("color", "shape", "direction"))
    return {"valid": valid, "faithful": valid and all(_matches(parsed, expected).values())}


def score(row: BenchRow, result: GenerationResult, first: np.ndarray | None) -> dict[str, Any]:
    """Per-row scores: attribute hits (bool), psnr, consistency, rewriter validity."""
    analysis = analyze(result.frames, fps=result.plan.fps, shots=_shot_ranges(result))
    shots = [s.__dict__ for s in analysis.shots]
    out: dict[str, Any] = {"line": row.line, "task": row.task, "language": row.language, "prompt": row.prompt,
                           "caption": result.captions[0].caption, "analysis": shots}
    if row.task == "multishot":
        out["consistency"] = subject_consistency(analysis)
        out["hits"] = {f"shot{i}.{k}": v for i, exp in enumerate(row.expected_shots) if i < len(shots)
                       for k, v in _matches(shots[i], exp).items()}
        checks = [_caption_check(c.caption, e) for c, e in zip(result.captions, row.expected_shots, strict=False)]
        out["rewriter"] = {"valid": all(c["valid"] for c in checks), "faithful": all(c["faithful"] for c in checks)}
        return out
    out["hits"] = _matches(shots[0], row.expected)
    if row.task == "i2v" and first is not None:
        given = fit_image(Image.fromarray(first), result.plan.width, result.plan.height)
        out["psnr"] = psnr(given, result.frames[0])
    rewrite_expected = {k: v for k, v in row.expected.items() if row.task == "t2v" or k in ("direction", "camera")}
    out["rewriter"] = _caption_check(result.captions[0].caption, rewrite_expected)
    return out


def _mean(values: list[float]) -> float | None:
    return round(float(np.mean(values)), 4) if values else None


def aggregate(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Accuracies and means per task and language ("all" = both languages)."""
    report: dict[str, Any] = {}
    for task in ("t2v", "i2v", "multishot"):
        per: dict[str, dict[str, Any]] = {}
        for lang in ("en", "zh", "all"):
            subset = [r for r in rows if r["task"] == task and lang in (r["language"], "all")]
            if not subset:
                continue
            hits: dict[str, list[bool]] = defaultdict(list)
            for r in subset:
                for k, v in r["hits"].items():
                    hits[k.split(".")[-1]].append(v)
            entry: dict[str, Any] = {"n": len(subset), **{k: _mean(v) for k, v in sorted(hits.items())}}
            if task == "i2v":
                entry["psnr_db"] = _mean([r["psnr"] for r in subset if "psnr" in r])
            if task == "multishot":
                entry["consistency"] = _mean([r["consistency"] for r in subset])
            per[lang] = entry
        if per:
            report[task] = per
    rewriter = {}
    for lang in ("en", "zh", "all"):
        subset = [r["rewriter"] for r in rows if lang in (r["language"], "all")]
        if subset:
            rewriter[lang] = {"n": len(subset), "valid": _mean([s["valid"] for s in subset]),
                              "faithful": _mean([s["faithful"] for s in subset])}
    report["rewriter"] = rewriter
    return report


def run_shapebench(pipeline: SeedancePipeline, rows: list[BenchRow], seed: int = 0, steps: int | None = None,
                   guidance: float | None = None, progress: bool = True) -> dict[str, Any]:
    scored = []
    iterator = rows
    if progress:
        from tqdm import tqdm

        iterator = tqdm(rows, desc="shapebench", unit="prompt")
    for i, row in enumerate(iterator):
        first = row.first_frame() if row.task == "i2v" else None
        request = GenerationRequest(
            prompt=row.prompt, shots=row.shots, frames=row.frames, seed=seed + i, steps=steps, guidance=guidance,
            image=Image.fromarray(first) if first is not None else None,
        )
        scored.append(score(row, pipeline.generate(request), first))
    return {**aggregate(scored), "rows": scored}


def format_table(report: dict[str, Any]) -> str:
    lines = [f"{'task':<10} {'lang':<4} {'n':>3}  scores"]
    for task in ("t2v", "i2v", "multishot", "rewriter"):
        for lang, entry in report.get(task, {}).items():
            figures = "  ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                                for k, v in entry.items() if k != "n" and v is not None)
            lines.append(f"{task:<10} {lang:<4} {entry['n']:>3}  {figures}")
    return "\n".join(lines)


def default_prompts() -> Path:
    from seedance.training.eval.prompts import DEFAULT_PROMPTS

    return DEFAULT_PROMPTS
