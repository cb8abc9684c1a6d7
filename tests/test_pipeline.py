"""The in-process pipeline on the tiny preset: determinism, I2V, multi-shot, refine, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from seedance.errors import InvalidRequestError, ModelLoadError
from seedance.model.bundle import load_bundle, save_bundle
from seedance.model.conditioning import frames_to_video_tensor
from seedance.model.pipeline import GenerationRequest, SeedancePipeline, plan

FAST = {"frames": 5, "steps": 2}


@pytest.fixture(scope="module")
def pipe(tiny_bundle) -> SeedancePipeline:
    return SeedancePipeline(tiny_bundle)


def capture_dit_inputs(dit) -> tuple[list, object]:
    seen = []
    handle = dit.register_forward_pre_hook(lambda _m, args: seen.append(args))
    return seen, handle


def test_fixed_seed_is_deterministic_and_seeds_differ(pipe):
    a = pipe.generate(GenerationRequest("a red circle moves to the right", seed=3, **FAST))
    b = pipe.generate(GenerationRequest("a red circle moves to the right", seed=3, **FAST))
    c = pipe.generate(GenerationRequest("a red circle moves to the right", seed=4, **FAST))
    assert a.frames.shape == (5, 64, 64, 3) and a.frames.dtype == np.uint8
    assert np.array_equal(a.frames, b.frames)
    assert not np.array_equal(a.frames, c.frames)
    assert a.metadata["seed"] == 3 and a.metadata["task"] == "t2v"


def test_random_seed_is_reported(pipe):
    r = pipe.generate(GenerationRequest("a blue square", seed=-1, **FAST))
    assert 0 <= r.metadata["seed"] < 2**31


def test_t2v_input_has_zero_condition_and_mask(pipe):
    seen, handle = capture_dit_inputs(pipe.bundle.dit)
    try:
        pipe.generate(GenerationRequest("a green triangle", seed=1, guidance=1.0, **FAST))
    finally:
        handle.remove()
    c = pipe.config.vae.latent_channels
    x = seen[0][0]
    assert x[:, c:].abs().sum() == 0


def test_i2v_condition_frame_and_mask_reach_the_dit(pipe):
    image = Image.new("RGB", (64, 64), (200, 30, 30))
    seen, handle = capture_dit_inputs(pipe.bundle.dit)
    try:
        r = pipe.generate(GenerationRequest("the circle moves left", image=image, seed=1, guidance=1.0, **FAST))
    finally:
        handle.remove()
    c = pipe.config.vae.latent_channels
    x = seen[0][0]
    with torch.no_grad():
        expected = pipe.bundle.vae.normalize(pipe.bundle.vae.encode(
            frames_to_video_tensor(np.asarray(image)[None])).mode())
    torch.testing.assert_close(x[:, c:2 * c, 0], expected[:, :, 0])
    assert x[:, 2 * c, 0].eq(1).all() and x[:, 2 * c, 1:].eq(0).all()
    assert x[:, c:2 * c, 1:].abs().sum() == 0
    assert r.metadata["task"] == "i2v"
    assert r.captions[0].task == "i2v"


def test_i2v_first_frame_is_the_given_image_through_the_vae(pipe):
    """The sampled latent's given frame is the image's latent (the DiT's velocity there is
    untrained), so the first output frame is the VAE's reconstruction of the image."""
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    r = pipe.generate(GenerationRequest("the circle moves left", image=image, seed=1, **FAST))
    vae = pipe.decoder_vae
    with torch.no_grad():
        latent = vae.normalize(vae.encode(frames_to_video_tensor(np.asarray(image)[None])).mode())
    recon = pipe.decode(latent)[0]  # the causal VAE decodes latent frame 0 to pixel frame 0 alone
    assert np.abs(r.frames[0].astype(int) - recon.astype(int)).max() <= 1


