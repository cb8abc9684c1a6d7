"""Fused DiT kernels: Triton (in its CPU interpreter) against the PyTorch reference, forward and
backward, plus the dispatcher and the DiT blocks wired through seedance.kernels.

Tolerances, Triton vs the reference evaluated in float32 on the same (rounded) input values:
float32 1e-5 abs/rel; bfloat16 2e-2 abs/rel; float16 2e-3 abs/rel (about two ulps). The kernels
compute in float32 and round once per output (the residual-fused op also rounds r before its norm,
as the unfused model does), so they sit within an ulp or so of the float32 reference.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from conftest import randomize_

from seedance import kernels
from seedance.kernels import dispatch, reference
from seedance.model.dit import SpatialBlock, TemporalBlock
from seedance.model.dit.blocks import Rope
from seedance.model.dit.layers import Stream, modulate
from seedance.model.dit.rope import apply_rope

# triton reads TRITON_INTERPRET when it is imported and when a kernel is defined. tests/conftest.py
# sets it before anything imports triton, so every Triton call here runs in the interpreter on the
# CPU; triton is a dev dependency, so a missing triton fails these tests instead of skipping them.
assert dispatch.interpreter_requested(), "tests/conftest.py must set TRITON_INTERPRET=1 before triton is imported"


TOL = {torch.float32: (1e-5, 1e-5), torch.bfloat16: (2e-2, 2e-2), torch.float16: (2e-3, 2e-3)}
# (dtype, MAX_PARTIALS): a small partial count makes backward programs loop over several rows
# with a ragged last chunk; 256 gives one row per program at these sizes.
CASES = [(torch.float32, 256), (torch.float32, 4), (torch.bfloat16, 4), (torch.float16, 4)]
EPS = 1e-6


@pytest.fixture
def triton_mode(monkeypatch):
    monkeypatch.setenv(kernels.ENV_VAR, "triton")


def check_against_reference(op: str, fused, ref, inputs: list[torch.Tensor], dtype: torch.dtype) -> None:
    """Run `fused` (Triton) on inputs cast to dtype and `ref` on float32 copies of the same values;
    compare outputs and the gradients of a random weighted sum of the outputs."""
    lo = [t.to(dtype).detach().requires_grad_() for t in inputs]
    hi = [t.detach().float().requires_grad_() for t in lo]
    before = dict(kernels.launch_counts)
    out_lo, out_hi = fused(*lo), ref(*hi)
    out_lo = out_lo if isinstance(out_lo, tuple) else (out_lo,)
    out_hi = out_hi if isinstance(out_hi, tuple) else (out_hi,)
    weights = [torch.randn(o.shape, generator=torch.Generator().manual_seed(i)) for i, o in enumerate(out_hi)]
    sum((o.float() * w).sum() for o, w in zip(out_lo, weights, strict=True)).backward()
    sum((o * w).sum() for o, w in zip(out_hi, weights, strict=True)).backward()
    for phase in ("fwd", "bwd"):  # the Triton kernels ran, not a silent fallback
        assert kernels.launch_counts[f"{op}_{phase}"] == before.get(f"{op}_{phase}", 0) + 1
    atol, rtol = TOL[dtype]
    for a, b in zip(out_lo, out_hi, strict=True):
        assert a.dtype == dtype
        torch.testing.assert_close(a.float(), b.to(dtype).float(), atol=atol, rtol=rtol)
    for i, (a, b) in enumerate(zip(lo, hi, strict=True)):
        assert a.grad is not None and a.grad.dtype == dtype, f"input {i}"
        torch.testing.assert_close(a.grad.float(), b.grad.to(dtype).float(), atol=atol, rtol=rtol, msg=lambda m, i=i: f"grad {i}: {m}")


@pytest.mark.parametrize(("dtype", "partials"), CASES)
def test_qk_norm_rope(triton_mode, monkeypatch, dtype, partials):
    from seedance.kernels.triton_ops import common

    monkeypatch.setattr(common, "MAX_PARTIALS", partials)
    g = torch.Generator().manual_seed(0)
    b, s, h, dh = 2, 3, 3, 10  # H and Dh/2 are not powers of two: masked lanes
    qkv = torch.randn(b, s, 3, h, dh, generator=g)
    angles = torch.randn(b, s, dh // 2, generator=g) * 3
    cos, sin = angles.cos(), angles.sin()

    def fused(qkv_, w):  # q is a strided view into the qkv projection, as in Stream
        return kernels.qk_norm_rope(qkv_.unbind(2)[0], w, cos, sin, EPS)

    def ref(qkv_, w):
        return reference.qk_norm_rope(qkv_.unbind(2)[0], w, cos, sin, EPS)

    check_against_reference("qk_norm_rope", fused, ref, [qkv, torch.randn(dh, generator=g) + 1], dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_rope_without_qk_norm(triton_mode, dtype):
    g = torch.Generator().manual_seed(1)
    x, angles = torch.randn(1, 4, 2, 6, generator=g), torch.randn(1, 4, 3, generator=g)
    check_against_reference("qk_norm_rope", lambda t: kernels.qk_norm_rope(t, None, angles.cos(), angles.sin()),
                            lambda t: reference.qk_norm_rope(t, None, angles.cos(), angles.sin(), EPS), [x], dtype)


def modulation_inputs(seed: int, b: int = 2, s: int = 5, d: int = 24) -> tuple[torch.Tensor, ...]:
    """x (non-contiguous), y, and six [B, 1, D] modulation chunks (strided views, as in Stream)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, d, s, generator=g).transpose(1, 2) * 2 + 0.5
    y = torch.randn(b, s, d, generator=g)
    return x, y, torch.randn(b, 1, 6 * d, generator=g) * 0.5


