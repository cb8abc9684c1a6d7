"""Fused QK-norm + RoPE: per-head RMSNorm (float32) * weight, then the pairwise rotation.

One program per token (b, s) handles all H heads as an [H, Dh/2] tile of (even, odd) pairs, so
x is read once and written once, and the token's cos/sin row is read once for every head. The
unfused model reads and writes q (and k) twice and materialises float32 copies in between.

Rounding: the whole chain runs in float32 and rounds once at the store. The unfused model also
rounds the RMSNorm output to x's dtype before RoPE, so in bf16/fp16 the two differ by about one
ulp of the output dtype; in float32 they agree to float32 rounding.

Backward is a Triton kernel (recomputes the RMS from x rather than storing it): it rotates the
gradient back, applies the RMSNorm backward, and writes per-program float32 partial sums of
dweight that torch reduces. cos/sin get no gradient (they are position tables); the dispatcher
sends calls whose cos/sin require grad to the reference.
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
def _qk_norm_rope_fwd(
    x_ptr, w_ptr, cos_ptr, sin_ptr, out_ptr,
    S, H, HALF, sxb, sxs, sxh, scb, scs, eps,
    APPLY_NORM: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_HALF: tl.constexpr,
):
    tok = tl.program_id(0).to(tl.int64)
    b, s = tok // S, tok % S
    h = tl.arange(0, BLOCK_H)[:, None]
    j = tl.arange(0, BLOCK_HALF)[None, :]
    jm = j < HALF
    mask = (h < H) & jm
    src = x_ptr + b * sxb + s * sxs + h * sxh + 2 * j
    x0 = tl.load(src, mask=mask, other=0.0).to(tl.float32)
    x1 = tl.load(src + 1, mask=mask, other=0.0).to(tl.float32)
    if APPLY_NORM:
        rstd = tl.rsqrt((tl.sum(x0 * x0, axis=1) + tl.sum(x1 * x1, axis=1)) / (2 * HALF) + eps)
        w0 = tl.load(w_ptr + 2 * j, mask=jm, other=0.0).to(tl.float32)
        w1 = tl.load(w_ptr + 2 * j + 1, mask=jm, other=0.0).to(tl.float32)
        x0 = x0 * rstd[:, None] * w0
        x1 = x1 * rstd[:, None] * w1
    c = tl.load(cos_ptr + b * scb + s * scs + j, mask=jm, other=0.0).to(tl.float32)
    sn = tl.load(sin_ptr + b * scb + s * scs + j, mask=jm, other=0.0).to(tl.float32)
    dst = out_ptr + tok * H * 2 * HALF + h * 2 * HALF + 2 * j
    dty = out_ptr.dtype.element_ty
    tl.store(dst, (x0 * c - x1 * sn).to(dty), mask=mask)
    tl.store(dst + 1, (x0 * sn + x1 * c).to(dty), mask=mask)


@triton.jit
def _qk_norm_rope_bwd(
    g_ptr, x_ptr, w_ptr, cos_ptr, sin_ptr, dx_ptr, dw_ptr,
    n_tok, S, H, HALF, sxb, sxs, sxh, scb, scs, eps, tok_per_prog,
    APPLY_NORM: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_HALF: tl.constexpr,
):
    pid = tl.program_id(0).to(tl.int64)
    h = tl.arange(0, BLOCK_H)[:, None]
    j = tl.arange(0, BLOCK_HALF)[None, :]
    jm = j < HALF
    if APPLY_NORM:
        w0 = tl.load(w_ptr + 2 * j, mask=jm, other=0.0).to(tl.float32)
        w1 = tl.load(w_ptr + 2 * j + 1, mask=jm, other=0.0).to(tl.float32)
    acc0 = tl.zeros([BLOCK_HALF], dtype=tl.float32)
    acc1 = tl.zeros([BLOCK_HALF], dtype=tl.float32)
    for i in range(tok_per_prog):
        tok = pid * tok_per_prog + i
        b, s = tok // S, tok % S
        # Masking by a vector bound (not `& (tok < n_tok)`): the interpreter mishandles scalar-bool masks.
        jrow = j < tl.where(tok < n_tok, HALF, 0)
        mask = (h < H) & jrow
        row_g = g_ptr + tok * H * 2 * HALF + h * 2 * HALF + 2 * j
        g0 = tl.load(row_g, mask=mask, other=0.0).to(tl.float32)
        g1 = tl.load(row_g + 1, mask=mask, other=0.0).to(tl.float32)
        c = tl.load(cos_ptr + b * scb + s * scs + j, mask=jrow, other=0.0).to(tl.float32)
        sn = tl.load(sin_ptr + b * scb + s * scs + j, mask=jrow, other=0.0).to(tl.float32)
        # Transpose of the rotation: gradient w.r.t. the pre-rotation (normed) pair.
        d0 = g0 * c + g1 * sn
        d1 = g1 * c - g0 * sn
        if APPLY_NORM:
            src = x_ptr + b * sxb + s * sxs + h * sxh + 2 * j
            x0 = tl.load(src, mask=mask, other=0.0).to(tl.float32)
            x1 = tl.load(src + 1, mask=mask, other=0.0).to(tl.float32)
            rstd = tl.rsqrt((tl.sum(x0 * x0, axis=1) + tl.sum(x1 * x1, axis=1)) / (2 * HALF) + eps)[:, None]
            xh0, xh1 = x0 * rstd, x1 * rstd
            acc0 += tl.sum(d0 * xh0, axis=0)
            acc1 += tl.sum(d1 * xh1, axis=0)
            d0, d1 = d0 * w0, d1 * w1
            # RMSNorm backward: rstd * (dxhat - xhat * mean(dxhat * xhat)), per head.
            proj = ((tl.sum(d0 * xh0, axis=1) + tl.sum(d1 * xh1, axis=1)) / (2 * HALF))[:, None]
            d0 = rstd * (d0 - xh0 * proj)
            d1 = rstd * (d1 - xh1 * proj)
        dst = dx_ptr + tok * H * 2 * HALF + h * 2 * HALF + 2 * j
        dty = dx_ptr.dtype.element_ty
        tl.store(dst, d0.to(dty), mask=mask)
        tl.store(dst + 1, d1.to(dty), mask=mask)
    if APPLY_NORM:
        jv = tl.arange(0, BLOCK_HALF)
        tl.store(dw_ptr + pid * 2 * HALF + 2 * jv, acc0, mask=jv < HALF)
        tl.store(dw_ptr + pid * 2 * HALF + 2 * jv + 1, acc1, mask=jv < HALF)


def _rope_tables(cos: Tensor, sin: Tensor, b: int, s: int, half: int) -> tuple[Tensor, Tensor, int, int]:
    if cos.shape[-1] != half or sin.shape != cos.shape:
        raise ValueError(f"cos/sin must be [B, S, {half}], got {tuple(cos.shape)} and {tuple(sin.shape)}")
    cos = common.rows_last_contiguous(cos.expand(b, s, half))
    sin = common.rows_last_contiguous(sin.expand(b, s, half))
    if cos.stride()[:2] != sin.stride()[:2]:
        cos, sin = cos.contiguous(), sin.contiguous()
    return cos, sin, cos.stride(0), cos.stride(1)


class QKNormRope(torch.autograd.Function):
    """Triton forward and Triton backward (dweight reduced by torch over per-program partials)."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor | None, cos: Tensor, sin: Tensor, eps: float) -> Tensor:
        if x.dim() != 4 or x.shape[-1] % 2:
            raise ValueError(f"x must be [B, S, H, Dh] with even Dh, got {tuple(x.shape)}")
        b, s, h, dh = x.shape
        x = common.rows_last_contiguous(x)
        cos, sin, scb, scs = _rope_tables(cos, sin, b, s, dh // 2)
        out = torch.empty((b, s, h, dh), dtype=x.dtype, device=x.device)
        bh, bj = common.block(h), common.block(dh // 2)
        record_launch("qk_norm_rope_fwd")
        _qk_norm_rope_fwd[(b * s,)](
            x, x if weight is None else weight, cos, sin, out,
            s, h, dh // 2, x.stride(0), x.stride(1), x.stride(2), scb, scs, eps,
            APPLY_NORM=weight is not None, BLOCK_H=bh, BLOCK_HALF=bj, num_warps=common.num_warps(bh * bj * 2),
        )
        ctx.save_for_backward(x, weight, cos, sin)
        ctx.eps = eps
        return out

    @staticmethod
    @once_differentiable  # the backward kernels are not themselves differentiable
    def backward(ctx, grad: Tensor):
        x, weight, cos, sin = ctx.saved_tensors
        b, s, h, dh = x.shape
        grad = grad.contiguous()
        dx = torch.empty((b, s, h, dh), dtype=x.dtype, device=x.device)
        per, progs = common.split_rows(b * s)
        apply_norm = weight is not None
        dw = torch.empty((progs, dh), dtype=torch.float32, device=x.device) if apply_norm else dx
        bh, bj = common.block(h), common.block(dh // 2)
        record_launch("qk_norm_rope_bwd")
        _qk_norm_rope_bwd[(progs,)](
            grad, x, weight if apply_norm else x, cos, sin, dx, dw,
            b * s, s, h, dh // 2, x.stride(0), x.stride(1), x.stride(2), cos.stride(0), cos.stride(1),
            ctx.eps, per,
            APPLY_NORM=apply_norm, BLOCK_H=bh, BLOCK_HALF=bj, num_warps=common.num_warps(bh * bj * 2),
        )
        dweight = dw.sum(0).to(weight.dtype) if apply_norm and ctx.needs_input_grad[1] else None
        return dx, dweight, None, None, None


def qk_norm_rope(x: Tensor, weight: Tensor | None, cos: Tensor, sin: Tensor, eps: float) -> Tensor:
    return QKNormRope.apply(x, weight, cos, sin, eps)
