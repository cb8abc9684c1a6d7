"""Whole-task progress: the pipeline reports (stage, step, total); clients want one percentage.

Each stage gets a weight close to its share of a typical run's time (denoising dominates), so
the percentage moves roughly linearly in time. It never reaches 100 before the task succeeds:
saving the outputs is the last, separate stage.
"""

from __future__ import annotations

from seedance.protos.seedance.v1 import common_pb2 as pb

# The in-process pipeline's stage names (pipeline.STAGES, plus "save") -> the wire enum.
STAGE_TO_PB: dict[str, int] = {
    "rewrite": pb.STAGE_REWRITE, "encode": pb.STAGE_ENCODE, "denoise": pb.STAGE_DENOISE,
    "decode": pb.STAGE_DECODE, "refine": pb.STAGE_REFINE, "refine_decode": pb.STAGE_REFINE_DECODE,
    "save": pb.STAGE_SAVE,
}
_BASE_WEIGHTS = {"rewrite": 2, "encode": 3, "denoise": 78, "decode": 12, "save": 5}
_REFINE_WEIGHTS = {"rewrite": 2, "encode": 3, "denoise": 40, "decode": 6, "refine": 34, "refine_decode": 10,
                   "save": 5}


def percent(stage: str, step: int, total: int, refine: bool) -> float:
    """Whole-task percentage after `step` of `total` steps of `stage` (stages run in dict order)."""
    weights = _REFINE_WEIGHTS if refine else _BASE_WEIGHTS
    if stage not in weights:
        raise ValueError(f"unknown stage {stage!r} for a {'refined' if refine else 'base'} run")
    done = 0.0
    for name, weight in weights.items():
        if name == stage:
            fraction = min(max(step / total, 0.0), 1.0) if total > 0 else 0.0
            return round(min(done + weight * fraction, 99.9), 2)
        done += weight
    raise AssertionError("unreachable")


def progress_message(stage: str, step: int, total: int, refine: bool, preview_available: bool,
                     previous: float = 0.0) -> pb.Progress:
    """A wire Progress; its percent is never below `previous` (the last one sent)."""
    return pb.Progress(stage=STAGE_TO_PB[stage], step=step, total=total,
                       percent=max(previous, percent(stage, step, total, refine)),
                       preview_available=preview_available)
