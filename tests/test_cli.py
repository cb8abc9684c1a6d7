"""The `seedance` CLI: end to end in a real subprocess, bad input in-process (fast)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from seedance.cli.main import main
from seedance.model.bundle import save_bundle
from seedance.model.media import read_video


def test_generate_end_to_end_writes_a_decodable_mp4(tmp_path):
    out = tmp_path / "x.mp4"
    proc = subprocess.run(
        [sys.executable, "-m", "seedance.cli.main", "generate", "a red circle moves to the right",
         "-o", str(out), "--seed", "1", "--steps", "2"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {out}" in proc.stdout
    frames, fps = read_video(out)
    assert frames.shape == (17, 64, 64, 3) and fps == 8
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["frames"] == 17 and meta["seed"] == 1 and meta["video"] == "x.mp4"
    assert out.with_suffix(".png").stat().st_size > 0
    assert "denoise" in proc.stderr  # progress bars go to stderr


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "seedance"
    assert script.exists()
    proc = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "generate" in proc.stdout and "info" in proc.stdout


def test_generate_multishot_i2v_and_refine(tmp_path, capsys):
    from PIL import Image

    first = tmp_path / "first.png"
    Image.new("RGB", (96, 96), (20, 200, 40)).save(first)
    out = tmp_path / "multi.mp4"
    code = main(["generate", "a green square, wide shot", "--shot", "close-up of the green square", "--image",
                 str(first), "--frames", "9", "--steps", "1", "--resolution", "128p", "-o", str(out), "-q"])
    assert code == 0, capsys.readouterr().err
    frames, _ = read_video(out)
    assert frames.shape == (9, 128, 128, 3)
    assert read_video(out.with_suffix(".preview.mp4"))[0].shape == (9, 64, 64, 3)
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["task"] == "i2v" and len(meta["shots"]) == 2 and meta["refined"]


def bad_model_dir(tmp_path: Path) -> str:
    from seedance.model.bundle import build_bundle
    from seedance.model.presets import tiny

    d = save_bundle(build_bundle(tiny()), tmp_path / "model")
    cfg = json.loads((d / "config.json").read_text())
    cfg["dit"]["hidden_size"] = 64
    (d / "config.json").write_text(json.dumps(cfg))
    return str(d)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["", ], "prompt: must not be empty"),
        (["   "], "prompt: must not be empty"),
        (["x", "--frames", "16"], "frames: must be 1 + 4k"),
        (["x", "--resolution", "4k"], "resolution:"),
        (["x", "--ratio", "5:4"], "ratio: unknown"),
        (["x", "--steps", "0"], "steps: must be in [1, 1000]"),
        (["x", "--guidance", "-1"], "guidance: must be in [0, 50]"),
        (["x", "--image", "/nonexistent.png"], "image: file not found"),
        (["x", "--image", "NOTIMAGE"], "image: not a readable image"),
        (["x", "-o", "/nonexistent-dir/x.mp4"], "output: directory does not exist"),
        (["x", "-o", "OUT.avi"], "output: must end in .mp4"),
        (["x", "--model", "BADMODEL"], "weights do not match config.json"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, expected):
    not_image = tmp_path / "f.png"
    not_image.write_text("hello")
    subs = {"NOTIMAGE": str(not_image), "OUT.avi": str(tmp_path / "out.avi")}
    if "BADMODEL" in argv:
        subs["BADMODEL"] = bad_model_dir(tmp_path)
    argv = [subs.get(a, a) for a in argv]
    code = main(["generate", *argv, "-q", *(["-o", str(tmp_path / "y.mp4")] if "-o" not in argv else [])])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith("seedance: error: ") and expected in err[-1], err
    assert not (tmp_path / "y.mp4").exists()


def test_info_prints_every_preset(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    for name in ("tiny", "small", "seedance-1.0"):
        assert f"  {name}\n" in out
    assert "dit" in out and "B)" in out  # the big preset is reported in billions


def test_info_json(capsys):
    assert main(["info", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["presets"]["seedance-1.0"]["dit"] > 9e9
    assert data["model"]["config"]["name"] == "tiny"
