"""Fused Triton kernels vs the eager PyTorch reference (GPU only; CPU writes 'not measured' rows)."""

from __future__ import annotations

import os
import time

import torch
from common import NO_GPU, Context, write_result

from seedance import kernels


def _inputs(device: torch.device, dtype: torch.dtype, tokens: int, dim: int = 3072, heads: int = 24):
    g = torch.Generator(device=device).manual_seed(0)

    def r(*shape):
        return torch.randn(*shape, generator=g, device=device, dtype=dtype)

    hd = dim // heads
    x, y = r(1, tokens, dim), r(1, tokens, dim)
    shift, scale, gate = r(1, 1, dim), r(1, 1, dim), r(1, 1, dim)
    q = r(1, tokens, heads, hd)
    w = torch.ones(hd, device=device, dtype=dtype)
    cos = torch.randn(1, tokens, hd // 2, generator=g, device=device)
    sin = torch.randn(1, tokens, hd // 2, generator=g, device=device)
    return {
        "layernorm_modulate": lambda: kernels.layernorm_modulate(x, shift, scale, 1e-6),
        "gated_residual": lambda: kernels.gated_residual(x, y, gate),
        "residual_layernorm_modulate": lambda: kernels.residual_layernorm_modulate(x, y, gate, shift, scale, 1e-6),
        "qk_norm_rope": lambda: kernels.qk_norm_rope(q, w, cos, sin, 1e-6),
    }


def kernels_bench(ctx: Context) -> None:
    start = time.perf_counter()
    if ctx.device.type != "cuda" or not kernels.triton_available():
        rows = [{"kernel": name, "status": NO_GPU} for name in
                ("layernorm_modulate", "gated_residual", "residual_layernorm_modulate", "qk_norm_rope")]
        write_result(ctx, "kernels", "Fused kernels vs eager (GPU)", rows,
                     notes=["Triton kernels are compiled for CUDA only; on CPU they run in Triton's interpreter "
                            "(a correctness tool, not a speed path), so no CPU timing is meaningful."],
                     elapsed_s=time.perf_counter() - start)
        return
    rows = []
    saved = os.environ.get(kernels.ENV_VAR)
    try:
        for dtype in (torch.bfloat16, torch.float32):
            for tokens in ([1024] if ctx.smoke else [4096, 32760]):
                for name, fn in _inputs(ctx.device, dtype, tokens).items():
                    result = {}
                    for backend in ("reference", "triton"):
                        os.environ[kernels.ENV_VAR] = backend
                        with torch.no_grad():
                            result[backend] = ctx.measure(fn).median_s
                    rows.append({"kernel": name, "dtype": str(dtype).removeprefix("torch."), "tokens": tokens,
                                 "eager_ms": round(result["reference"] * 1e3, 4),
                                 "triton_ms": round(result["triton"] * 1e3, 4),
                                 "speedup": round(result["reference"] / result["triton"], 2)})
    finally:
        if saved is None:
            os.environ.pop(kernels.ENV_VAR, None)
        else:
            os.environ[kernels.ENV_VAR] = saved
    write_result(ctx, "kernels", "Fused kernels vs eager (GPU)", rows,
                 notes=["forward only, width 3072, 24 heads (seedance-1.0 shapes), batch 1"],
                 elapsed_s=time.perf_counter() - start)
