"""Shared fixtures. Every test runs on the CPU with the tiny preset."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Triton kernels run in Triton's interpreter on the CPU in tests; triton reads this at import, so
# it is set before any test module can import it. (A GPU run sets TRITON_INTERPRET=0 to compile.)
os.environ.setdefault("TRITON_INTERPRET", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from seedance.model.bundle import ModelBundle, build_bundle
from seedance.model.presets import tiny


@pytest.fixture(scope="session")
def tiny_bundle() -> ModelBundle:
    """The tiny preset with random weights (seed 0). DiT weights are re-drawn away from the
    adaLN-Zero init so the denoiser's output depends on every input (zero-init would hide wiring bugs)."""
    bundle = build_bundle(tiny(), seed=0)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for dit in (bundle.dit, bundle.refiner):
            for p in dit.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    return bundle.eval()


def randomize_(module: torch.nn.Module, seed: int = 0, std: float = 0.05) -> torch.nn.Module:
    """Fill every parameter with small random values (breaks zero inits in unit tests)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * std)
    return module


def run_torchrun(module: str | list[str], config: Path, out: Path, timeout: float = 240) -> subprocess.CompletedProcess:
    """`torchrun --nproc_per_node 2 -m MODULE [ARGS] --config CONFIG --out OUT` on loopback (gloo, CPU);
    `module` is a module name or [module, its leading arguments] (e.g. a subcommand)."""
    module = [module] if isinstance(module, str) else module
    with socket.socket() as s:  # a free loopback port for the rendezvous
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
            "--master_port", str(port), "-m", *module, "--config", str(config), "--out", str(out)]
    # Its own session, so a timeout kills torchrun AND its workers (they would outlive it otherwise).
    with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                          start_new_session=True) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            stdout, stderr = proc.communicate()
            raise AssertionError(f"torchrun {' '.join(module)} timed out after {timeout} s:\n{stderr[-3000:]}") from None
    return subprocess.CompletedProcess(args, proc.returncode, stdout, stderr)
