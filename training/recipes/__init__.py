"""End-to-end training recipes (make train-tiny)."""
