"""Fused Triton kernels vs the eager PyTorch reference (GPU only; CPU writes 'not measured' rows).

Each row times one op forward, and forward + backward (the training path), with both backends
on the same inputs, and records the largest difference between their outputs and gradients:
on a GPU this checks the compiled kernels (the test suite checks them in Triton's interpreter).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from bench_preset import kernel_backend
from common import NO_GPU, Context, write_result

from seedance import kernels

# Calls per timed sample: back to back between two synchronisations, so the figure is the op's
# throughput (the CPU queues launches while the GPU runs), not one launch plus a sync round trip.
CALLS = 20
OPS = ("layernorm_modulate", "gated_residual", "residual_layernorm_modulate", "qk_norm_rope")


def _inputs(device: torch.device, dtype: torch.dtype, tokens: int, dim: int = 3072, heads: int = 24):
    """(op name -> (inputs that take gradients, call)) at seedance-1.0 widths."""
    g = torch.Generator(device=device).manual_seed(0)

    def r(*shape):
        return torch.randn(*shape, generator=g, device=device, dtype=dtype)

    hd = dim // heads
    x, y = r(1, tokens, dim), r(1, tokens, dim)
    shift, scale, gate = r(1, 1, dim), r(1, 1, dim), r(1, 1, dim)
    q = r(1, tokens, heads, hd)
    w = torch.ones(hd, device=device, dtype=dtype) + 0.1 * r(hd)
    cos = torch.randn(1, tokens, hd // 2, generator=g, device=device)
    sin = torch.randn(1, tokens, hd // 2, generator=g, device=device)
    return {
        "layernorm_modulate": ((x, shift, scale), lambda a, b, c: kernels.layernorm_modulate(a, b, c, 1e-6)),
        "gated_residual": ((x, y, gate), kernels.gated_residual),
        "residual_layernorm_modulate": ((x, y, gate, shift, scale),
                                        lambda a, b, c, d, e: kernels.residual_layernorm_modulate(a, b, c, d, e, 1e-6)),
        "qk_norm_rope": ((q, w), lambda a, b: kernels.qk_norm_rope(a, b, cos, sin, 1e-6)),
    }


def _outputs(out) -> list[torch.Tensor]:
    return list(out) if isinstance(out, tuple) else [out]


def _fwd_bwd(leaves: tuple[torch.Tensor, ...], call: Callable) -> Callable[[], list[torch.Tensor]]:
    def run() -> list[torch.Tensor]:
        params = [t.detach().requires_grad_(True) for t in leaves]
        outs = _outputs(call(*params))
        loss = sum((o.float() * (i + 1)).sum() for i, o in enumerate(outs))
        loss.backward()
        return [*[o.detach() for o in outs], *[p.grad for p in params]]
    return run


def _per_call(ctx: Context, fn: Callable) -> tuple[float, object]:
    """Median seconds per call of fn over CALLS back-to-back calls, and fn's last output."""
    out = None

    def many():
        nonlocal out
        for _ in range(CALLS):
            out = fn()

    m = ctx.measure(many)
    return m.median_s / CALLS, out


def _max_rel_err(ref: list[torch.Tensor], other: list[torch.Tensor]) -> float:
    """max over tensors of max|other - ref| / max|ref| (outputs and gradients)."""
    return max(float((y.float() - x.float()).abs().max() / x.float().abs().max().clamp(min=1e-12))
               for x, y in zip(ref, other, strict=True))


def kernels_bench(ctx: Context) -> None:
    start = time.perf_counter()
    if ctx.device.type != "cuda" or not kernels.triton_available():
        rows = [{"kernel": name, "status": NO_GPU} for name in OPS]
        write_result(ctx, "kernels", "Fused kernels vs eager (GPU)", rows,
                     notes=["Triton kernels are compiled for CUDA only; on CPU they run in Triton's interpreter "
                            "(a correctness tool, not a speed path), so no CPU timing is meaningful."],
                     elapsed_s=time.perf_counter() - start)
        return
    rows = []
    for dtype in (torch.bfloat16, torch.float32):
        for tokens in ([1024] if ctx.smoke else [4096, 32760]):
            for name, (leaves, call) in _inputs(ctx.device, dtype, tokens).items():
                fwd, train, outs = {}, {}, {}
                for backend in ("reference", "triton"):
                    with kernel_backend(backend):
                        with torch.no_grad():
                            fwd[backend], _ = _per_call(ctx, lambda: _outputs(call(*leaves)))  # noqa: B023
                        train[backend], outs[backend] = _per_call(ctx, _fwd_bwd(leaves, call))
                rows.append({"kernel": name, "dtype": str(dtype).removeprefix("torch."), "tokens": tokens,
                             "eager_ms": round(fwd["reference"] * 1e3, 4),
                             "triton_ms": round(fwd["triton"] * 1e3, 4),
                             "speedup": round(fwd["reference"] / fwd["triton"], 2),
                             "eager_fwd_bwd_ms": round(train["reference"] * 1e3, 4),
                             "triton_fwd_bwd_ms": round(train["triton"] * 1e3, 4),
                             "fwd_bwd_speedup": round(train["reference"] / train["triton"], 2),
                             "max_rel_err": _max_rel_err(outs["reference"], outs["triton"])})
    goals = []
    for dtype in ("bfloat16", "float32"):
        for tokens in sorted({r["tokens"] for r in rows}):
            sel = [r for r in rows if r["dtype"] == dtype and r["tokens"] == tokens]
            worst = min(sel, key=lambda r: r["speedup"])
            goals.append({"goal": f"each fused op >= 2x eager forward ({dtype}, {tokens} tokens x 3072)",
                          "target": 2.0, "measured": f"min {worst['speedup']:.2f}x ({worst['kernel']})",
                          "met": worst["speedup"] >= 2.0})
    write_result(ctx, "kernels", "Fused kernels vs eager (GPU)", rows, goals=goals,
                 notes=[f"times are per call: the median over reps of {CALLS} back-to-back calls between two "
                        "synchronisations, divided by the count (throughput, launch overhead included).",
                        "width 3072, 24 heads (seedance-1.0 shapes), batch 1; fwd_bwd = forward + backward of "
                        "a weighted sum of the outputs (gradients for every input the DiT trains through).",
                        "max_rel_err: largest |triton - reference| / max|reference| over each output and gradient, same inputs; "
                        "the reference rounds each intermediate to the dtype, Triton computes in float32 and "
                        "rounds once, so bf16 rows differ by up to a few bf16 ulps (2^-8 relative each)."],
                 elapsed_s=time.perf_counter() - start)
