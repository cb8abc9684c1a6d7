"""ShapeBench: prompt files, scoring against ground truth, and the CLI on a few prompts."""

from __future__ import annotations

import dataclasses
import json

import pytest

from seedance.cli.main import main
from seedance.errors import InvalidRequestError
from seedance.model.pipeline import GenerationResult
from seedance.model.pipeline.request import Plan
from seedance.model.rewriter import RewriteResult
from seedance.training.data.shapesworld import ClipSpec, clip_caption, parse_caption, render
from seedance.training.eval.prompts import (
    DEFAULT_PROMPTS,
    PROMPT_SETS,
    build_default_prompts,
    build_t2v_grid,
    load_prompts,
)
from seedance.training.eval.shapebench import aggregate, score


def test_default_prompt_file_is_current_and_covers_every_task():
    rows = load_prompts(DEFAULT_PROMPTS)
    committed = [json.loads(line) for line in DEFAULT_PROMPTS.read_text(encoding="utf-8").splitlines()]
    assert committed == build_default_prompts()
    assert {(r.task, r.language) for r in rows} == {(t, lang) for t in ("t2v", "i2v", "multishot") for lang in ("en", "zh")}


def test_t2v_grid_is_current_and_covers_every_combination_in_both_languages():
    path = PROMPT_SETS["t2v-grid"]
    committed = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert committed == build_t2v_grid()
    rows = load_prompts(path)
    for lang in ("en", "zh"):
        combos = {(r.expected["color"], r.expected["shape"], r.expected["direction"]) for r in rows if r.language == lang}
        assert len(combos) == 6 * 4 * 4 == sum(r.language == lang for r in rows)
    # the expected attributes are the ones the prompt states: the ShapesWorld parser reads them back
    for row in rows:
        parsed = parse_caption(row.prompt)
        assert {k: parsed.get(k) for k in row.expected} == row.expected, row.prompt


@pytest.mark.parametrize(
    ("line", "field"),
    [("{broken", "row"), ('{"task": "t2v"}', "prompt"), ('{"prompt": "x", "task": "t3v"}', "task"),
     ('{"prompt": "x", "task": "i2v"}', "image"), ('{"prompt": "x", "shots": [""]}', "shots")],
)
def test_bad_prompt_rows_name_the_line_and_field(tmp_path, line, field):
    f = tmp_path / "p.jsonl"
    f.write_text('{"prompt": "a red circle"}\n' + line + "\n")
    with pytest.raises(InvalidRequestError, match=rf"p.jsonl:2: {field}"):
        load_prompts(f)


def fake_result(spec: ClipSpec, caption: str) -> GenerationResult:
    """A 'generation' that is the ground-truth clip: scoring must then give full marks."""
    frames = render(spec)
    plan = Plan(prompts=["x"], task="t2v", width=spec.width, height=spec.height, base_width=spec.width,
                base_height=spec.height, frames=spec.frames, fps=spec.fps, resolution="64p", ratio="1:1", seed=0,
                steps=1, guidance=1.0, refine_steps=1, camera_fixed=False, first_image=None, last_image=None)
    shots = [{"frames": [a, b - 1]} for a, b in spec.shot_ranges()]
    return GenerationResult(frames, None, plan, [RewriteResult(caption, "template", "t2v", "en")],
                            metadata={"shots": shots})


def test_scoring_gives_full_marks_on_ground_truth():
    from seedance.training.data.shapesworld import clip_spec
    from seedance.training.eval.prompts import BenchRow

    spec = clip_spec(5, 0, multishot_share=0.0, camera_share=0.0)
    expected = {"color": spec.subject.color, "shape": spec.subject.shape, "direction": spec.shots[0].motion.direction}
    t2v = score(BenchRow("p", expected=expected), fake_result(spec, clip_caption(spec, "en")), None)
    assert all(t2v["hits"].values()) and t2v["rewriter"] == {"valid": True, "faithful": True}

    first = render(spec)[0]
    i2v = score(BenchRow("p", task="i2v", expected={"direction": expected["direction"]}),
                fake_result(spec, "The subject moves."), first)
    assert i2v["psnr"] == 99.0 and all(i2v["hits"].values())

    wrong = dataclasses.replace(spec, subject=dataclasses.replace(spec.subject, color="purple" if
                                                                  spec.subject.color != "purple" else "red"))
    miss = score(BenchRow("p", expected=expected), fake_result(wrong, clip_caption(spec, "en")), None)
    assert miss["hits"]["color"] is False
    report = aggregate([t2v, miss])
    assert report["t2v"]["all"]["color"] == 0.5 and report["t2v"]["all"]["shape"] == 1.0


