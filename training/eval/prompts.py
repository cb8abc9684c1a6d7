"""ShapeBench prompt sets: the JSONL format, its validation, and the shipped default set.

One row per generation:
    {"prompt": "a red circle moving right",        # required
     "task": "t2v" | "i2v" | "multishot",           # default t2v
     "shots": ["close-up, moving left"],            # further shots' prompts (multishot)
     "image": "first.png",                          # i2v first frame (path relative to the file), or
     "spec": {...},                                 # a ShapesWorld spec to render the first frame from
     "frames": 17,                                  # optional
     "expected": {"color": "red", "shape": "circle", "direction": "right"},   # attributes to score
     "expected_shots": [{...}, ...]}                # multishot: per-shot attributes
Language is detected from the prompt. Expected attributes are optional: rows without them are
generated and only scored where something is expected.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from seedance.errors import InvalidRequestError
from seedance.model.rewriter import detect_language

TASKS = ("t2v", "i2v", "multishot")
SCORED = ("color", "shape", "size", "direction", "camera")
DEFAULT_PROMPTS = Path(__file__).parent / "shapebench_default.jsonl"
# The shipped sets, by name. `t2v-grid`: every colour x shape x direction (6 x 4 x 4) once in
# English and once in Chinese, three phrasings each: 192 T2V prompts, where the default set's 16
# T2V rows move a score by 6 points each.
PROMPT_SETS = {"default": DEFAULT_PROMPTS, "t2v-grid": Path(__file__).parent / "shapebench_t2v_grid.jsonl"}
FRAMING = {"en": {"wide": "Wide shot: ", "close": "Close-up: "}, "zh": {"wide": "远景：", "close": "特写："}}


@dataclass
class BenchRow:
    prompt: str
    task: str = "t2v"
    language: str = "en"
    shots: list[str] = field(default_factory=list)
    image: str | None = None
    spec: dict | None = None
    frames: int | None = None
    expected: dict[str, str] = field(default_factory=dict)
    expected_shots: list[dict[str, str]] = field(default_factory=list)
    line: int = 0

    def first_frame(self) -> np.ndarray | None:
        """The I2V condition as uint8 [H, W, 3]: the image file, or the spec's rendered first frame."""
        if self.image:
            from seedance.model.media import load_image

            return np.asarray(load_image(self.image, field=f"line {self.line}: image"))
        if self.spec:
            from seedance.training.data.shapesworld import ClipSpec, first_frame

            return first_frame(ClipSpec.from_dict(self.spec))
        return None


def prompt_set(name_or_path: str | Path | None) -> Path:
    """A shipped set's file by name (PROMPT_SETS), or the given path; None is the default set."""
    if name_or_path is None:
        return DEFAULT_PROMPTS
    return PROMPT_SETS.get(str(name_or_path), Path(name_or_path))


def _fail(path: Path, line: int, field_name: str, rule: str) -> InvalidRequestError:
    return InvalidRequestError(f"{path}:{line}: {field_name}", rule)


def load_prompts(path: Path) -> list[BenchRow]:
    """Read and validate a prompt file; errors name the file, the line and the field."""
    path = Path(path)
    if not path.is_file():
        raise InvalidRequestError("prompts", f"file not found: {path}")
    rows = []
    for n, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not text.strip():
            continue
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise _fail(path, n, "row", f"not valid JSON ({e.msg})") from None
        if not isinstance(data, dict):
            raise _fail(path, n, "row", "must be a JSON object")
        prompt = data.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise _fail(path, n, "prompt", "must be a non-empty string")
        task = data.get("task", "t2v")
        if task not in TASKS:
            raise _fail(path, n, "task", f"must be one of {', '.join(TASKS)}")
        if task == "i2v" and not (data.get("image") or data.get("spec")):
            raise _fail(path, n, "image", "an i2v row needs an image path or a spec")
        shots = data.get("shots", [])
        if not isinstance(shots, list) or not all(isinstance(s, str) and s.strip() for s in shots):
            raise _fail(path, n, "shots", "must be a list of non-empty strings")
        for key in ("expected",):
            if not isinstance(data.get(key, {}), dict):
                raise _fail(path, n, key, "must be an object of attribute -> value")
        image = data.get("image")
        rows.append(BenchRow(
            prompt=prompt, task=task, language=detect_language(prompt), shots=shots,
            image=str((path.parent / image).resolve()) if image else None, spec=data.get("spec"),
            frames=data.get("frames"), expected=data.get("expected", {}),
            expected_shots=data.get("expected_shots", []), line=n,
        ))
    if not rows:
        raise InvalidRequestError("prompts", f"no rows in {path}")
    return rows


