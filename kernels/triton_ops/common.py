"""Helpers shared by the Triton wrappers: interpreter detection, strides, launch sizes.

Importing this module imports triton; only seedance.kernels.dispatch/ops do so, lazily.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor


@triton.jit
def _probe(x_ptr):
    pass


# triton decides interpreter-or-compiler when a kernel is *defined* (TRITON_INTERPRET read by
# @triton.jit): for its library functions (tl.sum, ...) at `import triton`, for ours when this
# package is imported. The interpreter works only if both happened with TRITON_INTERPRET=1.
INTERPRETED: bool = all(type(f).__name__ == "InterpretedFunction" for f in (_probe, tl.sum))

# Upper bound on programs per batch sample in the backward kernels that reduce over tokens
# (dweight, dshift, dscale, dgate). Each program loops over a chunk of rows and writes one float32
# partial row; torch sums the partials. Bounding the count bounds that scratch memory (B x 256 x D)
# and still gives a GPU enough programs. Tests lower it to exercise the row loops.
MAX_PARTIALS = 256


def block(n: int) -> int:
    """Power-of-two tile covering n (tl.arange needs a power of two); lanes past n are masked."""
    return triton.next_power_of_2(max(int(n), 1))


def num_warps(elements: int) -> int:
    """Warps for a one-row-per-program tile: ~256 elements per warp, between 1 and 16."""
    return int(min(16, max(1, elements // 256)))


def split_rows(rows: int, batch: int = 1) -> tuple[int, int]:
    """(rows per program, programs) so each batch sample uses at most MAX_PARTIALS // batch programs."""
    limit = max(1, MAX_PARTIALS // max(batch, 1))
    per = triton.cdiv(max(rows, 1), limit)
    return per, triton.cdiv(max(rows, 1), per)


def modulation(t: Tensor, batch: int, dim: int, name: str) -> tuple[Tensor, int, int]:
    """A per-sample [B, 1, D] (or broadcastable, e.g. [1, 1, D]) adaLN tensor and its (b, d) strides.

    The DiT's shift/scale/gate are chunks of one Linear output, i.e. strided views; passing the
    strides lets the kernels read them in place instead of copying.
    """
    if t.dim() != 3 or t.shape[1] != 1:
        raise ValueError(f"{name} must be [B, 1, D] (per-sample modulation), got {tuple(t.shape)}")
    t = t.expand(batch, 1, dim)
    return t, t.stride(0), t.stride(2)


def rows_last_contiguous(x: Tensor) -> Tensor:
    """x with a unit stride in the last dim (the kernels index rows by their own strides)."""
    return x if x.stride(-1) == 1 else x.contiguous()


def out_dtype(*tensors: Tensor) -> torch.dtype:
    """torch's type promotion, so mixed-dtype calls return what the reference returns."""
    dtype = tensors[0].dtype
    for t in tensors[1:]:
        dtype = torch.promote_types(dtype, t.dtype)
    return dtype



def reduce_partials(parts: Tensor, like: Tensor, batch: int) -> Tensor:
    """[B * chunks, D] float32 partials -> the gradient of a [B, 1, D]-broadcast input `like`."""
    total = parts.view(batch, -1, parts.shape[-1]).sum(1, keepdim=True)
    return total.sum_to_size(like.shape).to(like.dtype)