def test_cli_shapebench_on_three_prompts_writes_the_report(tmp_path, capsys):
    out = tmp_path / "report.json"
    assert main(["eval", "shapebench", "--limit", "3", "--steps", "1", "--out", str(out), "-q"]) == 0
    report = json.loads(out.read_text())
    assert report["count"] == 3 and len(report["rows"]) == 3
    assert "t2v" in report and "rewriter" in report
    assert "t2v" in capsys.readouterr().out


def test_cli_guidance_reaches_the_sampler(tmp_path, capsys):
    """--guidance is recorded in the report, and an out-of-range scale is refused naming the field."""
    out = tmp_path / "report.json"
    assert main(["eval", "shapebench", "--limit", "1", "--steps", "1", "--guidance", "2.5", "--out", str(out),
                 "-q"]) == 0
    assert json.loads(out.read_text())["guidance"] == 2.5
    capsys.readouterr()
    assert main(["eval", "shapebench", "--limit", "1", "--steps", "1", "--guidance", "99", "-q"]) != 0
    assert "guidance: must be in [0, 50]" in capsys.readouterr().err


def test_cli_takes_a_shipped_set_by_name(tmp_path):
    out = tmp_path / "report.json"
    assert main(["eval", "shapebench", "--prompts", "t2v-grid", "--limit", "2", "--steps", "1", "--out", str(out),
                 "-q"]) == 0
    report = json.loads(out.read_text())
    assert report["prompts"] == str(PROMPT_SETS["t2v-grid"]) and report["count"] == 2
    assert [r["prompt"] for r in report["rows"]] == [r["prompt"] for r in build_t2v_grid()[:2]]


def test_cli_reports_the_vae_ceiling(tmp_path, capsys):
    out = tmp_path / "report.json"
    assert main(["eval", "shapebench", "--limit", "1", "--steps", "1", "--vae-ceiling", "3", "--out", str(out),
                 "-q"]) == 0
    ceiling = json.loads(out.read_text())["vae_ceiling"]
    assert ceiling["clips"] == 3 and set(ceiling["raw"].values()) == {1.0}  # the analyzer is right on the clips
    assert all(0.0 <= v <= 1.0 for v in ceiling["decoded"].values()) and ceiling["psnr_db"] > 15
    assert "vae ceiling" in capsys.readouterr().out


def test_vae_ceiling_measures_the_vae(tiny_bundle):
    """An untrained VAE keeps nothing: the analyzer is right on the raw clips, wrong on their reconstructions."""
    from seedance.model.pipeline import SeedancePipeline
    from seedance.training.eval.ceiling import vae_ceiling

    report = vae_ceiling(SeedancePipeline(tiny_bundle), count=3)
    assert set(report["raw"].values()) == {1.0}
    assert report["decoded"]["color"] < 1.0 and report["psnr_db"] < 15


def test_vae_ceiling_reads_each_reconstruction_as_one_shot(tiny_bundle):
    """A reconstruction that breaks up halfway is read over all its frames, as ShapeBench reads a
    generation: here the "decoder" returns each clip's clean start, then another clip's frames
    (an apparent cut). Split at the cut, every clip would read right."""
    import numpy as np

    from seedance.model.pipeline import SeedancePipeline
    from seedance.training.eval.ceiling import vae_ceiling

    class CutAwayPipeline(SeedancePipeline):
        def encode_frames(self, frames):
            return frames

        def decode(self, latent, vae=None):
            half = len(latent) // 2
            elsewhere = np.roll(latent[::-1], 32, axis=2)  # the clip backwards, shifted half a frame
            return np.concatenate([latent[:half], elsewhere[half:]])

    report = vae_ceiling(CutAwayPipeline(tiny_bundle), count=4)
    assert set(report["raw"].values()) == {1.0}
    assert report["decoded"]["direction"] < 1.0