@pytest.mark.parametrize(("dtype", "partials"), CASES)
def test_layernorm_modulate(triton_mode, monkeypatch, dtype, partials):
    from seedance.kernels.triton_ops import common

    monkeypatch.setattr(common, "MAX_PARTIALS", partials)
    x, _, mods = modulation_inputs(2)

    def fused(x_, m):
        return kernels.layernorm_modulate(x_, *m.chunk(6, -1)[:2], EPS)

    def ref(x_, m):
        return reference.layernorm_modulate(x_, *m.chunk(6, -1)[:2], EPS)

    check_against_reference("layernorm_modulate", fused, ref, [x, mods], dtype)


@pytest.mark.parametrize(("dtype", "partials"), CASES)
def test_gated_residual(triton_mode, monkeypatch, dtype, partials):
    from seedance.kernels.triton_ops import common

    monkeypatch.setattr(common, "MAX_PARTIALS", partials)
    x, y, mods = modulation_inputs(3)
    check_against_reference("gated_residual", lambda x_, y_, m: kernels.gated_residual(x_, y_, m.chunk(6, -1)[2]),
                            lambda x_, y_, m: reference.gated_residual(x_, y_, m.chunk(6, -1)[2]), [x, y, mods], dtype)


@pytest.mark.parametrize(("dtype", "partials"), CASES)
def test_residual_layernorm_modulate(triton_mode, monkeypatch, dtype, partials):
    from seedance.kernels.triton_ops import common

    monkeypatch.setattr(common, "MAX_PARTIALS", partials)
    x, y, mods = modulation_inputs(4, d=20)

    def fused(x_, y_, m):
        return kernels.residual_layernorm_modulate(x_, y_, *m.chunk(6, -1)[2:5], EPS)

    def ref(x_, y_, m):
        return reference.residual_layernorm_modulate(x_, y_, *m.chunk(6, -1)[2:5], EPS)

    check_against_reference("residual_layernorm_modulate", fused, ref, [x, y, mods], dtype)


# -- dispatch ---------------------------------------------------------------------------------


