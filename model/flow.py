"""Flow matching: the training objective, the timestep schedule and the sampler.

Convention: x_t = (1 - t) * x0 + t * noise, t in [0, 1], t = 1 is pure noise. The network
predicts the velocity v = dx_t/dt = noise - x0. Sampling integrates from t = 1 to t = 0 with
Euler steps: x_{t'} = x_t + (t' - t) * v.

Larger inputs need more steps spent at high noise (SD3): t is warped by
shift(t) = s*t / (1 + (s-1)*t), with s growing as sqrt(tokens / base_tokens).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from seedance.model.config import SamplerConfig

VelocityFn = Callable[[Tensor, Tensor], Tensor]  # (x_t [B, ...], t [B]) -> velocity
StepCallback = Callable[[int, int, Tensor], None]  # (step_done, total_steps, x) ; may raise to cancel


def resolution_shift(num_tokens: int, cfg: SamplerConfig, refiner: bool = False) -> float:
    """The timestep shift for a latent of `num_tokens` tokens (>= 1, capped at max_shift), from the
    base DiT's base shift or the refiner's."""
    s = cfg.shift_for(refiner) * math.sqrt(max(num_tokens, 1) / cfg.base_tokens)
    return float(min(max(s, 1.0), cfg.max_shift))


def shift_time(t: Tensor, shift: float) -> Tensor:
    return shift * t / (1 + (shift - 1) * t)


def sample_training_timesteps(
    batch: int, shift: float, generator: torch.Generator | None = None,
    mean: float = 0.0, std: float = 1.0, device=None,
) -> Tensor:
    """Logit-normal timesteps (sigmoid of a normal draw), then the resolution shift."""
    u = torch.randn(batch, generator=generator, device=device) * std + mean
    return shift_time(torch.sigmoid(u), shift)


def interpolate(x0: Tensor, noise: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
    """The noisy input and the velocity target for clean x0 at times t [B]."""
    tb = t.reshape(-1, *([1] * (x0.dim() - 1))).to(x0.dtype)
    return (1 - tb) * x0 + tb * noise, noise - x0


def flow_matching_loss(velocity: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
    """Mean squared velocity error; `weight` [B, ...] masks out given (conditioning) frames."""
    err = (velocity.float() - target.float()).pow(2)
    if weight is None:
        return err.mean()
    weight = weight.expand_as(err).float()
    return (err * weight).sum() / weight.sum().clamp(min=1.0)


def sampling_schedule(steps: int, shift: float, t_start: float = 1.0) -> Tensor:
    """steps + 1 decreasing times from t_start to 0, warped by the shift."""
    if steps < 1:
        raise ValueError("steps: must be >= 1")
    t = torch.linspace(t_start, 0.0, steps + 1, dtype=torch.float64)
    return shift_time(t, shift).float()


def guided(velocity_fn: Callable[[Tensor, Tensor, bool], Tensor], guidance: float) -> VelocityFn:
    """Classifier-free guidance: v = v_u + g (v_c - v_u). `velocity_fn(x, t, both)` returns the
    conditional velocity, or [cond; uncond] stacked on the batch when `both` (one forward pass)."""
    if guidance == 1.0:
        return lambda x, t: velocity_fn(x, t, False)

    def fn(x: Tensor, t: Tensor) -> Tensor:
        v_cond, v_uncond = velocity_fn(x, t, True).chunk(2)
        return v_uncond + guidance * (v_cond - v_uncond)

    return fn


def pin_given(velocity: VelocityFn, noise: Tensor, cond: Tensor, mask: Tensor) -> VelocityFn:
    """Given (conditioning) frames ride their exact path x_t = (1 - t) * cond + t * noise: their
    velocity is the constant noise - cond, so the sampler lands on `cond` at t = 0, and the
    network sees them at every step as it did in training. Its own velocity there is meaningless:
    training masks given frames out of the loss. mask [B, T] (or broadcastable), 1 = given."""
    if not bool(mask.any()):
        return velocity
    given = (mask.reshape(*mask.shape[:1], 1, mask.shape[-1], 1, 1) if mask.dim() == 2 else mask) > 0
    exact = noise - cond

    def fn(x: Tensor, t: Tensor) -> Tensor:
        return torch.where(given, exact, velocity(x, t))

    return fn


def euler_sample(
    velocity: VelocityFn, noise: Tensor, schedule: Tensor, callback: StepCallback | None = None
) -> Tensor:
    """Integrate dx/dt = velocity(x, t) from schedule[0] down to schedule[-1]. Pure: the result
    depends only on the arguments. The callback runs after each step (progress, previews) and
    may raise to stop between steps (cancellation)."""
    x = noise
    total = len(schedule) - 1
    for i in range(total):
        t, t_next = schedule[i], schedule[i + 1]
        v = velocity(x, t.expand(x.shape[0]).to(x.device))
        x = x + (t_next - t).to(x.dtype) * v
        if callback is not None:
            callback(i + 1, total, x)
    return x
