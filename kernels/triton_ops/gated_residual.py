"""Fused adaLN-Zero gated residual: x + gate * y with a per-sample gate [B, 1, D].

Forward: one program per token row, float32 arithmetic, one rounding at the store (the unfused
model rounds gate * y before the add in low precision). The gate is read in place by stride.

Backward is a Triton kernel for dy = gate * g and the per-(sample, chunk) float32 partial sums of
dgate = sum_s g * y (torch reduces the partials); dx is g itself, so no kernel is spent on it.
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
def _gated_residual_fwd(x_ptr, y_ptr, gate_ptr, out_ptr, S, D, gsb, gsd, BLOCK_D: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    b = row // S
    d = tl.arange(0, BLOCK_D)
    m = d < D
    x = tl.load(x_ptr + row * D + d, mask=m, other=0.0).to(tl.float32)
    y = tl.load(y_ptr + row * D + d, mask=m, other=0.0).to(tl.float32)
    gate = tl.load(gate_ptr + b * gsb + d * gsd, mask=m, other=0.0).to(tl.float32)
    tl.store(out_ptr + row * D + d, (x + gate * y).to(out_ptr.dtype.element_ty), mask=m)


@triton.jit
def _gated_residual_bwd(
    g_ptr, y_ptr, gate_ptr, dy_ptr, dgate_ptr,
    S, D, gsb, gsd, rows_per_prog,
    BLOCK_D: tl.constexpr,
):
    b = tl.program_id(0).to(tl.int64)
    chunk = tl.program_id(1).to(tl.int64)
    d = tl.arange(0, BLOCK_D)
    m = d < D
    gate = tl.load(gate_ptr + b * gsb + d * gsd, mask=m, other=0.0).to(tl.float32)
    acc = tl.zeros([BLOCK_D], dtype=tl.float32)
    for i in range(rows_per_prog):
        s = chunk * rows_per_prog + i
        mr = d < tl.where(s < S, D, 0)  # vector bound: the interpreter mishandles scalar-bool masks
        off = (b * S + s) * D + d
        g = tl.load(g_ptr + off, mask=mr, other=0.0).to(tl.float32)
        y = tl.load(y_ptr + off, mask=mr, other=0.0).to(tl.float32)
        acc += g * y
        tl.store(dy_ptr + off, (g * gate).to(dy_ptr.dtype.element_ty), mask=mr)
    tl.store(dgate_ptr + (b * tl.num_programs(1) + chunk) * D + d, acc, mask=m)


def _check_pair(x: Tensor, y: Tensor) -> None:
    if x.dim() != 3 or x.shape != y.shape:
        raise ValueError(f"x and y must both be [B, S, D], got {tuple(x.shape)} and {tuple(y.shape)}")


class GatedResidual(torch.autograd.Function):
    """Triton forward and Triton backward (dgate reduced by torch over partial rows)."""

    @staticmethod
    def forward(ctx, x: Tensor, y: Tensor, gate: Tensor) -> Tensor:
        _check_pair(x, y)
        b, s, d = x.shape
        x, y = x.contiguous(), y.contiguous()
        gate_v, gsb, gsd = common.modulation(gate, b, d, "gate")
        out = torch.empty((b, s, d), dtype=common.out_dtype(x, y, gate), device=x.device)
        bd = common.block(d)
        record_launch("gated_residual_fwd")
        _gated_residual_fwd[(b * s,)](x, y, gate_v, out, s, d, gsb, gsd, BLOCK_D=bd, num_warps=common.num_warps(bd))
        ctx.save_for_backward(y, gate)
        ctx.x_dtype = x.dtype
        return out

    @staticmethod
    @once_differentiable  # the backward kernels are not themselves differentiable
    def backward(ctx, grad: Tensor):
        y, gate = ctx.saved_tensors
        b, s, d = y.shape
        grad = grad.contiguous()
        gate_v, gsb, gsd = common.modulation(gate, b, d, "gate")
        per, chunks = common.split_rows(s, b)
        dy = torch.empty_like(y)
        dgate = torch.empty((b * chunks, d), dtype=torch.float32, device=y.device)
        bd = common.block(d)
        record_launch("gated_residual_bwd")
        _gated_residual_bwd[(b, chunks)](grad, y, gate_v, dy, dgate, s, d, gsb, gsd, per,
                                         BLOCK_D=bd, num_warps=common.num_warps(bd))
        return grad.to(ctx.x_dtype), dy, common.reduce_partials(dgate, gate, b)


def gated_residual(x: Tensor, y: Tensor, gate: Tensor) -> Tensor:
    return GatedResidual.apply(x, y, gate)
