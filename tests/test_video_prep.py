"""Real-video data preparation (training/data/video_prep), proved on ShapesWorld clips concatenated
into longer "raw" videos whose cuts, static shots and duplicates are known."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageFilter

from seedance.model.media import read_video, write_mp4
from seedance.services.local import LocalSeaweedFS
from seedance.training.data import video_prep as vp
from seedance.training.data.latents import DatasetError
from seedance.training.data.shapesworld import detect_shots as shapesworld_shots
from seedance.training.data.shapesworld import read_manifest, row_spec, shot_caption, write_dataset
from seedance.training.data.shapesworld.spec import ClipSpec
from seedance.training.data.video_prep.__main__ import main as cli_main
from seedance.training.data.video_prep.sources import s3_client

FPS, MAX_SECONDS = 8, 4.0  # 4 s: the 49-frame (6 s) shot must be split in two


@dataclass(frozen=True)
class TruthShot:
    start: int
    end: int
    spec: ClipSpec
    index: int  # shot index within its ShapesWorld clip
    role: str = ""  # "original" / "duplicate" for the pair planted for de-duplication


def _dataset(root: Path, n: int, seed: int, **kw: object) -> list[tuple[ClipSpec, np.ndarray]]:
    write_dataset(root, n, seed, **kw)
    return [(row_spec(r), read_video(root / r["path"])[0]) for r in read_manifest(root)]


def _degrade(frames: np.ndarray) -> np.ndarray:
    """A worse copy (blurred, washed out, re-encoded below): what a re-upload looks like."""
    blurred = np.stack([np.asarray(Image.fromarray(f).filter(ImageFilter.GaussianBlur(1.0))) for f in frames])
    return np.clip(blurred.astype(np.float32) * 0.9 + 12, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[TruthShot]]]:
    tmp = tmp_path_factory.mktemp("sw")
    moving = _dataset(tmp / "moving", 8, seed=1, multishot_share=0.4, static_share=0.0)
    long = _dataset(tmp / "long", 1, seed=2, frames=49, multishot_share=0.0, static_share=0.0)
    still = _dataset(tmp / "still", 1, seed=3, multishot_share=0.0, static_share=1.0, camera_share=0.0)
    original = next(c for c in moving if len(c[0].shots) == 1)
    copy = (original[0], _degrade(original[1]))
    plan = {  # source -> ShapesWorld clips back to back; d.mp4 has no sidecar
        "a.mp4": [moving[0], moving[1], long[0], moving[2]], "b.mp4": [moving[3], still[0], moving[4]],
        "sub/c.mp4": [moving[5], copy, moving[6]], "d.mp4": [moving[7]],
    }
    root = tmp / "raw"
    (root / "sub").mkdir(parents=True)
    truth: dict[str, list[TruthShot]] = {}
    for name, parts in plan.items():
        write_mp4(np.concatenate([v for _, v in parts]), root / name, fps=FPS)
        truth[name], t = [], 0
        for spec, video in parts:
            role = "duplicate" if video is copy[1] else "original" if video is original[1] else ""
            truth[name] += [TruthShot(t + a, t + b, spec, k, role) for k, (a, b) in enumerate(spec.shot_ranges())]
            t += len(video)
    (root / "a.json").write_text(json.dumps({"caption": "clip a", "captions": {"en": "clip a", "zh": "片段a"}}))
    (root / "b.txt").write_text("clip b\n")
    (root / "sub" / "c.mp4.json").write_text(json.dumps({"captions": {"en": "clip c"}}))
    (root / "bad.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 20)  # corrupt
    (root / "notes.md").write_text("not a video")
    return root, truth


def _prepare(root: Path | str, out: Path, **kw: Any) -> vp.PrepResult:
    return vp.prepare_videos(root, out, vp.PrepConfig(max_seconds=MAX_SECONDS), progress=False, **kw)


@pytest.fixture(scope="module")
def prepared(raw, tmp_path_factory) -> vp.PrepResult:
    return _prepare(raw[0], tmp_path_factory.mktemp("out"))


@pytest.fixture(scope="module")
def captioned(raw, tmp_path_factory) -> vp.PrepResult:
    return _prepare(raw[0], tmp_path_factory.mktemp("out_cap"), captioner=vp.ShapesWorldCaptioner())


def _rows(result: vp.PrepResult) -> list[dict]:
    return [json.loads(line) for line in result.manifest.read_text(encoding="utf-8").splitlines()]


def _truth_of(truth: dict[str, list[TruthShot]], source: str, start: int, end: int) -> TruthShot:
    return next(s for s in truth[source] if s.start <= start and end <= s.end)


def test_detector_finds_every_cut_made(raw, prepared):
    root, truth = raw
    found = {s["source"]: s["shots"] for s in prepared.report["sources"] if s["status"] == "ok"}
    assert found == {name: [[s.start, s.end] for s in shots] for name, shots in truth.items()}
    for name in truth:  # the ShapesWorld analyzer's own (world-specific) detector agrees
        assert [list(s) for s in shapesworld_shots(read_video(root / name)[0])] == found[name]


def test_detector_on_general_video_ignores_pans_and_finds_cuts():
    noise = [np.random.default_rng(k).integers(0, 255, (24, 40, 3), dtype=np.uint8) for k in range(2)]
    scene = [np.asarray(Image.fromarray(n).resize((320, 192))) for n in noise]  # smooth, textured
    pan = [scene[0][:, 4 * t:4 * t + 128] for t in range(30)]  # fast pan: 4 px per frame
    other = [scene[1][:, 2 * t:2 * t + 128] for t in range(20)]
    assert vp.detect_shots(np.stack(pan + other)) == [(0, 30), (30, 50)]
    assert vp.detect_shots(np.stack(pan), vp.ShotDetector(ratio=3.0)) == [(0, 30)]  # a pan is no cut


def test_clips_are_cut_short_aligned_and_written(raw, prepared):
    truth = raw[1]
    _, min_frames = vp.frame_limits(FPS, MAX_SECONDS, vp.PrepConfig().min_seconds)
    rows = _rows(prepared)
    for r in rows:
        assert min_frames <= r["frames"] <= MAX_SECONDS * FPS and (r["frames"] - 1) % 4 == 0
        assert r["end"] - r["start"] == r["frames"] and r["fps"] == FPS
        _truth_of(truth, r["source"], r["start"], r["end"])  # inside one true shot
        frames, fps = read_video(prepared.out / r["path"])
        assert len(frames) == r["frames"] and fps == FPS
    long = [r for r in rows if r["source"] == "a.mp4" and _truth_of(truth, "a.mp4", r["start"], r["end"]).spec.frames == 49]
    assert [(r["part"], r["frames"]) for r in long] == [(0, 21), (1, 21)]  # 49 frames -> 2 equal parts
    emb = np.load(prepared.out / vp.EMBEDDINGS)
    assert [r["embedding_id"] for r in rows] == list(range(len(rows))) and emb.shape[0] == len(rows)
    assert np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-5)


def test_counts_per_step(prepared):
    assert prepared.counts == {"input_videos": 5, "corrupt_skipped": 1, "failed_videos": 0, "shots_found": 18,
                               "clips_cut": 19, "dropped_short": 0, "dropped_static": 1, "dropped_uncaptioned": 3,
                               "dropped_duplicate": 1, "dropped_failed": 0, "kept": 14}
    assert json.loads((prepared.out / "report.json").read_text())["counts"] == prepared.counts


def _rejected(result: vp.PrepResult, step: str) -> list[dict]:
    return [r for r in result.report["rejected"] if r["step"] == step]


def test_static_clip_is_dropped(raw, prepared):
    _, truth = raw
    static = {(name, s.start) for name, shots in truth.items() for s in shots
              if s.spec.shots[s.index].motion.direction == "static" and s.spec.shots[s.index].camera == "fixed"}
    assert len(static) == 1
    dropped = _rejected(prepared, "static")
    assert {(r["source"], _truth_of(truth, r["source"], r["start"], r["end"]).start) for r in dropped} == static


def test_near_duplicate_is_dropped_and_the_sharper_copy_kept(raw, prepared):
    _, truth = raw
    dup = next(s for s in truth["sub/c.mp4"] if s.role == "duplicate")
    orig_source, orig = next((n, s) for n, shots in truth.items() for s in shots if s.role == "original")
    dropped = _rejected(prepared, "duplicate")
    assert len(dropped) == 1 and dropped[0]["source"] == "sub/c.mp4"
    assert dup.start <= dropped[0]["start"] < dropped[0]["end"] <= dup.end
    keeper = next(r for r in _rows(prepared) if r.get("duplicates") == [dropped[0]["id"]])
    assert keeper["source"] == orig_source and orig.start <= keeper["start"] < orig.end
    assert keeper["id"] in dropped[0]["reason"]


def test_corrupt_file_is_skipped_and_a_missing_caption_rejected_naming_the_source(prepared):
    bad = [s for s in prepared.report["sources"] if s["status"] == "corrupt"]
    assert [s["source"] for s in bad] == ["bad.mp4"] and "bad.mp4" in bad[0]["reason"]
    assert {r["source"] for r in _rows(prepared)} == {"a.mp4", "b.mp4", "sub/c.mp4"}  # the run went on
    rejected = _rejected(prepared, "uncaptioned")
    assert len(rejected) == 3 and all(r["source"] == "d.mp4" for r in rejected)
    assert all("d.mp4" in r["reason"] and "no caption sidecar" in r["reason"] for r in rejected)


def test_sidecars_apply_to_their_clips_and_bad_ones_are_named(prepared):
    by_source = {r["source"]: r for r in _rows(prepared)}
    assert by_source["a.mp4"]["captions"] == {"en": "clip a", "zh": "片段a"}
    assert by_source["b.mp4"]["caption"] == "clip b" and by_source["b.mp4"]["caption_origin"] == "sidecar:b.txt"
    assert by_source["sub/c.mp4"]["caption"] == "clip c"  # "caption" falls back to captions.en
    assert vp.parse_sidecar('{"caption": " x "}', "v.json").text == "x"
    for text, where, why in [("{", "v.json", "not valid JSON"), ("{}", "v.json", "no caption"),
                             ("   ", "v.txt", "empty caption"), ('{"captions": {"en": 3}}', "v.json", "captions")]:
        with pytest.raises(vp.CaptionError, match=why) as err:
            vp.parse_sidecar(text, where)
        assert where in str(err.value)


def test_shapesworld_captioner_describes_clips_without_sidecar(raw, captioned):
    _, truth = raw
    rows = [r for r in _rows(captioned) if r["source"] == "d.mp4"]
    assert len(rows) == 3 and not _rejected(captioned, "uncaptioned")
    for r in rows:
        shot = _truth_of(truth, "d.mp4", r["start"], r["end"])
        assert r["captions"] == {lang: shot_caption(shot.spec, shot.index, lang) for lang in ("en", "zh")}
        assert r["caption_origin"] == "captioner:shapesworld" and r["i2v_captions"]["en"].startswith("The subject")
    assert all(r["caption_origin"].startswith("sidecar:") for r in _rows(captioned) if r["source"] != "d.mp4")


def test_cutting_and_dedup_rules():
    clips, short = vp.cut_shots([(0, 3), (3, 40), (40, 240)], max_frames=93, min_frames=8)
    assert [(c.start, c.frames) for c in short] == [(1, 1)]  # 3 frames snap to 1: too short
    # 200 frames > 93: three shares of 66, 67 and 67 frames, each holding a centred 65-frame part
    assert [(c.shot, c.part, c.start, c.frames) for c in clips] == [
        (1, 0, 3, 37), (2, 0, 40, 65), (2, 1, 107, 65), (2, 2, 174, 65)]
    assert vp.frame_limits(24, 12, 1) == (285, 24)
    e = np.eye(3, dtype=np.float32)  # de-duplication keeps the best member of each cluster
    emb = np.stack([e[0], e[1], (e[0] + 0.01 * e[2]) / np.linalg.norm(e[0] + 0.01 * e[2]), e[2]])
    assert vp.near_duplicates(emb, [1.0, 5.0, 3.0, 2.0], 0.97) == [2, None, None, None]


def test_bad_input_paths_raise_clear_errors(tmp_path, capsys):
    with pytest.raises(DatasetError, match="does not exist"):
        vp.prepare_videos(tmp_path / "nope", tmp_path / "out", progress=False)
    (tmp_path / "readme.txt").write_text("no videos here")
    with pytest.raises(DatasetError, match="no videos found"):
        vp.prepare_videos(tmp_path, tmp_path / "out", progress=False)
    assert cli_main(["--input", str(tmp_path / "nope"), "--out", str(tmp_path / "o"), "--local"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_cli_local_prints_one_summary_line(raw, tmp_path, capsys):
    args = ["--input", str(raw[0]), "--out", str(tmp_path), "--max-seconds", str(MAX_SECONDS), "--local"]
    assert cli_main([*args, "--no-progress"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and "14 kept" in lines[0] and (tmp_path / "manifest.jsonl").is_file()


@pytest.mark.slow  # ~15 s: builds, saves and loads the tiny model
def test_encode_writes_latent_shards_and_rejects_a_row_without_caption(prepared, tmp_path):
    from seedance.model.bundle import build_bundle, save_bundle
    from seedance.model.presets import tiny
    from seedance.training.data.latents import LatentBuckets
    from seedance.training.data.video_prep.encode import encode_prepared

    data = tmp_path / "data"
    shutil.copytree(prepared.out, data)
    rows = _rows(prepared)[:3]
    del rows[1]["caption"]  # a manifest row with a missing caption
    (data / "manifest.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    model = save_bundle(build_bundle(tiny()), tmp_path / "model")
    out, skipped = encode_prepared(data, model, tmp_path / "latents", progress=False)
    assert len(skipped) == 1 and all(w in skipped[0] for w in (rows[1]["id"], rows[1]["source"], "missing caption"))
    buckets = LatentBuckets(out)
    assert sum(buckets.sizes) == 2 and all(b.latent_shape[0] == 8 for b in buckets.buckets)


@pytest.mark.slow
def test_ray_and_local_give_the_same_manifest(raw, prepared, tmp_path):
    ray_result = _prepare(raw[0], tmp_path / "ray", use_ray=True)
    assert ray_result.report["runner"] == "ray" and _rows(ray_result) == _rows(prepared)
    assert np.array_equal(np.load(ray_result.out / vp.EMBEDDINGS), np.load(prepared.out / vp.EMBEDDINGS))


@pytest.mark.slow
def test_s3_input_through_a_real_seaweedfs_server(raw, prepared, tmp_path, monkeypatch):
    with LocalSeaweedFS(tmp_path / "s3", bucket="videos") as server:  # loopback, telemetry off
        s3 = server.settings
        env = {"ENDPOINT": f"http://{s3.endpoint}", "ACCESS_KEY": s3.access_key, "SECRET_KEY": s3.secret_key}
        for k, v in env.items():
            monkeypatch.setenv(f"SEEDANCE_S3_{k}", v)
        client = s3_client()
        for p in sorted(raw[0].rglob("*")):
            if p.is_file():
                client.fput_object("videos", f"raw/{p.relative_to(raw[0]).as_posix()}", str(p))
        result = _prepare("s3://videos/raw", tmp_path / "out")
        with pytest.raises(DatasetError, match="no videos found"):
            _prepare("s3://videos/nothing-here", tmp_path / "out2")
    assert result.counts == prepared.counts and all(r["uri"].startswith("s3://videos/raw/") for r in _rows(result))
    assert [dict(r, uri="") for r in _rows(result)] == [dict(r, uri="") for r in _rows(prepared)]


def _dissolve(a: np.ndarray, b: np.ndarray, frames: int) -> np.ndarray:
    """`frames` frames blending a's last frame into b's first (a cross-dissolve)."""
    w = np.linspace(0, 1, frames + 2)[1:-1, None, None, None]
    return (a[-1:].astype(np.float32) * (1 - w) + b[:1].astype(np.float32) * w).round().astype(np.uint8)


def _fade_through_black(a: np.ndarray, b: np.ndarray, frames: int) -> np.ndarray:
    half = frames // 2
    down = np.linspace(1, 0, half + 1)[1:, None, None, None] * a[-1:].astype(np.float32)
    up = np.linspace(0, 1, frames - half + 1)[1:, None, None, None] * b[:1].astype(np.float32)
    return np.concatenate([down, up]).round().astype(np.uint8)


def test_detector_finds_dissolves_and_fades_and_splits_them_in_the_middle(tmp_path):
    clips = [v for spec, v in _dataset(tmp_path / "sw", 6, seed=5, multishot_share=0.0, static_share=0.0)]
    a, b, c = clips[0], clips[1], clips[2]
    parts = [a, _dissolve(a, b, 8), b, _fade_through_black(b, c, 8), c]
    video = np.concatenate(parts)
    mids = [len(a) + 4, len(a) + 8 + len(b) + 4]  # the middle frame of each transition
    shots = vp.detect_shots(video)
    cuts = [start for start, _ in shots[1:]]
    assert len(cuts) == 2, shots
    assert all(abs(got - want) <= 2 for got, want in zip(cuts, mids, strict=True)), (cuts, mids)
    hard = np.concatenate([a, b, c])  # the same clips back to back: hard cuts only, found as before
    assert [s for s, _ in vp.detect_shots(hard)[1:]] == [len(a), len(a) + len(b)]
