"""The direction probe (training/eval/direction_probe.py) on a handful of clips and steps."""

from __future__ import annotations

import json

import pytest
import torch

from seedance.model.bundle import default_bundle
from seedance.training.eval.direction_probe import (
    DIRECTIONS,
    OracleTime,
    build_probe_dit,
    main,
    make_set,
    probe_steering,
    train_probe,
)


@pytest.fixture(scope="module")
def probe_sets():
    bundle = default_bundle()
    return bundle, make_set(bundle, 4, seed=1, text_layer=0), make_set(bundle, 2, seed=2, text_layer=0)


def test_probe_set_pairs_each_caption_with_its_reversal(probe_sets):
    _, train, _ = probe_sets
    assert train.latents.shape[0] == 4 and len(train.captions) == len(train.reversed) == 4
    for k in range(4):  # same length, differing tokens: only the direction word changed
        a, b = train.captions[k], train.reversed[k]
        assert a.hidden.shape == b.hidden.shape and not torch.equal(a.hidden, b.hidden)
    assert all(DIRECTIONS[int(d)] in DIRECTIONS for d in train.directions)


@pytest.mark.parametrize("variant", ["joint", "pooled", "summed", "oracle"])
def test_each_variant_trains_and_reports_steering(probe_sets, variant):
    bundle, train, held_out = probe_sets
    dit = build_probe_dit(bundle, variant)
    assert (dit.text_pool is not None) == (variant in ("pooled", "summed"))
    assert dit.cfg.text_pool == ("sum" if variant == "summed" else "attention")
    assert isinstance(dit.time_embed, OracleTime) == (variant == "oracle")
    # Untrained (adaLN-Zero): the estimate does not depend on the caption at all.
    assert probe_steering(dit, held_out) == {"0.7": 0.0, "0.9": 0.0}
    history = train_probe(dit, train, held_out, steps=2, batch=2, eval_every=1, log=lambda _: None)
    assert [h["step"] for h in history] == [1, 2]
    assert all(torch.isfinite(torch.tensor(h["loss"])) for h in history)
    assert set(history[-1]["steering"]) == {"0.7", "0.9"}


def test_probe_cli_rejects_bad_counts_and_writes_history(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["--steps", "0"])
    assert e.value.code == 2 and "--steps: must be at least 1" in capsys.readouterr().err
    out = tmp_path / "probe.json"
    with pytest.raises(SystemExit) as e:
        main(["--temporal-window", "0"])
    assert e.value.code == 2 and "--temporal-window: must be at least 1" in capsys.readouterr().err
    main(["--variant", "oracle", "--clips", "2", "--held-out", "2", "--steps", "1", "--temporal-window", "8",
          "--sample", "--out", str(out)])
    report = json.loads(out.read_text())
    assert report["args"]["variant"] == "oracle" and report["history"][0]["step"] == 1
    sampled = report["sampled"]  # both held-out clips generated and their direction read back
    assert sampled["total"] == 2 and sum(sampled["found"].values()) == 2 and 0 <= sampled["correct"] <= 2


def test_temporal_window_override_changes_only_the_windows(probe_sets):
    bundle = probe_sets[0]
    own = build_probe_dit(bundle, "summed")
    wide = build_probe_dit(bundle, "summed", temporal_window=8)
    assert wide.cfg.temporal_window == (8, 8) and own.cfg.temporal_window == bundle.config.dit.temporal_window
    # Same parameters (a window is not a weight), so one DiT's weights load into the other.
    wide.load_state_dict(own.state_dict())
