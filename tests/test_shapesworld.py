"""ShapesWorld: generator determinism, bilingual captions and their parser, DPO negatives,
the pixel analyzer's accuracy (clean, noisy, MP4), shot detection, and the dataset writer."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from seedance.model.media import read_video
from seedance.training.data.shapesworld import (
    Background,
    ClipSpec,
    Motion,
    Shot,
    Subject,
    analyze,
    analyze_shot,
    clip_caption,
    detect_shots,
    first_frame,
    i2v_caption,
    parse_caption,
    read_manifest,
    render,
    sample_clip,
    shot_caption,
    shot_lengths,
    subject_consistency,
    subject_track,
    user_prompts,
    write_dataset,
    wrong_rewrites,
)
from seedance.training.data.shapesworld.__main__ import main as cli_main
from seedance.training.data.shapesworld.captions import words_of

LANGS = ("en", "zh")


def _specs(seed: int, n: int, **kw) -> list[ClipSpec]:
    rng = np.random.default_rng(seed)
    return [sample_clip(rng, **kw) for _ in range(n)]


def _truth(spec: ClipSpec, k: int) -> dict:
    shot = spec.shots[k]
    static = shot.motion.direction == "static"
    return {"framing": shot.framing, "direction": shot.motion.direction,
            "speed": None if static else shot.motion.speed, "camera": shot.camera}


def _degrade(video: np.ndarray, rng: np.random.Generator, sigma: float = 8.0) -> np.ndarray:
    """A [1, 2, 1] blur in x and y, then Gaussian noise: roughly what a small, imperfectly
    trained model produces."""
    v = video.astype(np.float32)
    p = np.pad(v, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
    v = (p[:, :-2] + 2 * p[:, 1:-1] + p[:, 2:]) / 4
    v = (v[:, :, :-2] + 2 * v[:, :, 1:-1] + v[:, :, 2:]) / 4
    v = v + rng.normal(0, sigma, v.shape)
    return np.clip(np.rint(v), 0, 255).astype(np.uint8)


def test_same_seed_same_clip_and_texts() -> None:
    a, b = _specs(7, 5, multishot_share=0.5), _specs(7, 5, multishot_share=0.5)
    assert a == b
    for sa, sb in zip(a, b, strict=True):
        assert np.array_equal(render(sa), render(sb))
        for lang in LANGS:
            assert clip_caption(sa, lang) == clip_caption(sb, lang)
            assert [p.text for p in user_prompts(sa, lang)] == [p.text for p in user_prompts(sb, lang)]
            assert wrong_rewrites(sa, lang) == wrong_rewrites(sb, lang)
    c = _specs(8, 5, multishot_share=0.5)
    assert a != c
    assert not np.array_equal(render(a[0]), render(c[0]))


def test_render_shape_frame_counts_and_bounds() -> None:
    for spec in _specs(1, 30, multishot_share=0.5, camera_share=0.5):
        video = render(spec)
        assert video.dtype == np.uint8 and video.shape == (spec.frames, 64, 64, 3)
        assert spec.frames in (17, 33) and (spec.frames - 1) % 4 == 0
        # Cuts fall on latent-frame boundaries (1 + 4k) of the (4, 8, 8) VAE.
        assert all((start - 1) % 4 == 0 for start, _ in spec.shot_ranges()[1:])
        track = subject_track(spec)
        assert (track[:, 0] - track[:, 2] >= 0).all() and (track[:, 0] + track[:, 2] <= 64).all()
        assert (track[:, 1] - track[:, 2] >= 0).all() and (track[:, 1] + track[:, 2] <= 64).all()
        assert np.array_equal(first_frame(spec), video[0])
        assert ClipSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_generation_is_fast() -> None:
    specs = _specs(2, 20)
    start = time.perf_counter()
    for spec in specs:
        render(spec)
    assert (time.perf_counter() - start) / len(specs) < 0.1  # measured ~5 ms per 17-frame clip


def test_spec_validation_and_shot_lengths() -> None:
    with pytest.raises(ValueError, match="color"):
        Subject("circle", "pink", "small")
    with pytest.raises(ValueError, match="speed"):
        Motion("static", "fast")
    with pytest.raises(ValueError, match="camera"):
        Shot("wide", Motion("left"), "tilt_up", 17)
    assert shot_lengths(17, 1) == [17]
    assert shot_lengths(33, 2) == [17, 16]
    assert shot_lengths(33, 3) == [9, 12, 12]
    with pytest.raises(ValueError):
        shot_lengths(31, 2)  # not 1 + 4k


def test_captions_state_every_field_in_both_languages() -> None:
    for spec in _specs(3, 60, multishot_share=0.4, camera_share=0.6, close_share=0.2):
        s = spec.subject
        for lang in LANGS:
            text = clip_caption(spec, lang)
            assert all(w.lower() in text.lower() for w in words_of(spec, lang)), (lang, text)
            got = parse_caption(text)
            assert (got["count"], got["size"], got["color"], got["shape"], got["background"]) == (
                1, s.size, s.color, s.shape, spec.background.tone), text
            assert {k: got[k] for k in _truth(spec, 0)} == _truth(spec, 0), text
            if len(spec.shots) > 1:
                assert got["shots"] == [_truth(spec, k) for k in range(len(spec.shots))], text
            for k in range(len(spec.shots)):
                one = parse_caption(shot_caption(spec, k, lang))
                assert {f: one[f] for f in _truth(spec, k)} == _truth(spec, k)
                assert (one["color"], one["shape"], one["size"]) == (s.color, s.shape, s.size)


def test_example_captions() -> None:
    spec = ClipSpec(Subject("circle", "red", "large"), Background("dark grey"),
                    (Shot("wide", Motion("right", "slow"), "fixed", 17),))
    assert clip_caption(spec, "en") == (
        "Wide shot. A large red circle on a dark grey background moves slowly to the right. The camera is fixed.")
    assert clip_caption(spec, "zh") == "远景。深灰色背景上，一个大的红色圆形缓慢向右移动。镜头固定。"
    assert i2v_caption(spec, "en") == "The subject moves slowly to the right. The camera is fixed."
    assert i2v_caption(spec, "zh") == "主体缓慢向右移动。镜头固定。"


def test_i2v_rewrites_describe_motion_only() -> None:
    for spec in _specs(4, 30, multishot_share=0.3, camera_share=0.6):
        for lang in LANGS:
            got = parse_caption(i2v_caption(spec, lang))
            assert got["color"] is None and got["shape"] is None and got["size"] is None
            assert got["background"] is None
            assert {k: got[k] for k in ("direction", "speed", "camera")} == {
                k: _truth(spec, 0)[k] for k in ("direction", "speed", "camera")}


def _agrees(prompt: dict, rewrite: dict, fields: tuple[str, ...]) -> bool:
    """The rewrite keeps every field the prompt states (per shot for multi-shot prompts)."""
    if "shots" in fields:
        ps, rs = prompt["shots"] or [], rewrite["shots"] or []
        if not ps or len(ps) != len(rs) or any(
                v is not None and r[k] != v for p, r in zip(ps, rs, strict=True) for k, v in p.items()):
            return False
    return all(prompt[f] is not None and prompt[f] == rewrite[f] for f in fields if f != "shots")


def test_prompts_are_varied_and_their_rewrites_faithful() -> None:
    for spec in _specs(5, 60, multishot_share=0.3, camera_share=0.5, close_share=0.2):
        for lang in LANGS:
            for task, rewrite in (("t2v", clip_caption(spec, lang)), ("i2v", i2v_caption(spec, lang))):
                prompts = user_prompts(spec, lang, task)
                assert len(prompts) >= 4 and len({p.text for p in prompts}) == len(prompts)
                for p in prompts:
                    assert p.fields, p
                    assert _agrees(parse_caption(p.text), parse_caption(rewrite), p.fields), (p, rewrite)


def test_wrong_rewrites_change_exactly_the_labelled_attribute() -> None:
    for spec in _specs(6, 60, multishot_share=0.3, camera_share=0.5):
        for lang in LANGS:
            for task, right in (("t2v", clip_caption(spec, lang)), ("i2v", i2v_caption(spec, lang))):
                good = parse_caption(right)
                wrongs = wrong_rewrites(spec, lang, task)
                want = {"color", "shape", "size", "count", "direction", "camera"} if task == "t2v" else {
                    "direction", "camera"}
                assert {w.attribute for w in wrongs} == want
                for w in wrongs:
                    bad = parse_caption(w.text)
                    # A static motion has no speed, so changing to or from static adds or drops it.
                    ignore = {"shots", "speed"} if w.attribute == "direction" else {"shots"}
                    diff = {k for k in good if k not in ignore and good[k] != bad[k]}
                    assert diff == {w.attribute}, (w, right)
                    assert str(bad[w.attribute]) == w.value
                    if len(spec.shots) > 1:  # the change goes to the first shot only
                        assert bad["shots"][1:] == good["shots"][1:]


def test_parse_caption_synonyms_and_unknowns() -> None:
    got = parse_caption("two big blue squares going up fast, camera panning to the left")
    assert got["count"] == 2 and got["size"] == "large" and got["color"] == "blue"
    assert got["camera"] == "pan_left" and got["direction"] == "up" and got["speed"] == "fast"
    empty = parse_caption("a beautiful sunset over the sea")
    assert all(empty[k] is None for k in ("size", "color", "shape", "direction", "camera", "shots"))
    zh = parse_caption("画一个快速往左移动的小的紫色三角形，镜头拉远")
    assert (zh["color"], zh["shape"], zh["size"], zh["direction"], zh["speed"], zh["camera"]) == (
        "purple", "triangle", "small", "left", "fast", "zoom_out")


def _accuracy(specs: list[ClipSpec], videos: list[np.ndarray]) -> dict[str, float]:
    hits: dict[str, int] = {}
    total = 0
    for spec, video in zip(specs, videos, strict=True):
        result = analyze(video, fps=spec.fps, shots=spec.shot_ranges())
        for k, shot in enumerate(result.shots):
            truth = {"color": spec.subject.color, "shape": spec.subject.shape, "size": spec.subject.size,
                     "direction": spec.shots[k].motion.direction, "camera": spec.shots[k].camera,
                     "background": spec.background.tone}
            for key, value in truth.items():
                hits[key] = hits.get(key, 0) + (getattr(shot, key) == value)
            total += 1
    return {k: v / total for k, v in hits.items()}


def test_analyzer_accuracy_on_clean_clips() -> None:
    # 100 single-shot clips with 15% static subjects and 40% camera moves. Measured 100% on
    # every attribute over 150 clips (and over MP4 round trips); 98% leaves room for two misses.
    specs = _specs(11, 100, multishot_share=0.0, camera_share=0.4)
    acc = _accuracy(specs, [render(s) for s in specs])
    assert min(acc.values()) >= 0.98, acc


def test_analyzer_accuracy_on_noisy_blurred_clips() -> None:
    # Blur plus noise of sigma 8 grey levels: measured 100% over 100 clips (sigma 15: >= 98.6%).
    specs = _specs(12, 50, multishot_share=0.2, camera_share=0.4)
    rng = np.random.default_rng(0)
    acc = _accuracy(specs, [_degrade(render(s), rng) for s in specs])
    assert min(acc.values()) >= 0.95, acc


def test_detect_shots_finds_multishot_cuts_exactly() -> None:
    rng = np.random.default_rng(1)
    for i, spec in enumerate(_specs(13, 20, multishot_share=1.0, camera_share=0.4)):
        video = render(spec) if i % 2 else _degrade(render(spec), rng)
        assert detect_shots(video) == spec.shot_ranges(), spec
        result = analyze(video, fps=spec.fps)  # shots and framings found from pixels alone
        assert [s.framing for s in result.shots] == [s.framing for s in spec.shots]
        assert subject_consistency(result) == 1.0


def test_detect_shots_on_concatenated_clips() -> None:
    rng = np.random.default_rng(2)
    for trial in range(2):
        specs = _specs(20 + trial, 8, multishot_share=0.3, camera_share=0.4)
        video = np.concatenate([render(s) for s in specs])
        if trial:
            video = _degrade(video, rng)
        truth, offset = [], 0
        for s in specs:
            truth += [(a + offset, b + offset) for a, b in s.shot_ranges()]
            offset += s.frames
        assert detect_shots(video) == truth


def test_subject_consistency_flags_a_changed_subject() -> None:
    a, b = _specs(30, 2, multishot_share=0.0)
    b = ClipSpec(Subject("square" if a.subject.shape != "square" else "circle", a.subject.color, a.subject.size),
                 a.background, b.shots, seed=b.seed)
    result = analyze(np.concatenate([render(a), render(b)]))
    assert len(result.shots) == 2
    assert subject_consistency(result) == 0.5


def test_analyzer_reports_unknown_without_a_subject() -> None:
    grey = np.full((9, 64, 64, 3), 128, dtype=np.uint8)
    shot = analyze_shot(grey)
    assert not shot.found and shot.color == shot.shape == shot.direction == "unknown"
    assert detect_shots(grey) == [(0, 9)]
    assert subject_consistency(analyze(grey)) == 0.0
    one = analyze_shot(first_frame(_specs(31, 1)[0]))  # a single frame: appearance, no motion
    assert one.found and one.direction == "unknown"


def test_write_dataset_and_cli(tmp_path, capsys) -> None:
    summary = write_dataset(tmp_path / "ds", 4, seed=3, multishot_share=0.5)
    rows = read_manifest(tmp_path / "ds")
    assert summary.clips == len(rows) == 4
    for row in rows:
        video, fps = read_video(tmp_path / "ds" / row["path"])
        assert video.shape == (row["frames"], row["height"], row["width"], 3) and fps == row["fps"] == 8
        spec = ClipSpec.from_dict(row["spec"])
        assert row["shots"] == [list(r) for r in spec.shot_ranges()]
        assert set(row["captions"]) == set(row["shot_captions"]) == {"en", "zh"}
        assert len(row["prompts"]["t2v"]["zh"]) >= 4 and row["rewrites"]["i2v"]["en"]
        assert {w["attribute"] for w in row["wrong_rewrites"]} >= {"color", "shape", "direction", "count"}
        result = analyze(video, fps=fps)  # the decoded MP4 still analyses to its spec
        assert [(s.start, s.end) for s in result.shots] == spec.shot_ranges()
        assert all((s.color, s.shape) == (spec.subject.color, spec.subject.shape) for s in result.shots)
    assert not list((tmp_path / "ds").glob(".*"))  # no temporary files left behind
    assert cli_main(["--out", str(tmp_path / "cli"), "--num", "2", "--seed", "1", "--no-progress"]) == 0
    assert "wrote 2 clips" in capsys.readouterr().out
    assert len(read_manifest(tmp_path / "cli" / "manifest.jsonl")) == 2


def test_mirrored_dataset_flips_clips_and_swaps_their_directions(tmp_path, capsys) -> None:
    write_dataset(tmp_path / "ds", 6, seed=8, static_share=0.0, camera_share=0.5, multishot_share=0.3)
    assert cli_main(["--out", str(tmp_path / "m"), "--mirror", str(tmp_path / "ds"), "--no-progress"]) == 0
    assert "wrote the mirror of 6 clips" in capsys.readouterr().out
    rows, mirrored = read_manifest(tmp_path / "ds"), read_manifest(tmp_path / "m")
    assert [m["mirror_of"] for m in mirrored] == [r["id"] for r in rows]  # row k mirrors row k
    swap = {"left": "right", "right": "left", "pan_left": "pan_right", "pan_right": "pan_left"}
    swapped = analyzed = 0
    for row, m in zip(rows, mirrored, strict=True):
        src, spec = ClipSpec.from_dict(row["spec"]), ClipSpec.from_dict(m["spec"])
        assert (spec.subject, spec.background, m["shots"]) == (src.subject, src.background, row["shots"])
        for a, b in zip(src.shots, spec.shots, strict=True):
            assert b.motion.direction == swap.get(a.motion.direction, a.motion.direction)
            assert b.camera == swap.get(a.camera, a.camera) and b.framing == a.framing
            swapped += b.motion.direction != a.motion.direction or b.camera != a.camera
        assert m["shot_captions"]["en"] == [shot_caption(spec, k, "en") for k in range(len(spec.shots))]
        video, _ = read_video(tmp_path / "ds" / row["path"])
        flipped, _ = read_video(tmp_path / "m" / m["path"])
        assert np.abs(flipped.astype(int) - video[:, :, ::-1].astype(int)).mean() < 3  # re-encoded, same picture
        first = spec.shots[0]
        if len(spec.shots) == 1 and first.camera == "fixed" and first.motion.direction in ("left", "right"):
            assert analyze(flipped).shots[0].direction == first.motion.direction  # it really moves the new way
            analyzed += 1
    assert swapped and analyzed  # the draw (seed 8) has pans and fixed-camera left/right clips
    assert cli_main(["--out", str(tmp_path / "x"), "--mirror", str(tmp_path / "missing"), "--no-progress"]) == 2
    assert "--mirror" in capsys.readouterr().err
    for argv in ([], ["--num", "2", "--mirror", str(tmp_path / "ds")]):  # exactly one of the two
        with pytest.raises(SystemExit):
            cli_main(["--out", str(tmp_path / "y"), *argv])
    assert "one of the arguments --num --mirror is required" in capsys.readouterr().err
