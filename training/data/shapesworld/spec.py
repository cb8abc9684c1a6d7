"""What a ShapesWorld clip is: the vocabulary and the frozen spec dataclasses.

Every other module (renderer, captions, analyzer) reads its words and numbers from here, so
the world, its captions and its measurements cannot drift apart.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

# ---------------------------------------------------------------------------- vocabulary
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star")

# Saturated colours far from each other (min RGB distance ~90) and from every background:
# the analyzer segments the subject by chroma, so all of them keep max-min >= 140.
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 180, 60),
    "blue": (45, 95, 235),
    "yellow": (240, 225, 40),
    "purple": (150, 55, 205),
    "orange": (245, 140, 30),
}
SIZES: tuple[str, ...] = ("small", "large")

# Neutral (zero-chroma) tones, each a different brightness; the stripe texture added on top
# keeps them neutral, so chroma alone separates subject from background.
BACKGROUNDS: dict[str, int] = {"black": 30, "dark grey": 70, "light grey": 170, "white": 215}

DIRECTIONS: tuple[str, ...] = ("left", "right", "up", "down", "static", "bounce")
MOVING: tuple[str, ...] = ("left", "right", "up", "down", "bounce")
SPEEDS: tuple[str, ...] = ("slow", "fast")
CAMERAS: tuple[str, ...] = ("fixed", "pan_left", "pan_right", "zoom_in", "zoom_out")
FRAMINGS: tuple[str, ...] = ("wide", "close")

# ---------------------------------------------------------------------------- geometry
# All lengths are fractions of the frame width, all rates per second, so a clip looks the
# same at any resolution and frame rate.
# Half of the subject's bounding-box side (every shape fills a 2r x 2r box at most) in a wide
# shot; a close-up doubles it. Small/large differ by 1.55x, wide/close by 2x, so the four
# (framing, size) classes stay >= 1.25x apart on a log scale for the analyzer.
SUBJECT_RADIUS: dict[str, float] = {"small": 0.09, "large": 0.14}
FRAMING_ZOOM: dict[str, float] = {"wide": 1.0, "close": 2.0}
SPEED_PER_S: dict[str, float] = {"slow": 0.09, "fast": 0.19}  # frame widths per second
BOUNCE_HZ: dict[str, float] = {"slow": 1.0, "fast": 2.0}  # hops per second
BOUNCE_HEIGHT = 0.15  # frame widths
PAN_PER_S = 0.125  # frame widths per second, in the shot's screen units
ZOOM_PER_S = 0.13  # log scale per second: about 1.3x over two seconds
EDGE_MARGIN = 0.02  # the subject keeps this gap to the frame border


@dataclass(frozen=True)
class Subject:
    shape: str
    color: str
    size: str

    def __post_init__(self) -> None:
        _check("shape", self.shape, SHAPES)
        _check("color", self.color, tuple(COLORS))
        _check("size", self.size, SIZES)


@dataclass(frozen=True)
class Background:
    tone: str

    def __post_init__(self) -> None:
        _check("background", self.tone, tuple(BACKGROUNDS))


@dataclass(frozen=True)
class Motion:
    """direction: one of DIRECTIONS. A static subject has no speed; its speed is kept as
    "slow" so every Motion has the same fields, and captions never mention it."""

    direction: str
    speed: str = "slow"

    def __post_init__(self) -> None:
        _check("direction", self.direction, DIRECTIONS)
        _check("speed", self.speed, SPEEDS)
        if self.direction == "static" and self.speed != "slow":
            raise ValueError("speed: a static motion has speed 'slow' (it is not described)")


@dataclass(frozen=True)
class Shot:
    framing: str
    motion: Motion
    camera: str
    frames: int

    def __post_init__(self) -> None:
        _check("framing", self.framing, FRAMINGS)
        _check("camera", self.camera, CAMERAS)
        if self.frames < 2:
            raise ValueError(f"frames: a shot needs at least 2 frames, got {self.frames}")


@dataclass(frozen=True)
class ClipSpec:
    """One clip: one subject and one background seen through 1..3 shots. `seed` fixes the
    free choices the spec leaves open (start positions, background phase)."""

    subject: Subject
    background: Background
    shots: tuple[Shot, ...]
    fps: int = 8
    width: int = 64
    height: int = 64
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "shots", tuple(self.shots))
        if not self.shots:
            raise ValueError("shots: a clip needs at least one shot")
        if self.width % 2 or self.height % 2:
            raise ValueError(f"width/height must be even (H.264), got {self.width}x{self.height}")

    @property
    def frames(self) -> int:
        return sum(s.frames for s in self.shots)

    def shot_ranges(self) -> list[tuple[int, int]]:
        """[(start, end)] frame ranges, end exclusive."""
        out, t = [], 0
        for s in self.shots:
            out.append((t, t + s.frames))
            t += s.frames
        return out

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["shots"] = [asdict(s) for s in self.shots]
        return d

    @staticmethod
    def from_dict(d: dict[str, Any]) -> ClipSpec:
        shots = tuple(
            Shot(s["framing"], Motion(**s["motion"]), s["camera"], s["frames"]) for s in d["shots"]
        )
        return ClipSpec(
            Subject(**d["subject"]), Background(**d["background"]), shots,
            d.get("fps", 8), d.get("width", 64), d.get("height", 64), d.get("seed", 0),
        )


def _check(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name}: unknown {value!r}; choose one of {', '.join(allowed)}")
