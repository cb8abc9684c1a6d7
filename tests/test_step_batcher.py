"""Denoiser step batching: concurrent sampling loops share DiT forward passes and get the same
latents as when each runs alone (captions of different lengths included)."""

from __future__ import annotations

import threading

import pytest
import torch

from seedance.model.bundle import default_bundle
from seedance.model.pipeline import SeedancePipeline
from seedance.services.step_batcher import BatchedDiT, StepBatcher

PROMPTS = ["a red circle moves to the right", "a small blue square moves up slowly on a dark background"]


@pytest.fixture(scope="module")
def pipeline() -> SeedancePipeline:
    return SeedancePipeline(default_bundle())


def _inputs(pipeline: SeedancePipeline, prompt: str, seed: int):
    text = pipeline.encode_text([prompt])
    c = pipeline.config.dit.latent_channels
    noise = torch.randn(1, c, 2, 8, 8, generator=torch.Generator().manual_seed(seed))
    return text, noise, torch.zeros_like(noise), torch.zeros(1, 2)


def _denoise(pipeline, model, inputs):
    text, noise, cond, mask = inputs
    return pipeline.denoise(model, 1, text, noise, cond, mask, steps=3, guidance=4.0)


def test_concurrent_streams_share_forward_passes_and_match_solo_runs(pipeline):
    inputs = [_inputs(pipeline, p, seed) for seed, p in enumerate(PROMPTS)]
    assert inputs[0][0][0].hidden.shape[1] != inputs[1][0][0].hidden.shape[1]  # different caption lengths
    solo = [_denoise(pipeline, pipeline.bundle.dit, i) for i in inputs]
    batcher = StepBatcher(pipeline.bundle.dit, max_batch_size=8, wait_s=0.5)
    results: list[torch.Tensor | None] = [None, None]
    barrier = threading.Barrier(2)

    def run(k: int) -> None:
        barrier.wait()
        results[k] = _denoise(pipeline, BatchedDiT(batcher), inputs[k])

    threads = [threading.Thread(target=run, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert 4 in batcher.batches  # two CFG pairs (2 rows each) in one forward pass
    for got, want in zip(results, solo, strict=True):
        assert got is not None
        torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


def test_a_lone_call_runs_alone_and_errors_reach_every_caller(pipeline):
    batcher = StepBatcher(pipeline.bundle.dit, max_batch_size=8, wait_s=0.01)
    out = _denoise(pipeline, BatchedDiT(batcher), _inputs(pipeline, PROMPTS[0], 0))
    assert out.shape == (1, pipeline.config.dit.latent_channels, 2, 8, 8) and set(batcher.batches) == {2}

    def broken(*args):
        raise RuntimeError("the model fell over")

    with pytest.raises(RuntimeError, match="fell over"):
        StepBatcher(broken, max_batch_size=4).submit(torch.zeros(1, 1), torch.zeros(1), None, torch.zeros(1, 1))
    with pytest.raises(ValueError, match="max_batch_size"):
        StepBatcher(pipeline.bundle.dit, max_batch_size=0)
