"""ShapesWorld: a procedural video world with ground truth (DESIGN.md section 3).

Specs (spec, sampling) -> pixels (render) and texts (captions, prompts, parse) -> datasets
(dataset, CLI in __main__); and back from pixels to attributes (analyzer, shots), which is how
ShapeBench scores prompt following.
"""

from .analyzer import ClipAnalysis, ShotAnalysis, analyze, analyze_shot, subject_consistency
from .captions import WrongRewrite, clip_caption, i2v_caption, shot_caption, wrong_rewrites
from .dataset import WriteSummary, clip_record, clip_spec, generate, read_manifest, row_spec, write_dataset
from .motion import fits_in_frame
from .parse import parse_caption
from .prompts import Prompt, user_prompts
from .render import first_frame, render, subject_track
from .sampling import sample_clip, shot_lengths
from .shots import detect_shots
from .spec import (
    BACKGROUNDS,
    CAMERAS,
    COLORS,
    DIRECTIONS,
    FRAMINGS,
    SHAPES,
    SIZES,
    SPEEDS,
    Background,
    ClipSpec,
    Motion,
    Shot,
    Subject,
)

__all__ = [
    "BACKGROUNDS",
    "CAMERAS",
    "COLORS",
    "DIRECTIONS",
    "FRAMINGS",
    "SHAPES",
    "SIZES",
    "SPEEDS",
    "Background",
    "ClipAnalysis",
    "ClipSpec",
    "Motion",
    "Prompt",
    "Shot",
    "ShotAnalysis",
    "Subject",
    "WriteSummary",
    "WrongRewrite",
    "analyze",
    "analyze_shot",
    "clip_caption",
    "clip_record",
    "clip_spec",
    "detect_shots",
    "first_frame",
    "fits_in_frame",
    "generate",
    "i2v_caption",
    "parse_caption",
    "read_manifest",
    "render",
    "row_spec",
    "sample_clip",
    "shot_caption",
    "shot_lengths",
    "subject_consistency",
    "subject_track",
    "user_prompts",
    "write_dataset",
    "wrong_rewrites",
]
