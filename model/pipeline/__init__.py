"""The in-process generation pipeline and its request types.

The request rules (request.py, sizes.py) import no torch, so a serving gateway can validate a
request without loading torch; the torch-heavy pipeline module is imported on first use of one
of its names (PEP 562 module __getattr__), which keeps `from seedance.model.pipeline import
SeedancePipeline` working unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from seedance.model.pipeline.request import GenerationRequest, Plan, plan

if TYPE_CHECKING:
    from seedance.model.pipeline.pipeline import STAGES, GenerationResult, Progress, SeedancePipeline

_FROM_PIPELINE = ("STAGES", "GenerationResult", "Progress", "SeedancePipeline")

__all__ = ["STAGES", "GenerationRequest", "GenerationResult", "Plan", "Progress", "SeedancePipeline", "plan"]


def __getattr__(name: str) -> Any:
    if name in _FROM_PIPELINE:
        from seedance.model.pipeline import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