def test_multi_shot_captions_are_tagged_per_shot(pipe):
    seen, handle = capture_dit_inputs(pipe.bundle.dit)
    try:
        r = pipe.generate(GenerationRequest("a red circle, wide shot", shots=["close-up of the red circle"],
                                            frames=9, steps=1, seed=0, guidance=1.0))
    finally:
        handle.remove()
    text, frame_shot = seen[0][2], seen[0][3]
    assert set(text.shot[0][text.mask[0]].tolist()) == {0, 1}
    assert frame_shot.tolist() == [[0, 0, 1]]
    assert [s["frames"] for s in r.metadata["shots"]] == [[0, 4], [5, 8]]
    assert len(r.metadata["captions"]) == 2


def test_refiner_upscales_and_keeps_the_base_preview(pipe):
    previews = []
    r = pipe.generate(GenerationRequest("a yellow star", resolution="128p", seed=2, **FAST), on_preview=previews.append)
    assert r.frames.shape == (5, 128, 128, 3)
    assert r.preview.shape == (5, 64, 64, 3) and previews and previews[0] is r.preview
    assert r.metadata["refined"] and "refine" in r.metadata["timings_s"]


def test_progress_reports_every_stage_in_order(pipe):
    events = []
    pipe.generate(GenerationRequest("a red circle", seed=1, frames=5, steps=3), progress=events.append)
    stages = [e.stage for e in events]
    assert stages[0] == "rewrite" and stages[-1] == "decode"
    denoise = [e.step for e in events if e.stage == "denoise"]
    assert denoise == [1, 2, 3]


def test_camera_fixed_reaches_the_caption(pipe):
    r = pipe.generate(GenerationRequest("a red circle", seed=1, camera_fixed=True, **FAST))
    assert "camera is fixed" in r.metadata["captions"][0].lower()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"prompt": ""}, "prompt"),
        ({"prompt": "   "}, "prompt"),
        ({"prompt": "x" * 3000}, "prompt"),
        ({"shots": [""]}, "shots[0]"),
        ({"frames": 16}, "frames"),
        ({"frames": 1000}, "frames"),
        ({"frames": 9, "duration": 1.0}, "frames"),
        ({"duration": 100.0}, "duration"),
        ({"resolution": "4k"}, "resolution"),
        ({"resolution": "1080p"}, "resolution"),
        ({"ratio": "5:4"}, "ratio"),
        ({"steps": 0}, "steps"),
        ({"guidance": -1.0}, "guidance"),
        ({"fps": 0}, "fps"),
        ({"image": "/nonexistent/first.png"}, "image"),
        ({"shots": ["b"] * 6, "frames": 9}, "shots"),
    ],
)
def test_bad_requests_name_the_field(tiny_bundle, kwargs, field):
    req = GenerationRequest(**{"prompt": "a red circle", **kwargs})
    with pytest.raises(InvalidRequestError) as err:
        plan(req, tiny_bundle.config)
    assert err.value.field == field


def test_non_image_first_frame_is_rejected(tiny_bundle, tmp_path):
    bogus = tmp_path / "first.png"
    bogus.write_text("not an image")
    with pytest.raises(InvalidRequestError, match="image: not a readable image"):
        plan(GenerationRequest("a red circle", image=str(bogus)), tiny_bundle.config)


def test_adaptive_ratio_follows_the_image(tiny_bundle):
    p = plan(GenerationRequest("x", image=Image.new("RGB", (320, 180))), tiny_bundle.config)
    assert p.ratio == "16:9" and (p.width, p.height) == (120, 64)


def test_bundle_round_trip_and_mismatch(tiny_bundle, tmp_path):
    directory = save_bundle(tiny_bundle, tmp_path / "m")
    manifest = json.loads((directory / "manifest.json").read_text())
    assert {"config.json", "dit.safetensors", "vae.safetensors", "text_encoder.safetensors"} <= set(manifest["files"])
    loaded = load_bundle(directory)
    req = GenerationRequest("a red circle", seed=5, **FAST)
    assert np.array_equal(SeedancePipeline(loaded).generate(req).frames,
                          SeedancePipeline(tiny_bundle).generate(req).frames)

    cfg = json.loads((directory / "config.json").read_text())
    cfg["dit"]["depth"] = 3
    (directory / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelLoadError, match="do not match"):
        load_bundle(directory)
    with pytest.raises(ModelLoadError, match="not a model directory"):
        load_bundle(tmp_path)