def test_auto_on_cpu_uses_reference_and_reference_mode_is_exact(monkeypatch):
    x, y, mods = modulation_inputs(5)
    gate = mods.chunk(6, -1)[2]
    before = sum(kernels.launch_counts.values())
    for mode in ("auto", "reference"):
        monkeypatch.setenv(kernels.ENV_VAR, mode)
        assert kernels.select_backend("op", x, y) == "reference"
        assert torch.equal(kernels.gated_residual(x, y, gate), x + gate * y)
    assert sum(kernels.launch_counts.values()) == before


def test_code_traced_by_torch_compile_gets_the_reference(monkeypatch):
    """Inside torch.compile the ops take the reference maths (inductor fuses it), whatever
    SEEDANCE_KERNELS says: no Triton launch, and the compiled result is the reference's."""
    monkeypatch.setenv(kernels.ENV_VAR, "triton")
    x, y, mods = modulation_inputs(6)
    shift, scale, gate = mods.chunk(6, -1)[:3]

    def block(x, y):
        r, h = kernels.residual_layernorm_modulate(x, y, gate, shift, scale, EPS)
        return kernels.gated_residual(r, h, gate)

    before = sum(kernels.launch_counts.values())
    compiled = torch.compile(block, backend="eager", fullgraph=True)
    out = compiled(x, y)
    assert sum(kernels.launch_counts.values()) == before
    r, h = reference.residual_layernorm_modulate(x, y, gate, shift, scale, EPS)
    torch.testing.assert_close(out, reference.gated_residual(r, h, gate), atol=0, rtol=0)


def test_bad_mode_and_unservable_triton_calls_raise(monkeypatch):
    x = torch.randn(1, 2, 1, 4)
    monkeypatch.setenv(kernels.ENV_VAR, "cuda-please")
    with pytest.raises(ValueError, match="SEEDANCE_KERNELS"):
        kernels.select_backend("op", x)
    monkeypatch.setenv(kernels.ENV_VAR, "triton")
    with pytest.raises(kernels.KernelBackendError):  # float64 is not a kernel dtype
        kernels.select_backend("op", x.double())
    cos = torch.ones(1, 2, 2, requires_grad=True)
    with pytest.raises(kernels.KernelBackendError):  # the Triton path gives cos/sin no gradient
        kernels.qk_norm_rope(x, None, cos, torch.zeros(1, 2, 2))
    monkeypatch.delenv("TRITON_INTERPRET")
    with pytest.raises(kernels.KernelBackendError, match=r"TRITON_INTERPRET|not importable"):
        kernels.select_backend("op", x)


def test_package_and_reference_work_without_triton():
    code = (
        "import sys; sys.modules['triton'] = None\n"  # makes `import triton` fail in this process
        "import os, torch\n"
        "from seedance import kernels\n"
        "assert not kernels.triton_available()\n"
        "x, g = torch.randn(1, 3, 4), torch.randn(1, 1, 4)\n"
        "assert torch.equal(kernels.gated_residual(x, x, g), x + g * x)\n"
        "import seedance.model.dit\n"
        "os.environ['SEEDANCE_KERNELS'] = 'triton'\n"
        "try:\n    kernels.gated_residual(x, x, g)\nexcept kernels.KernelBackendError as e:\n    print('raised', e)\n"
    )
    env = {**os.environ, "SEEDANCE_KERNELS": "auto"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "raised" in done.stdout and "not importable" in done.stdout


# -- the DiT blocks ---------------------------------------------------------------------------

D, HEADS, GRID, LENGTH = 32, 2, (2, 2, 3), 3  # head_dim 16 = rope dims (4, 4, 4, 4)


def block_inputs(b: int = 2) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, Rope]:
    g = torch.Generator().manual_seed(7)
    n = GRID[0] * GRID[1] * GRID[2]
    x, txt, c = torch.randn(b, n, D, generator=g), torch.randn(b, LENGTH, D, generator=g), torch.randn(b, D, generator=g)
    va, ta = torch.randn(b, n, 8, generator=g) * 3, torch.randn(b, LENGTH, 8, generator=g) * 3
    return x, txt, c, Rope(va.cos(), va.sin(), ta.cos(), ta.sin())


