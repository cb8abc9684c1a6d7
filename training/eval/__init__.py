"""Evaluation: ShapeBench (prompt following, I2V preservation, multi-shot consistency, rewriter faithfulness)."""
