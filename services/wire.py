"""Tensors on the wire: seedance.v1.Tensor <-> numpy arrays and torch tensors.

A Tensor is dtype + shape + row-major little-endian bytes, or an ObjectRef to an object holding
those bytes when it is too large to send inline. This is the only module of seedance.services
that touches torch, and only inside the torch functions, so a gateway that merely forwards
tensors never loads it. numpy has no bfloat16: such tensors are read as their raw uint16 bits
(`to_numpy`) or widened exactly to float32 (`to_numpy(..., widen_bfloat16=True)`).
"""

from __future__ import annotations

import hashlib
import math
from typing import TYPE_CHECKING, Protocol

import numpy as np

from seedance.errors import InvalidRequestError
from seedance.protos.seedance.v1 import common_pb2 as pb

if TYPE_CHECKING:
    import torch

    from seedance.model.dit import TextTokens
    from seedance.protos.seedance.v1 import stages_pb2

# Inline payloads above this go to the object store (gRPC messages are capped by the channel's
# max message size; 64 MiB leaves room under the services' 256 MiB limit for several tensors).
MAX_INLINE_BYTES = 64 * 1024 * 1024
# Nothing larger is accepted at all, inline or by reference: a malformed shape must not make a
# stage allocate terabytes.
MAX_TENSOR_BYTES = 16 * 1024**3

# wire dtype -> numpy dtype of the bytes (bfloat16's bits as uint16), torch dtype name.
_DTYPES: dict[int, tuple[np.dtype, str]] = {
    pb.DTYPE_FLOAT32: (np.dtype("<f4"), "float32"),
    pb.DTYPE_FLOAT16: (np.dtype("<f2"), "float16"),
    pb.DTYPE_BFLOAT16: (np.dtype("<u2"), "bfloat16"),
    pb.DTYPE_INT64: (np.dtype("<i8"), "int64"),
    pb.DTYPE_INT32: (np.dtype("<i4"), "int32"),
    pb.DTYPE_BOOL: (np.dtype("?"), "bool"),
    pb.DTYPE_UINT8: (np.dtype("u1"), "uint8"),
}
_FROM_NUMPY = {np.dtype(np.float32): pb.DTYPE_FLOAT32, np.dtype(np.float16): pb.DTYPE_FLOAT16,
               np.dtype(np.int64): pb.DTYPE_INT64, np.dtype(np.int32): pb.DTYPE_INT32,
               np.dtype(np.bool_): pb.DTYPE_BOOL, np.dtype(np.uint8): pb.DTYPE_UINT8}
_FROM_TORCH = {name: code for code, (_, name) in _DTYPES.items()}


class TensorTooLargeError(InvalidRequestError):
    """A tensor is over the inline limit and no object store was given to hold it."""


class BlobStore(Protocol):
    """Where large tensors go: the S3 storage layer implements this (put returns a verified ref)."""

    def put(self, data: bytes) -> pb.ObjectRef: ...

    def get(self, ref: pb.ObjectRef) -> bytes: ...


def _check_shape(shape: list[int] | tuple[int, ...], itemsize: int, name: str) -> int:
    if any(d < 0 for d in shape):
        raise InvalidRequestError(name, f"shape must not have negative dimensions, got {list(shape)}")
    nbytes = math.prod(shape) * itemsize
    if nbytes > MAX_TENSOR_BYTES:
        raise InvalidRequestError(name, f"tensor of {nbytes} bytes is over the {MAX_TENSOR_BYTES}-byte limit")
    return nbytes


def _payload(t: pb.Tensor, nbytes: int, name: str, store: BlobStore | None) -> bytes:
    kind = t.WhichOneof("payload")
    if kind == "data":
        data = t.data
    elif kind == "ref":
        if store is None:
            raise InvalidRequestError(name, "is an object-store reference but this endpoint has no object store")
        if t.ref.size != nbytes:
            raise InvalidRequestError(name, f"reference size {t.ref.size} does not match shape ({nbytes} bytes)")
        data = store.get(t.ref)
        if hashlib.sha256(data).hexdigest() != t.ref.sha256.lower():
            raise InvalidRequestError(name, f"object {t.ref.bucket}/{t.ref.key} does not match its sha256")
    else:
        raise InvalidRequestError(name, "has no data and no object reference")
    if len(data) != nbytes:
        raise InvalidRequestError(name, f"has {len(data)} bytes but shape {list(t.shape)} needs {nbytes}")
    if t.dtype == pb.DTYPE_BOOL and data and np.frombuffer(data, np.uint8).max() > 1:  # numpy would keep the odd byte as a "bool"
        raise InvalidRequestError(name, "bool elements must be bytes 0 or 1")
    return data


