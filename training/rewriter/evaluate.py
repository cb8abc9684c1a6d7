"""Rewrite faithfulness: does a rewriter's caption keep every attribute the correct caption has?

`parse(text) -> {attribute: value or None}` reads attributes (colour, shape, direction...) out
of a caption and raises ValueError for text it cannot read; ShapesWorld's caption parser plugs
in here. Per row, the rewriter rewrites `prompt` for `task`:

- valid: it returned a non-empty caption (no RewriteError) that parses to at least one attribute;
- faithful: valid, and every attribute parsed from the chosen caption (not None) has the same
  value in the rewrite's parse. Attributes the rewrite adds beyond the chosen ones are allowed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable

from seedance.errors import RewriteError
from seedance.model.rewriter.base import Rewriter
from seedance.training.data.latents import DatasetError
from seedance.training.rewriter.data import RewriteRow

Parse = Callable[[str], dict[str, "str | None"]]


def _parse(parse: Parse, text: str) -> dict[str, str | None] | None:
    try:
        attrs = parse(text)
    except ValueError:
        return None
    return attrs if any(v is not None for v in attrs.values()) else None


def _rates(outcomes: list[tuple[bool, bool]]) -> dict[str, float]:
    n = len(outcomes)
    return {"count": n, "valid": sum(v for v, _ in outcomes) / n, "faithful": sum(f for _, f in outcomes) / n}


def rewrite_faithfulness(rewriter: Rewriter, rows: Iterable[RewriteRow], parse: Parse) -> dict:
    """{"count", "valid", "faithful" (rates), "by_language": {lang: {...}}, "by_task": {task: {...}},
    "mismatches": {attribute: how many rewrites got it wrong}}."""
    outcomes: list[tuple[RewriteRow, bool, bool]] = []
    mismatches: Counter[str] = Counter()
    for row in rows:
        expected = _parse(parse, row.chosen)
        if expected is None:  # the reference itself must be readable, or the score means nothing
            raise DatasetError(f"{row.where}: chosen: the caption parser cannot read it")
        try:
            caption = rewriter.rewrite(row.prompt, row.task).caption
        except RewriteError:
            caption = ""
        got = _parse(parse, caption) if caption.strip() else None
        wrong = [] if got is None else [k for k, v in expected.items() if v is not None and got.get(k) != v]
        mismatches.update(wrong)
        outcomes.append((row, got is not None, got is not None and not wrong))
    if not outcomes:
        raise DatasetError("no rows to evaluate")
    report: dict = _rates([(v, f) for _, v, f in outcomes])
    for key in ("language", "task"):
        groups = sorted({getattr(r, key) for r, _, _ in outcomes})
        report[f"by_{key}"] = {g: _rates([(v, f) for r, v, f in outcomes if getattr(r, key) == g]) for g in groups}
    report["mismatches"] = dict(mismatches)
    return report
