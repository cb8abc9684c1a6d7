"""Data preparation for real video: raw videos (a directory or an S3 prefix) -> training clips.

Shot detection (shots), cutting into clips of at most 12 s and 1 + 4k frames (cut), a static
filter and near-duplicate removal on cheap clip features (features), captions from sidecars or
a pluggable captioner (captions), clips + manifest + report (pipeline), run in-process or on Ray
Data (runner), and optional VAE latents + caption embeddings (encode). docs/DATA.md has the
formats; `python -m seedance.training.data.video_prep --help` the CLI.
"""

from .captions import (
    Caption,
    Captioner,
    CaptionError,
    ClipFrames,
    ShapesWorldCaptioner,
    make_captioner,
    parse_sidecar,
)
from .cut import ClipRange, cut_shots, frame_limits, snap_frames
from .decode import CorruptVideoError, FrameSignatures, read_signatures, signatures_of
from .features import ClipFeatures, clip_features, near_duplicates
from .pipeline import EMBEDDINGS, MANIFEST, REPORT, PrepResult, prepare_videos
from .runner import LocalRunner, RayRunner
from .shots import ShotDetector, detect_shots
from .sources import SourceItem, list_sources
from .stages import PrepConfig, clip_id

__all__ = [
    "EMBEDDINGS",
    "MANIFEST",
    "REPORT",
    "Caption",
    "CaptionError",
    "Captioner",
    "ClipFeatures",
    "ClipFrames",
    "ClipRange",
    "CorruptVideoError",
    "FrameSignatures",
    "LocalRunner",
    "PrepConfig",
    "PrepResult",
    "RayRunner",
    "ShapesWorldCaptioner",
    "ShotDetector",
    "SourceItem",
    "clip_features",
    "clip_id",
    "cut_shots",
    "detect_shots",
    "frame_limits",
    "list_sources",
    "make_captioner",
    "near_duplicates",
    "parse_sidecar",
    "prepare_videos",
    "read_signatures",
    "signatures_of",
    "snap_frames",
]
