"""Shared benchmark helpers: timing (median after warmup), peak memory, machine facts, JSON output.

Peak memory on CPU is the peak resident set size (RSS) growth over one call, sampled from
/proc/self/statm every millisecond by a thread, in a separate untimed run. glibc would keep freed
large buffers in its heap (so a later call's growth reads as zero): during that run
`memory_mode()` sets the mmap threshold to 128 KiB so large tensors are mmapped and returned on
free. Timed runs use `setup_malloc()` (heap reuse up to 32 MiB). On CUDA the figure is
torch.cuda.max_memory_allocated growth instead. The machine's 1-minute load average is recorded
with each result: on a shared machine, compare ratios from one run, not absolute times.
"""

from __future__ import annotations

import ctypes
import datetime as _dt
import json
import os
import platform
import shlex
import statistics
import sys
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[1]
NO_GPU = "not measured: no GPU this session"


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3


def _mallopt(mmap_threshold: int, trim_threshold: int) -> bool:
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, mmap_threshold)) and bool(libc.mallopt(M_TRIM_THRESHOLD,
                                                                                          trim_threshold))
    except (OSError, AttributeError):  # not glibc
        return False


def setup_malloc() -> bool:
    """Timing mode: buffers under 32 MiB are reused from the heap (what glibc's dynamic threshold
    converges to anyway), so timed runs do not pay fresh page faults for every tensor."""
    return _mallopt(32 * 2**20, 64 * 2**20)


def malloc_trim() -> None:
    """Give free heap pages back to the OS (glibc keeps them resident, and reuses free heap chunks
    even for requests above the mmap threshold): after this, touching them grows RSS again."""
    with suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


@contextmanager
def memory_mode():
    """Measuring mode: free heap pages are released and every new buffer over 128 KiB is mmapped
    and unmapped on free, so RSS tracks the live tensors and a call's RSS growth is its peak
    working set."""
    _mallopt(128 * 1024, 128 * 1024)
    malloc_trim()
    try:
        yield
    finally:
        setup_malloc()


def rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # not Linux: ru_maxrss is a high-water mark, the best we have
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class PeakRSS:
    """Context manager: peak RSS growth (bytes) over the block, sampled every `interval` s."""

    def __init__(self, interval: float = 0.001) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            time.sleep(self.interval)

    def __enter__(self) -> PeakRSS:
        self.base = rss_bytes()
        self.peak = self.base
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())

    @property
    def growth(self) -> int:
        return max(0, self.peak - self.base)


@dataclass
class Measurement:
    times_s: list[float]
    peak_mem_mb: float
    mem_kind: str
    output: Any = None  # what the last call returned (for error checks without an extra run)

    @property
    def median_s(self) -> float:
        return statistics.median(self.times_s)

    def row(self) -> dict[str, Any]:
        return {"median_s": round(self.median_s, 5), "min_s": round(min(self.times_s), 5),
                "reps": len(self.times_s), "peak_mem_mb": round(self.peak_mem_mb, 1), "mem": self.mem_kind}


def measure(fn: Callable[[], Any], reps: int, warmup: int, device: torch.device | None = None) -> Measurement:
    """Median wall time of `fn` over `reps` runs after `warmup` runs, and its peak memory growth.

    Memory is measured in its own untimed run (after warmup), so neither the sampling thread nor
    the measuring allocator mode perturbs the timed runs; a single-run call (smoke: reps 1, no
    warmup) measures both in that one run."""
    cuda = device is not None and device.type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    out = None
    for _ in range(warmup):
        out = fn()
    sync()

    def memory_run() -> tuple[float, float]:
        nonlocal out
        if cuda:
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            start = time.perf_counter()
            out = fn()
            sync()
            return time.perf_counter() - start, (torch.cuda.max_memory_allocated() - base) / 2**20
        with memory_mode(), PeakRSS() as mem:
            start = time.perf_counter()
            out = fn()
            elapsed = time.perf_counter() - start
        return elapsed, mem.growth / 2**20

    single = reps <= 1 and warmup == 0
    first_time, peak_mb = memory_run()
    times = [first_time] if single else []
    for _ in range(reps - len(times)):
        start = time.perf_counter()
        out = fn()
        sync()
        times.append(time.perf_counter() - start)
    return Measurement(times, peak_mb, "cuda_max_allocated_growth" if cuda else "peak_rss_growth", out)


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def diffusers_version() -> str | None:
    try:
        import diffusers
    except ImportError:
        return None
    return diffusers.__version__


def machine() -> dict[str, Any]:
    import transformers

    cpu_model = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu_model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": cpu_model,
        "cpu_count": os.cpu_count(),
        "affinity_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "diffusers": diffusers_version(),
        "gpu": gpu,
        "load_average_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }


def command_line() -> str:
    """This run's command line as a user would type it from the repo root."""
    script = Path(sys.argv[0]).resolve()
    try:
        script_s = str(script.relative_to(REPO))
    except ValueError:
        script_s = sys.argv[0]
    return shlex.join(["python", script_s, *sys.argv[1:]])


@dataclass
class Context:
    """What every benchmark function gets: the mode, repetitions, device and where to write."""

    smoke: bool
    reps: int
    warmup: int
    out: Path
    device: torch.device
    use_diffusers: bool
    command: str = field(default_factory=lambda: command_line())

    def measure(self, fn: Callable[[], Any]) -> Measurement:
        return measure(fn, self.reps, self.warmup, self.device)


def write_result(ctx: Context, name: str, title: str, rows: list[dict[str, Any]], *,
                 notes: list[str] | None = None, goals: list[dict[str, Any]] | None = None,
                 extra: dict[str, Any] | None = None, elapsed_s: float | None = None) -> Path:
    payload = {
        "name": name,
        "title": title,
        "command": ctx.command,
        "smoke": ctx.smoke,
        "reps": ctx.reps,
        "warmup": ctx.warmup,
        "device": str(ctx.device),
        "diffusers_used": ctx.use_diffusers,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "rows": rows,
        "goals": goals or [],
        "notes": notes or [],
        **(extra or {}),
    }
    if elapsed_s is not None:
        payload["elapsed_s"] = round(elapsed_s, 2)
    ctx.out.mkdir(parents=True, exist_ok=True)
    path = ctx.out / result_file_name(name, ctx.device)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n")
    tmp.replace(path)
    return path


def result_file_name(name: str, device: torch.device) -> str:
    """NAME.json for CPU runs, NAME.cuda.json for GPU runs: both live side by side in results/."""
    return f"{name}.json" if device.type == "cpu" else f"{name}.{device.type}.json"


@contextmanager
def no_grad_eval(*modules: torch.nn.Module):
    for m in modules:
        m.eval()
    with torch.no_grad():
        yield
