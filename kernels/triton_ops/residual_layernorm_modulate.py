"""Gated residual fused with the next sub-layer's modulated LayerNorm.

Stream.finish does r = x + gate_attn * proj(attn); h = norm2(r) * (1 + scale2) + shift2. This
kernel reads x, y once per row and writes both r (the new residual stream, needed later) and h
(the MLP input). LayerNorm statistics use r as stored (rounded to its dtype), so the result is the
same as the two ops run one after the other.

Backward is a Triton kernel: per row it takes the gradients of both outputs, runs the modulated
LayerNorm backward into r, adds r's own gradient, and writes dx and dy = gate * dr; dgate, dshift
and dscale are float32 partial rows per (sample, chunk) that torch reduces. r is saved (it is an
output, kept alive by the next layer anyway) so the statistics need not be stored.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor
from torch.autograd.function import once_differentiable

from seedance.kernels.dispatch import record_launch
from seedance.kernels.triton_ops import common
from seedance.kernels.triton_ops.layernorm_modulate import modulated_norm_grad, normalize


@triton.jit
def _res_ln_mod_fwd(
    x_ptr, y_ptr, gate_ptr, shift_ptr, scale_ptr, r_ptr, h_ptr,
    S, D, gsb, gsd, ssb, ssd, csb, csd, eps,
    BLOCK_D: tl.constexpr,
):
    row = tl.program_id(0).to(tl.int64)
    b = row // S
    d = tl.arange(0, BLOCK_D)
    m = d < D
    x = tl.load(x_ptr + row * D + d, mask=m, other=0.0).to(tl.float32)
    y = tl.load(y_ptr + row * D + d, mask=m, other=0.0).to(tl.float32)
    gate = tl.load(gate_ptr + b * gsb + d * gsd, mask=m, other=0.0).to(tl.float32)
    r = (x + gate * y).to(r_ptr.dtype.element_ty)
    tl.store(r_ptr + row * D + d, r, mask=m)
    rhat, _ = normalize(r.to(tl.float32), m, D, eps)
    shift = tl.load(shift_ptr + b * ssb + d * ssd, mask=m, other=0.0).to(tl.float32)
    scale = tl.load(scale_ptr + b * csb + d * csd, mask=m, other=0.0).to(tl.float32)
    tl.store(h_ptr + row * D + d, (rhat * (1.0 + scale) + shift).to(h_ptr.dtype.element_ty), mask=m)


@triton.jit
def _res_ln_mod_bwd(
    gr_ptr, gh_ptr, r_ptr, y_ptr, gate_ptr, scale_ptr, dx_ptr, dy_ptr, dgate_ptr, dshift_ptr, dscale_ptr,
    S, D, gsb, gsd, csb, csd, eps, rows_per_prog,
    BLOCK_D: tl.constexpr,
):
    b = tl.program_id(0).to(tl.int64)
    chunk = tl.program_id(1).to(tl.int64)
    d = tl.arange(0, BLOCK_D)
    m = d < D
    gate = tl.load(gate_ptr + b * gsb + d * gsd, mask=m, other=0.0).to(tl.float32)
    scale = tl.load(scale_ptr + b * csb + d * csd, mask=m, other=0.0).to(tl.float32)
    acc_gate = tl.zeros([BLOCK_D], dtype=tl.float32)
    acc_shift = tl.zeros([BLOCK_D], dtype=tl.float32)
    acc_scale = tl.zeros([BLOCK_D], dtype=tl.float32)
    for i in range(rows_per_prog):
        s = chunk * rows_per_prog + i
        mr = d < tl.where(s < S, D, 0)  # vector bound: the interpreter mishandles scalar-bool masks
        off = (b * S + s) * D + d
        gh = tl.load(gh_ptr + off, mask=mr, other=0.0).to(tl.float32)
        r = tl.load(r_ptr + off, mask=mr, other=0.0).to(tl.float32)
        rhat, rstd = normalize(r, mr, D, eps)
        acc_shift += gh
        acc_scale += gh * rhat
        dr = tl.load(gr_ptr + off, mask=mr, other=0.0).to(tl.float32) + modulated_norm_grad(gh, rhat, rstd, scale, D)
        y = tl.load(y_ptr + off, mask=mr, other=0.0).to(tl.float32)
        acc_gate += dr * y
        tl.store(dx_ptr + off, dr.to(dx_ptr.dtype.element_ty), mask=mr)
        tl.store(dy_ptr + off, (dr * gate).to(dy_ptr.dtype.element_ty), mask=mr)
    part = (b * tl.num_programs(1) + chunk) * D + d
    tl.store(dgate_ptr + part, acc_gate, mask=m)
    tl.store(dshift_ptr + part, acc_shift, mask=m)
    tl.store(dscale_ptr + part, acc_scale, mask=m)


class ResidualLayerNormModulate(torch.autograd.Function):
    """Triton forward and Triton backward (dgate/dshift/dscale reduced by torch over partial rows)."""

    @staticmethod
    def forward(ctx, x: Tensor, y: Tensor, gate: Tensor, shift: Tensor, scale: Tensor, eps: float):
        if x.dim() != 3 or x.shape != y.shape:
            raise ValueError(f"x and y must both be [B, S, D], got {tuple(x.shape)} and {tuple(y.shape)}")
        b, s, d = x.shape
        x, y = x.contiguous(), y.contiguous()
        gate_v, gsb, gsd = common.modulation(gate, b, d, "gate")
        shift_v, ssb, ssd = common.modulation(shift, b, d, "shift")
        scale_v, csb, csd = common.modulation(scale, b, d, "scale")
        r = torch.empty((b, s, d), dtype=common.out_dtype(x, y, gate), device=x.device)
        h = torch.empty((b, s, d), dtype=common.out_dtype(r, shift, scale), device=x.device)
        bd = common.block(d)
        record_launch("residual_layernorm_modulate_fwd")
        _res_ln_mod_fwd[(b * s,)](x, y, gate_v, shift_v, scale_v, r, h, s, d, gsb, gsd, ssb, ssd, csb, csd, eps,
                                  BLOCK_D=bd, num_warps=common.num_warps(bd))
        ctx.save_for_backward(r, y, gate, shift, scale)
        ctx.eps, ctx.x_dtype = eps, x.dtype
        return r, h

    @staticmethod
    @once_differentiable  # the backward kernels are not themselves differentiable
    def backward(ctx, grad_r: Tensor | None, grad_h: Tensor | None):
        r, y, gate, shift, scale = ctx.saved_tensors
        b, s, d = r.shape
        # An unused output arrives as None (or zeros with materialized grads): treat both as zero.
        grad_r = torch.zeros_like(r) if grad_r is None else grad_r.contiguous()
        grad_h = torch.zeros_like(r) if grad_h is None else grad_h.contiguous()
        gate_v, gsb, gsd = common.modulation(gate, b, d, "gate")
        scale_v, csb, csd = common.modulation(scale, b, d, "scale")
        per, chunks = common.split_rows(s, b)
        dx = torch.empty((b, s, d), dtype=ctx.x_dtype, device=r.device)
        dy = torch.empty_like(y)
        dgate, dshift, dscale = (torch.empty((b * chunks, d), dtype=torch.float32, device=r.device) for _ in range(3))
        bd = common.block(d)
        record_launch("residual_layernorm_modulate_bwd")
        _res_ln_mod_bwd[(b, chunks)](grad_r, grad_h, r, y, gate_v, scale_v, dx, dy, dgate, dshift, dscale,
                                     s, d, gsb, gsd, csb, csd, ctx.eps, per,
                                     BLOCK_D=bd, num_warps=common.num_warps(bd))
        return (dx, dy, common.reduce_partials(dgate, gate, b), common.reduce_partials(dshift, shift, b),
                common.reduce_partials(dscale, scale, b), None)


def residual_layernorm_modulate(
    x: Tensor, y: Tensor, gate: Tensor, shift: Tensor, scale: Tensor, eps: float
) -> tuple[Tensor, Tensor]:
    return ResidualLayerNormModulate.apply(x, y, gate, shift, scale, eps)
