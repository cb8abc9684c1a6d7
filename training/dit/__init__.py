"""DiT training: progressive pre-training stages and continue-training."""

from seedance.training.dit.train import DiTStageConfig, TaskMix, train_stage

__all__ = ["DiTStageConfig", "TaskMix", "train_stage"]
