"""Flow matching: schedule, training timesteps, CFG and the Euler sampler."""

from __future__ import annotations

import pytest
import torch

from seedance.model.config import SamplerConfig
from seedance.model.flow import (
    euler_sample,
    flow_matching_loss,
    guided,
    interpolate,
    pin_given,
    resolution_shift,
    sample_training_timesteps,
    sampling_schedule,
    shift_time,
)


def test_shift_keeps_endpoints_and_pushes_toward_noise():
    t = torch.linspace(0, 1, 11)
    shifted = shift_time(t, 3.0)
    assert shifted[0] == 0 and shifted[-1] == 1
    assert torch.all(shifted[1:-1] > t[1:-1])
    torch.testing.assert_close(shift_time(t, 1.0), t)


def test_resolution_shift_grows_with_tokens_and_is_capped():
    cfg = SamplerConfig(shift=2.0, base_tokens=256, max_shift=6.0)
    assert resolution_shift(256, cfg) == 2.0
    assert resolution_shift(1024, cfg) == 4.0
    assert resolution_shift(10**6, cfg) == 6.0
    assert resolution_shift(1, cfg) == 1.0


def test_refiner_schedule_has_its_own_base_shift():
    cfg = SamplerConfig(shift=3.0, base_tokens=256, refine_shift=1.0)
    assert resolution_shift(1024, cfg) == 6.0
    assert resolution_shift(1024, cfg, refiner=True) == 2.0
    same = SamplerConfig(shift=3.0, base_tokens=256)  # unset: the refiner follows `shift`
    assert resolution_shift(1024, same, refiner=True) == 6.0


def test_schedule_decreases_from_one_to_zero():
    s = sampling_schedule(10, 3.0)
    assert len(s) == 11 and s[0] == 1 and s[-1] == 0
    assert torch.all(s[1:] < s[:-1])
    with pytest.raises(ValueError, match="steps"):
        sampling_schedule(0, 1.0)


def test_training_timesteps_logit_normal_and_shifted():
    g = torch.Generator().manual_seed(0)
    t = sample_training_timesteps(4096, 1.0, generator=g)
    assert t.min() > 0 and t.max() < 1 and abs(t.mean().item() - 0.5) < 0.02
    t3 = sample_training_timesteps(4096, 3.0, generator=torch.Generator().manual_seed(0))
    assert t3.mean() > t.mean() + 0.1


def test_interpolate_endpoints_and_target():
    x0, noise = torch.randn(2, 3), torch.randn(2, 3)
    xt, target = interpolate(x0, noise, torch.tensor([0.0, 1.0]))
    torch.testing.assert_close(xt[0], x0[0])
    torch.testing.assert_close(xt[1], noise[1])
    torch.testing.assert_close(target, noise - x0)


def test_euler_is_exact_on_the_straight_path_and_reports_each_step():
    x0, noise = torch.randn(1, 4), torch.randn(1, 4)
    calls = []
    out = euler_sample(lambda x, t: noise - x0, noise, sampling_schedule(7, 2.5), lambda s, n, _x: calls.append((s, n)))
    torch.testing.assert_close(out, x0)
    assert calls == [(i, 7) for i in range(1, 8)]


def test_callback_can_cancel_between_steps():
    class Stop(Exception):
        pass

    seen = []

    def cb(step, total, _x):
        seen.append(step)
        if step == 2:
            raise Stop

    with pytest.raises(Stop):
        euler_sample(lambda x, t: torch.ones_like(x), torch.zeros(1), sampling_schedule(5, 1.0), cb)
    assert seen == [1, 2]


def test_classifier_free_guidance_combination():
    def velocity(x, t, both):
        cond = torch.full_like(x, 3.0)
        return torch.cat([cond, torch.full_like(x, 1.0)]) if both else cond

    x, t = torch.zeros(1, 2), torch.ones(1)
    torch.testing.assert_close(guided(velocity, 1.0)(x, t), torch.full((1, 2), 3.0))
    torch.testing.assert_close(guided(velocity, 4.0)(x, t), torch.full((1, 2), 1.0 + 4.0 * 2.0))
    torch.testing.assert_close(guided(velocity, 0.0)(x, t), torch.full((1, 2), 1.0))


def test_loss_weight_masks_given_frames():
    v, target = torch.zeros(1, 1, 2), torch.tensor([[[1.0, 3.0]]])
    assert flow_matching_loss(v, target) == 5.0
    assert flow_matching_loss(v, target, torch.tensor([[[1.0, 0.0]]])) == 1.0


def test_given_frames_follow_their_exact_path_and_land_on_the_condition():
    g = torch.Generator().manual_seed(0)
    noise, cond = torch.randn(1, 4, 3, 2, 2, generator=g), torch.randn(1, 4, 3, 2, 2, generator=g)
    mask = torch.tensor([[1.0, 0.0, 0.0]])
    seen = []

    def wild(x, t):  # an untrained network's velocity: nothing like the path to cond
        seen.append((x.clone(), float(t[0])))
        return torch.randn(x.shape, generator=g) * 5

    schedule = sampling_schedule(6, 2.0)
    out = euler_sample(pin_given(wild, noise, cond, mask), noise, schedule)
    torch.testing.assert_close(out[:, :, 0], cond[:, :, 0])
    assert not torch.allclose(out[:, :, 1:], cond[:, :, 1:], atol=0.5)  # free frames take the network's path
    for x, t in seen:  # the network saw the given frame as training showed it: interpolate(cond, noise, t)
        torch.testing.assert_close(x[:, :, 0], ((1 - t) * cond + t * noise)[:, :, 0])
    assert pin_given(wild, noise, cond, torch.zeros(1, 3)) is wild  # T2V: untouched