def test_vae_ceiling_flag_rejects_a_negative_count(capsys):
    assert main(["eval", "shapebench", "--vae-ceiling", "-1", "-q"]) != 0
    assert "vae_ceiling: must be 0 (off) or a clip count, got -1" in capsys.readouterr().err


def test_cli_reports_caption_sensitivity_of_the_shipped_dit(tmp_path, capsys):
    out = tmp_path / "report.json"
    assert main(["eval", "shapebench", "--limit", "1", "--steps", "1", "--caption-sensitivity", "3",
                 "--out", str(out), "-q"]) == 0
    report = json.loads(out.read_text())["caption_sensitivity"]
    assert report["clips"] == 3 and set(report["t2v"]["gap"]) == {"color", "shape", "size", "direction", "camera"}
    assert set(report["i2v"]["gap"]) == {"direction", "camera"}
    # The shipped DiT reads the colour word: a wrong colour costs about as much as no caption.
    assert report["t2v"]["gap"]["color"] > 0.01 and report["t2v"]["empty"] > report["t2v"]["right"]
    steering = report["steering"]
    assert steering["clips"] == 3 and set(steering) == {"clips", "noise_levels", "direction", "camera"}
    assert all(set(steering[w]) == {"0.7", "0.9"} for w in ("direction", "camera"))
    printed = capsys.readouterr().out
    assert "caption sensitivity" in printed and "steering (3 I2V clips per word)" in printed


def test_caption_sensitivity_of_an_untrained_dit_is_zero():
    """adaLN-Zero: a freshly built DiT predicts zero velocity whatever the caption, so every gap is 0."""
    from seedance.model.bundle import build_bundle
    from seedance.model.pipeline import SeedancePipeline
    from seedance.model.presets import tiny
    from seedance.training.eval.sensitivity import caption_sensitivity

    report = caption_sensitivity(SeedancePipeline(build_bundle(tiny(), seed=0)), count=1)
    assert all(g == 0.0 for task in ("t2v", "i2v") for g in report[task]["gap"].values())
    assert report["t2v"]["right"] > 0.5  # zero velocity against noise - x0: about the noise variance
    # Its clean-video estimate is the noisy input whatever the caption says: no steering.
    assert all(c == 0 for w in ("direction", "camera") for c in report["steering"][w].values())


def test_caption_sensitivity_flag_rejects_a_negative_count(capsys):
    assert main(["eval", "shapebench", "--caption-sensitivity", "-1", "-q"]) != 0
    assert "caption_sensitivity: must be 0 (off) or a clip count, got -1" in capsys.readouterr().err


def test_steering_is_one_for_a_dit_that_follows_the_word_and_freezes_without_it(monkeypatch):
    """The projection's scale: with a noiseless input, a DiT whose estimate under the right caption
    is the clip and under the reversed word is the first frame held still scores exactly 1."""
    import torch

    from seedance.model.bundle import build_bundle
    from seedance.model.pipeline import SeedancePipeline
    from seedance.model.presets import tiny
    from seedance.training.eval import sensitivity

    class FollowsTheWord(torch.nn.Module):
        def __init__(self, channels: int):
            super().__init__()
            self.channels = channels
            self.unused = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x, timestep, text):
            noisy = x[:, :self.channels]  # = the clean clip: interpolate is patched to add no noise
            velocity = torch.zeros_like(noisy)
            velocity[1] = (noisy[1] - noisy[1, :, :1]) / timestep[1]  # reversed word: hold frame 0
            return velocity

    monkeypatch.setattr(sensitivity, "interpolate", lambda clean, noise, t: (clean, noise - clean))
    bundle = build_bundle(tiny(), seed=0)
    bundle.dit = FollowsTheWord(tiny().dit.latent_channels)
    report = sensitivity.steering(SeedancePipeline(bundle), count=2)
    assert all(abs(c - 1.0) < 1e-3 for w in ("direction", "camera") for c in report[w].values()), report