def _expected(spec, fields: tuple[str, ...], shot: int = 0) -> dict[str, str]:
    values = {"color": spec.subject.color, "shape": spec.subject.shape, "size": spec.subject.size,
              "direction": spec.shots[shot].motion.direction, "camera": spec.shots[shot].camera}
    return {k: values[k] for k in SCORED if k in fields}


def build_default_prompts(seed: int = 2026, per_language: int = 8) -> list[dict]:
    """The shipped set: per language, `per_language` T2V rows, half as many I2V and multi-shot rows."""
    from seedance.training.data.shapesworld import clip_spec, user_prompts

    rows: list[dict] = []
    index = 0
    for lang in ("en", "zh"):
        for task, count in (("t2v", per_language), ("i2v", per_language // 2), ("multishot", per_language // 2)):
            for _ in range(count):
                spec = clip_spec(seed, index, multishot_share=1.0 if task == "multishot" else 0.0, camera_share=0.0)
                index += 1
                if task == "multishot":
                    subs = [dataclasses.replace(spec, shots=[s]) for s in spec.shots]
                    texts = [user_prompts(sub, lang, "t2v")[0] for sub in subs]
                    framed = [FRAMING[lang][sub.shots[0].framing] + t.text for sub, t in zip(subs, texts, strict=True)]
                    rows.append({"prompt": framed[0], "task": task, "shots": framed[1:],
                                 "frames": spec.frames, "expected_shots": [
                                     _expected(sub, (*t.fields, "color", "shape")) for sub, t in zip(subs, texts, strict=True)]})
                    continue
                prompts = user_prompts(spec, lang, task)
                choice = prompts[index % len(prompts)]
                row = {"prompt": choice.text, "task": task, "frames": spec.frames,
                       "expected": _expected(spec, choice.fields + (("direction",) if task == "i2v" else ()))}
                if task == "i2v":
                    row["spec"] = spec.to_dict()
                rows.append(row)
    return rows


def build_t2v_grid() -> list[dict]:
    """The `t2v-grid` set: each (colour, shape, direction) once per language, phrasings in turn."""
    from seedance.training.data.shapesworld.lexicon import COLOR_WORDS, EN_GERUND, SHAPE_WORDS, motion_phrase

    rows: list[dict] = []
    combos = itertools.product(COLOR_WORDS["en"], SHAPE_WORDS["en"], ("left", "right", "up", "down"))
    for i, (color, shape, direction) in enumerate(combos):
        moves_en, moves_zh = motion_phrase(direction, None, "en"), motion_phrase(direction, None, "zh")
        zc, zs = COLOR_WORDS["zh"][color], SHAPE_WORDS["zh"][shape]
        en = (f"a {color} {shape} {EN_GERUND[direction]}", f"{color} {shape} {moves_en}",
              f"a {color} {shape} that {moves_en}")[i % 3]
        zh = (f"{zc}{zs}{moves_zh}", f"一个{zc}{zs}{moves_zh}", f"{zc}的{zs}{moves_zh}")[i % 3]
        expected = {"color": color, "shape": shape, "direction": direction}
        rows += [{"prompt": text, "task": "t2v", "frames": 17, "expected": expected} for text in (en, zh)]
    return rows


def write_prompt_sets() -> None:
    """Regenerate the shipped prompt files from their builders."""
    for path, rows in ((DEFAULT_PROMPTS, build_default_prompts()), (PROMPT_SETS["t2v-grid"], build_t2v_grid())):
        Path(path).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
