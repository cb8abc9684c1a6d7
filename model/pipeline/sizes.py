"""Output sizes and frame counts.

A resolution preset names the short side; the long side follows the aspect ratio; both are
rounded UP to the model's spatial multiple (VAE factor x patch). This reproduces the hosted
API's 16:9 sizes (480p = 864x480, 720p = 1280x720, 1080p = 1920x1088).
Frame counts are 1 + k * (VAE temporal factor); a duration maps to the nearest such count.
"""

from __future__ import annotations

from fractions import Fraction

from seedance.errors import InvalidRequestError

RESOLUTIONS: dict[str, int] = {"64p": 64, "128p": 128, "256p": 256, "480p": 480, "720p": 720, "1080p": 1080}
RATIOS: dict[str, Fraction] = {
    r: Fraction(*map(int, r.split(":"))) for r in ("16:9", "4:3", "1:1", "3:4", "9:16", "21:9")
}
ADAPTIVE = "adaptive"


def _ceil_to(x: float, multiple: int) -> int:
    return max(multiple, -(-round(x * 1000) // (multiple * 1000)) * multiple)


def frame_size(resolution: str, ratio: str, multiple: int) -> tuple[int, int]:
    """(width, height) in pixels for a resolution preset and an aspect ratio."""
    if resolution not in RESOLUTIONS:
        raise InvalidRequestError("resolution", f"unknown {resolution!r}; choose one of {', '.join(RESOLUTIONS)}")
    if ratio not in RATIOS:
        raise InvalidRequestError("ratio", f"unknown {ratio!r}; choose one of {', '.join(RATIOS)}")
    short, r = RESOLUTIONS[resolution], RATIOS[ratio]
    if r >= 1:
        return _ceil_to(short * r, multiple), _ceil_to(short, multiple)
    return _ceil_to(short, multiple), _ceil_to(short / r, multiple)


def closest_ratio(width: int, height: int) -> str:
    """The listed aspect ratio nearest (in log space) to width:height, for `adaptive`."""
    import math

    target = math.log(width / height)
    return min(RATIOS, key=lambda k: abs(math.log(RATIOS[k]) - target))


def frames_for_duration(duration: float, fps: int, temporal: int) -> int:
    """Nearest 1 + k*temporal frame count to duration * fps (at least one step of motion)."""
    k = max(1, round(duration * fps / temporal))
    return 1 + k * temporal
