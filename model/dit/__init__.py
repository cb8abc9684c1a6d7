"""The Seedance DiT: decoupled spatial (MMDiT, text) and windowed temporal layers with MM-RoPE."""

from seedance.model.dit.blocks import SpatialBlock, TemporalBlock
from seedance.model.dit.rope import mm_rope_positions
from seedance.model.dit.transformer import SeedanceDiT, TextTokens, build_task_input, load_dit_weights

__all__ = ["SeedanceDiT", "SpatialBlock", "TemporalBlock", "TextTokens", "build_task_input", "load_dit_weights",
           "mm_rope_positions"]
