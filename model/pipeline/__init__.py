"""The in-process generation pipeline and its request types."""

from seedance.model.pipeline.pipeline import STAGES, GenerationResult, Progress, SeedancePipeline
from seedance.model.pipeline.request import GenerationRequest, Plan, plan

__all__ = ["STAGES", "GenerationRequest", "GenerationResult", "Plan", "Progress", "SeedancePipeline", "plan"]
