"""Long-lived threads for all of a server process's model work (one by default).

Why: PyTorch's Linux wheels use GNU OpenMP. Every thread that runs a parallel region owns a team
of OpenMP threads, kept until that thread exits, and libgomp lets team threads spin between
regions only while the process's OpenMP threads do not outnumber the cores; past that they
sleep after ~100 spins and every region pays a futex wake-up. A server that loads its model on
one thread (which then holds a team) and serves it from another crosses that line on a small
machine: on 2 cores the tiny pipeline ran ~35% slower off the loading thread (docs/SERVING.md).
Loading and running everything on one thread keeps one team, at the speed of a plain script.

`configure(workers, torch_threads)` sets the pool once per process, before the first call: one
worker with several intra-op threads gives one task the whole machine (latency); several workers
with one intra-op thread each run concurrent tasks side by side (throughput on a small CPU).
Calls queue in order (FIFO) and never run on the server's own request threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None
_settings: tuple[int, int | None] = (1, None)
_thread_ids: set[int] = set()


def check_settings(workers: object, torch_threads: object) -> None:
    """ValueError naming the setting (as the serve config spells it) unless `workers` is an int
    >= 1 and `torch_threads` is None or an int >= 1."""
    for name, value, optional in (("model_threads", workers, False), ("torch_threads", torch_threads, True)):
        if value is None and optional:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name}: must be an integer of at least 1, got {value!r}")


def configure(workers: int = 1, torch_threads: int | None = None) -> None:
    """Size the pool: `workers` model threads, each with `torch_threads` intra-op threads (None:
    torch's default). Only before the first call; the same settings again are a no-op."""
    global _settings
    check_settings(workers, torch_threads)
    with _lock:
        if _executor is not None and _settings != (workers, torch_threads):
            raise RuntimeError(f"model threads already started with {_settings}; cannot change to "
                               f"{(workers, torch_threads)}")
        _settings = (workers, torch_threads)


def _start_worker() -> None:
    _thread_ids.add(threading.get_ident())
    torch_threads = _settings[1]
    if torch_threads is not None:
        import torch

        torch.set_num_threads(torch_threads)  # OpenMP's setting is per thread: set it on this one


def _pool() -> ThreadPoolExecutor:
    global _executor
    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=_settings[0], thread_name_prefix="model",
                                           initializer=_start_worker)
        return _executor


def on_model_thread() -> bool:
    return threading.get_ident() in _thread_ids


def submit(fn: Callable[..., T], *args: Any, **kwargs: Any) -> Future[T]:
    """Queue fn(*args, **kwargs) on a model thread."""
    return _pool().submit(fn, *args, **kwargs)


def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """fn(*args, **kwargs) on a model thread (inline when already on one); returns or raises its result."""
    if on_model_thread():
        return fn(*args, **kwargs)
    return submit(fn, *args, **kwargs).result()
