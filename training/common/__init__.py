"""What every training pipeline shares: checkpoints with exact resume, distributed setup,
resumable data order, and the optimisation loop."""
