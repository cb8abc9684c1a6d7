"""Backend choice for the fused DiT ops: Triton kernels or the PyTorch reference.

The choice is made per call from the tensors' device and the `SEEDANCE_KERNELS` environment
variable (read on every call so tests and tools can flip it without re-importing):

    auto (default)  Triton when every tensor is on CUDA, triton imports and the dtypes are
                    supported; the reference otherwise.
    reference       always the PyTorch reference (bit-identical to the model's original maths).
    triton          always Triton; an error where it cannot run.
    (Code traced by torch.compile always gets the reference, whatever the mode: see select_backend.) CPU tensors are accepted only
                    in Triton's interpreter (TRITON_INTERPRET=1), which is how the tests run it.

triton is an optional dependency: nothing here imports it until a Triton call is made.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from collections import Counter
from typing import Literal

import torch
from torch import Tensor

Backend = Literal["triton", "reference"]
ENV_VAR = "SEEDANCE_KERNELS"
MODES = ("auto", "reference", "triton")
SUPPORTED_DTYPES = (torch.float32, torch.bfloat16, torch.float16)

# Kernel launches by name, bumped by the Triton wrappers; tests read it to prove the Triton path
# (not a silent fallback) produced their numbers.
launch_counts: Counter[str] = Counter()


class KernelBackendError(RuntimeError):
    """SEEDANCE_KERNELS asks for a backend that cannot run these tensors."""


def record_launch(name: str) -> None:
    launch_counts[name] += 1


def kernel_mode() -> str:
    mode = os.environ.get(ENV_VAR, "auto").strip().lower() or "auto"
    if mode not in MODES:
        raise ValueError(f"{ENV_VAR}={mode!r}: expected one of {', '.join(MODES)}")
    return mode


@functools.cache
def triton_available() -> bool:
    """True when the triton package can be imported (checked once; importing it is slow)."""
    if importlib.util.find_spec("triton") is None:
        return False
    try:
        import triton
        import triton.language  # noqa: F401
    except Exception:  # a broken install counts as absent: the reference still works
        return False
    return True


def interpreter_requested() -> bool:
    """TRITON_INTERPRET as triton itself reads it (it is read when a kernel is decorated)."""
    return os.environ.get("TRITON_INTERPRET", "0").strip().lower() in ("1", "true", "on", "yes")


def _check_triton_can_run(tensors: list[Tensor], op: str) -> None:
    if not triton_available():
        raise KernelBackendError(f"{ENV_VAR}=triton but the triton package is not importable ({op})")
    bad = sorted({str(t.dtype) for t in tensors if t.is_floating_point() and t.dtype not in SUPPORTED_DTYPES})
    if bad:
        raise KernelBackendError(f"{op}: Triton kernels support float32/bfloat16/float16, got {', '.join(bad)}")
    devices = {t.device.type for t in tensors}
    if devices == {"cuda"}:
        return
    if devices != {"cpu"}:
        raise KernelBackendError(f"{op}: Triton needs every tensor on CUDA (or all on CPU in the interpreter), got {devices}")
    if not interpreter_requested():
        raise KernelBackendError(
            f"{ENV_VAR}=triton with CPU tensors ({op}) needs Triton's interpreter: set TRITON_INTERPRET=1 "
            "before the first Triton call, or use SEEDANCE_KERNELS=auto/reference"
        )
    from seedance.kernels.triton_ops import common

    if not common.INTERPRETED:
        raise KernelBackendError(
            f"{op}: triton (or seedance's Triton kernels) was imported before TRITON_INTERPRET=1 was set; "
            "triton reads it when a kernel is defined, so they cannot run on CPU tensors in this process"
        )


def select_backend(op: str, *tensors: Tensor | None, triton_ok: bool = True) -> Backend:
    """Backend for one call of `op` on `tensors` (None entries are ignored).

    triton_ok=False says the op's Triton path cannot serve this call (e.g. a gradient it does not
    compute is needed): auto falls back to the reference, a forced triton raises.

    Inside torch.compile the answer is always the reference: inductor fuses the reference maths
    into its own Triton kernels, while our autograd.Function wrappers would break the graph at
    every op (on an H100, a regionally compiled seedance-1.0 block hit dynamo's recompile limit).
    """
    if torch.compiler.is_compiling():
        return "reference"
    mode = kernel_mode()
    if mode == "reference":
        return "reference"
    present = [t for t in tensors if t is not None]
    if mode == "auto":
        on_cuda = bool(present) and all(t.is_cuda for t in present)
        dtypes_ok = all(t.dtype in SUPPORTED_DTYPES for t in present if t.is_floating_point())
        return "triton" if triton_ok and on_cuda and dtypes_ok and triton_available() else "reference"
    if not triton_ok:
        raise KernelBackendError(f"{ENV_VAR}=triton: the Triton {op} cannot serve this call (see its docstring)")
    _check_triton_can_run(present, op)
    return "triton"
