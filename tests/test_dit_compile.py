"""Regional torch.compile of the DiT and the bf16 autocast switch.

Tolerance: the compiled DiT (inductor, float32, CPU) matches eager to atol 1e-4 + rtol 1e-4 on the
denoised latent (inductor fuses and reorders float ops; observed max error ~1e-6 on the tiny
preset). The first compile is cold (~25-40 s on 2 CPU cores); kernels are cached in
TORCHINDUCTOR_CACHE_DIR (default: the repo's .cache/inductor), so later runs take a few seconds.
bf16 autocast is CUDA-only; on CPU it must be a no-op (tested here). The CUDA path is not run
by this suite.
"""

from __future__ import annotations

import pytest
import torch
from conftest import randomize_

from seedance.model.bundle import build_bundle
from seedance.model.dit import SeedanceDiT
from seedance.model.dit.compile import autocast, compile_blocks, is_compiled, repeated_blocks
from seedance.model.pipeline import GenerationRequest, SeedancePipeline, plan
from seedance.model.presets import tiny


def test_compile_blocks_is_in_place_idempotent_and_keeps_state_dict_keys() -> None:
    dit = SeedanceDiT(tiny().dit)
    keys = list(dit.state_dict())
    assert not is_compiled(dit)
    compile_blocks(dit, backend="eager")
    assert is_compiled(dit) and len(repeated_blocks(dit)) == 2 * dit.cfg.depth
    first = [b._compiled_call_impl for b in repeated_blocks(dit)]
    assert dit.compile_blocks(backend="eager") is dit  # the method form; a no-op the second time
    assert [b._compiled_call_impl for b in repeated_blocks(dit)] == first
    assert list(dit.state_dict()) == keys  # no `_orig_mod.` prefix: bundles still save and load


def test_autocast_is_a_no_op_on_cpu_and_bf16_on_cuda() -> None:
    with autocast("cpu"):
        assert not torch.is_autocast_enabled("cpu")
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32
    ctx = autocast("cuda")
    assert isinstance(ctx, torch.autocast) and ctx.fast_dtype == torch.bfloat16
    assert not isinstance(autocast("cuda", enabled=False), torch.autocast)


@pytest.mark.slow
@torch.no_grad()
def test_compiled_pipeline_denoise_matches_eager() -> None:
    bundle = build_bundle(tiny(), seed=0)
    randomize_(bundle.dit, seed=1)  # away from adaLN-Zero, so every block computes something
    eager = SeedancePipeline(bundle)
    p = plan(GenerationRequest(prompt="a red circle", seed=1, frames=1, steps=2), bundle.config)
    text = eager.encode_text(["a red circle"])
    shape = bundle.vae.latent_shape(p.frames, p.base_height, p.base_width)
    noise = torch.randn((1, *shape), generator=torch.Generator().manual_seed(0))
    cond, mask = eager.condition(p, noise.shape, p.base_width, p.base_height)
    ref = eager.denoise(bundle.dit, len(p.prompts), text, noise, cond, mask, p.steps, p.guidance)

    compiled = SeedancePipeline(bundle, compile=True)  # compiles the bundle's DiTs in place
    assert is_compiled(bundle.dit) and is_compiled(bundle.refiner)
    out = compiled.denoise(bundle.dit, len(p.prompts), text, noise, cond, mask, p.steps, p.guidance)
    assert ref.abs().max() > 0.1  # the comparison is not vacuous
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)
    assert compiled.compiled