def to_numpy(t: pb.Tensor, name: str = "tensor", store: BlobStore | None = None,
             widen_bfloat16: bool = False) -> np.ndarray:
    """A writable numpy array of the tensor (bfloat16 as uint16 bits unless `widen_bfloat16`)."""
    if t.dtype not in _DTYPES:
        raise InvalidRequestError(name, f"unsupported dtype {pb.DType.Name(t.dtype) if t.dtype in pb.DType.values() else t.dtype}")
    np_dtype, _ = _DTYPES[t.dtype]
    shape = tuple(t.shape)
    data = _payload(t, _check_shape(shape, np_dtype.itemsize, name), name, store)
    # copy: frombuffer views the immutable message bytes; astype also fixes the byte order.
    array = np.frombuffer(data, dtype=np_dtype).astype(np_dtype.newbyteorder("="), copy=True).reshape(shape)
    if t.dtype == pb.DTYPE_BFLOAT16 and widen_bfloat16:
        return (array.astype(np.uint32) << 16).view(np.float32)  # exact: bf16 is float32's top half
    return array


def _pack(raw: np.ndarray, dtype: int, shape: tuple[int, ...], name: str, store: BlobStore | None,
          inline_limit: int) -> pb.Tensor:
    wire_dtype = _DTYPES[dtype][0]
    _check_shape(shape, wire_dtype.itemsize, name)
    data = np.ascontiguousarray(raw, dtype=wire_dtype).tobytes()
    if len(data) <= inline_limit:
        return pb.Tensor(dtype=dtype, shape=shape, data=data)
    if store is None:
        raise TensorTooLargeError(name, f"{len(data)} bytes is over the {inline_limit}-byte inline limit "
                                        "and no object store was given")
    return pb.Tensor(dtype=dtype, shape=shape, ref=store.put(data))


def from_numpy(array: np.ndarray, name: str = "tensor", store: BlobStore | None = None,
               inline_limit: int = MAX_INLINE_BYTES, bfloat16_bits: bool = False) -> pb.Tensor:
    """A wire Tensor of `array`. `bfloat16_bits`: the uint16 array holds bfloat16 bit patterns."""
    if bfloat16_bits:
        if array.dtype != np.uint16:
            raise InvalidRequestError(name, f"bfloat16 bits must be uint16, got {array.dtype}")
        return _pack(array, pb.DTYPE_BFLOAT16, array.shape, name, store, inline_limit)
    dtype = _FROM_NUMPY.get(array.dtype.newbyteorder("="))
    if dtype is None:
        raise InvalidRequestError(name, f"unsupported dtype {array.dtype}")
    return _pack(array, dtype, array.shape, name, store, inline_limit)


def to_torch(t: pb.Tensor, name: str = "tensor", store: BlobStore | None = None,
             device: str | torch.device = "cpu") -> torch.Tensor:
    """A torch tensor of the wire Tensor, in its own dtype (bfloat16 included)."""
    import torch

    array = to_numpy(t, name, store)
    out = torch.from_numpy(array)
    if t.dtype == pb.DTYPE_BFLOAT16:
        out = out.view(torch.int16).view(torch.bfloat16)  # reinterpret the bits, no rounding
    return out.to(device)


def from_torch(x: torch.Tensor, name: str = "tensor", store: BlobStore | None = None,
               inline_limit: int = MAX_INLINE_BYTES) -> pb.Tensor:
    """A wire Tensor of `x` (moved to the CPU; bfloat16 sent as its raw bits)."""
    import torch

    dtype_name = str(x.dtype).removeprefix("torch.")
    if dtype_name not in _FROM_TORCH:
        raise InvalidRequestError(name, f"unsupported dtype {x.dtype}")
    x = x.detach().to("cpu").contiguous()
    # numpy has no bfloat16: reinterpret its bits as 16-bit integers (no rounding).
    raw = x.view(torch.int16).numpy().view(np.uint16) if x.dtype == torch.bfloat16 else x.numpy()
    return _pack(raw, _FROM_TORCH[dtype_name], tuple(x.shape), name, store, inline_limit)


def text_tokens_to_pb(tokens: TextTokens, store: BlobStore | None = None,
                      inline_limit: int = MAX_INLINE_BYTES) -> stages_pb2.TextTokens:
    """The DiT's packed caption tokens as a wire TextTokens (TextEncoder.Encode's answer)."""
    from seedance.protos.seedance.v1 import stages_pb2

    return stages_pb2.TextTokens(**{name: from_torch(getattr(tokens, name), f"text.{name}", store, inline_limit)
                                    for name in ("hidden", "mask", "shot", "index")})


def text_tokens_from_pb(msg: stages_pb2.TextTokens, name: str = "text", store: BlobStore | None = None,
                        device: str | torch.device = "cpu") -> TextTokens:
    """A wire TextTokens as the DiT's TextTokens, with its four tensors' shapes checked against each other."""
    from seedance.model.dit import TextTokens

    parts = {f: to_torch(getattr(msg, f), f"{name}.{f}", store, device) for f in ("hidden", "mask", "shot", "index")}
    if parts["hidden"].dim() != 3 or any(parts[f].shape != parts["hidden"].shape[:2] for f in ("mask", "shot", "index")):
        raise InvalidRequestError(name, "hidden must be [B, L, D] and mask, shot, index [B, L]; got "
                                        + ", ".join(f"{f} {list(t.shape)}" for f, t in parts.items()))
    return TextTokens(**parts)
