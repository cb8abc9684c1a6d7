"""Fused LayerNorm (no affine, float32 statistics) + adaLN modulate: norm(x) * (1 + scale) + shift.

Forward: one program per token row of D features; shift/scale [B, 1, D] are read in place through
their strides (they are chunks of the modulation Linear's output). The unfused model writes the
normed tensor and then two more elementwise intermediates; this writes the result once.

Backward is a Triton kernel: programs own a (sample, chunk of rows) tile, recompute mean/rstd from
x (cheaper than storing them: x is read anyway), write dx, and accumulate dshift/dscale over their
rows into one float32 partial row each; torch sums the partials. The jit helpers below are shared
with the residual-fused variant.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor
from torch.autograd.function import once_differentiable

from seedance.kernels.dispatch import record_launch
from seedance.kernels.triton_ops import common


@triton.jit
def normalize(x, mask, D, eps):
    """(x - mean) * rstd over the valid lanes of one float32 row, and rstd."""
    mean = tl.sum(x, axis=0) / D
    xc = tl.where(mask, x - mean, 0.0)
    rstd = tl.rsqrt(tl.sum(xc * xc, axis=0) / D + eps)
    return xc * rstd, rstd


@triton.jit
def modulated_norm_grad(g, xhat, rstd, scale, D):
    """d/dx of (LayerNorm(x) * (1 + scale) + shift) applied to upstream g, one row in float32."""
    dxhat = g * (1.0 + scale)
    return rstd * (dxhat - (tl.sum(dxhat, axis=0) + xhat * tl.sum(dxhat * xhat, axis=0)) / D)


@triton.jit
def _ln_mod_fwd(
    x_ptr, shift_ptr, scale_ptr, out_ptr,
    S, D, ssb, ssd, csb, csd, eps,
    BLOCK_D: tl.constexpr,
):
    row = tl.program_id(0).to(tl.int64)
    b = row // S
    d = tl.arange(0, BLOCK_D)
    m = d < D
    x = tl.load(x_ptr + row * D + d, mask=m, other=0.0).to(tl.float32)
    xhat, _ = normalize(x, m, D, eps)
    shift = tl.load(shift_ptr + b * ssb + d * ssd, mask=m, other=0.0).to(tl.float32)
    scale = tl.load(scale_ptr + b * csb + d * csd, mask=m, other=0.0).to(tl.float32)
    out = xhat * (1.0 + scale) + shift
    tl.store(out_ptr + row * D + d, out.to(out_ptr.dtype.element_ty), mask=m)


@triton.jit
def _ln_mod_bwd(
    g_ptr, x_ptr, scale_ptr, dx_ptr, dshift_ptr, dscale_ptr,
    S, D, csb, csd, eps, rows_per_prog,
    BLOCK_D: tl.constexpr,
):
    b = tl.program_id(0).to(tl.int64)
    chunk = tl.program_id(1).to(tl.int64)
    d = tl.arange(0, BLOCK_D)
    m = d < D
    scale = tl.load(scale_ptr + b * csb + d * csd, mask=m, other=0.0).to(tl.float32)
    acc_shift = tl.zeros([BLOCK_D], dtype=tl.float32)
    acc_scale = tl.zeros([BLOCK_D], dtype=tl.float32)
    for i in range(rows_per_prog):
        s = chunk * rows_per_prog + i
        mr = d < tl.where(s < S, D, 0)  # vector bound: the interpreter mishandles scalar-bool masks
        off = (b * S + s) * D + d
        x = tl.load(x_ptr + off, mask=mr, other=0.0).to(tl.float32)
        g = tl.load(g_ptr + off, mask=mr, other=0.0).to(tl.float32)
        xhat, rstd = normalize(x, mr, D, eps)
        acc_shift += g
        acc_scale += g * xhat
        dx = modulated_norm_grad(g, xhat, rstd, scale, D)
        tl.store(dx_ptr + off, dx.to(dx_ptr.dtype.element_ty), mask=mr)
    part = (b * tl.num_programs(1) + chunk) * D + d
    tl.store(dshift_ptr + part, acc_shift, mask=m)
    tl.store(dscale_ptr + part, acc_scale, mask=m)


class LayerNormModulate(torch.autograd.Function):
    """Triton forward and Triton backward (dshift/dscale reduced by torch over partial rows)."""

    @staticmethod
    def forward(ctx, x: Tensor, shift: Tensor, scale: Tensor, eps: float) -> Tensor:
        if x.dim() != 3:
            raise ValueError(f"x must be [B, S, D], got {tuple(x.shape)}")
        b, s, d = x.shape
        x = x.contiguous()
        shift_v, ssb, ssd = common.modulation(shift, b, d, "shift")
        scale_v, csb, csd = common.modulation(scale, b, d, "scale")
        out = torch.empty((b, s, d), dtype=common.out_dtype(x, shift, scale), device=x.device)
        bd = common.block(d)
        record_launch("layernorm_modulate_fwd")
        _ln_mod_fwd[(b * s,)](x, shift_v, scale_v, out, s, d, ssb, ssd, csb, csd, eps,
                              BLOCK_D=bd, num_warps=common.num_warps(bd))
        ctx.save_for_backward(x, shift, scale)
        ctx.eps = eps
        return out

    @staticmethod
    @once_differentiable  # the backward kernels are not themselves differentiable
    def backward(ctx, grad: Tensor):
        x, shift, scale = ctx.saved_tensors
        b, s, d = x.shape
        grad = grad.contiguous()
        scale_v, csb, csd = common.modulation(scale, b, d, "scale")
        per, chunks = common.split_rows(s, b)
        dx = torch.empty_like(x)
        dshift = torch.empty((b * chunks, d), dtype=torch.float32, device=x.device)
        dscale = torch.empty_like(dshift)
        bd = common.block(d)
        record_launch("layernorm_modulate_bwd")
        _ln_mod_bwd[(b, chunks)](grad, x, scale_v, dx, dshift, dscale, s, d, csb, csd, ctx.eps, per,
                                 BLOCK_D=bd, num_warps=common.num_warps(bd))
        return dx, common.reduce_partials(dshift, shift, b), common.reduce_partials(dscale, scale, b), None


def layernorm_modulate(x: Tensor, shift: Tensor, scale: Tensor, eps: float) -> Tensor:
    return LayerNormModulate.apply(x, shift, scale, eps)