def run_block(block, x, txt, c, rope) -> tuple[torch.Tensor, ...]:
    if isinstance(block, SpatialBlock):
        return block(x, txt, torch.tensor([[True, True, False], [True, True, True]]), c, rope, GRID)
    return (block(x, c, rope, GRID),)


def pre_change_qkv_heads_rope(self, x, mods, cos, sin):
    """Stream as it was before seedance.kernels: modulate(norm1(x)), q_norm/k_norm, then apply_rope."""
    qkv = self.qkv(modulate(self.norm1(x), mods[0], mods[1]))
    q, k, v = qkv.unflatten(-1, (3, self.num_heads, -1)).unbind(2)
    return apply_rope(self.q_norm(q), cos, sin), apply_rope(self.k_norm(k), cos, sin), v


def pre_change_finish(self, x, attn_out, mods):
    x = x + mods[2] * self.proj(attn_out)
    return x + mods[5] * self.mlp(modulate(self.norm2(x), mods[3], mods[4]))


def make_block(kind: str, qk_norm: bool) -> torch.nn.Module:
    block = SpatialBlock(D, HEADS, 2.0, qk_norm) if kind == "spatial" else TemporalBlock(D, HEADS, 2.0, qk_norm, (2, 2))
    return randomize_(block, seed=3, std=0.2)


@pytest.mark.parametrize("kind", ["spatial", "temporal"])
def test_reference_backend_is_the_pre_change_maths(monkeypatch, kind):
    monkeypatch.setenv(kernels.ENV_VAR, "reference")
    block, inputs = make_block(kind, True), block_inputs()
    now = run_block(block, *inputs)
    monkeypatch.setattr(Stream, "qkv_heads_rope", pre_change_qkv_heads_rope)
    monkeypatch.setattr(Stream, "finish", pre_change_finish)
    before = run_block(block, *inputs)
    assert all(torch.equal(a, b) for a, b in zip(now, before, strict=True))


@pytest.mark.parametrize(("kind", "qk_norm"), [("spatial", True), ("temporal", True), ("temporal", False)])
def test_blocks_triton_match_reference_forward_and_backward(monkeypatch, kind, qk_norm):
    block, (x, txt, c, rope) = make_block(kind, qk_norm), block_inputs()
    results = {}
    for mode in ("reference", "triton"):
        monkeypatch.setenv(kernels.ENV_VAR, mode)
        block.zero_grad()
        leaves = [t.detach().clone().requires_grad_() for t in (x, txt, c)]
        before = sum(kernels.launch_counts.values())
        outs = run_block(block, *leaves, rope)
        sum((o * torch.linspace(-1, 1, o.numel()).view_as(o)).sum() for o in outs).backward()
        launched = sum(kernels.launch_counts.values()) - before
        assert (launched > 0) == (mode == "triton")
        grads = [t.grad for t in leaves] + [p.grad.clone() for p in block.parameters()]
        results[mode] = (outs, grads)
    for a, b in zip(results["triton"][0], results["reference"][0], strict=True):
        torch.testing.assert_close(a, b, atol=2e-5, rtol=2e-5)
    for i, (a, b) in enumerate(zip(results["triton"][1], results["reference"][1], strict=True)):
        if kind == "temporal" and i == 1:
            continue  # a temporal block never reads the text
        torch.testing.assert_close(a, b, atol=2e-5, rtol=2e-5, msg=lambda m, i=i: f"grad {i}: {m}")


def test_stream_state_dict_keys_unchanged():
    """The fused calls read q_norm/k_norm/norm1/norm2 from their modules: saved weights still load."""
    assert set(Stream(8, 2, 2.0, True).state_dict()) == {
        f"{m}.{p}" for m in ("modulation", "qkv", "proj", "mlp.fc1", "mlp.fc2") for p in ("weight", "bias")
    } | {"q_norm.weight", "k_norm.weight"}
