"""Run a per-video step over many videos: in-process (`LocalRunner`) or on Ray Data (`RayRunner`).

Both take the same function (dict -> list of dicts) and the same items, and both pass every
item and row through JSON on the way in and out, so the driver sees identical rows whichever
ran them. JSON text is also what crosses Ray Data's Arrow blocks: optional and nested fields
(captions per language, failure rows beside clip rows) never meet Arrow's schema unification.

The local Ray cluster is kept on this machine, as the project's environment notes require: every
port on 127.0.0.1 (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 plus node ip 127.0.0.1), usage statistics
off, no dashboard, a small object store, its temporary files under /tmp (removed afterwards).
Pass `address` to use an existing cluster instead (then nothing here is changed or shut down).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

Step = Callable[[dict[str, Any]], list[dict[str, Any]]]


def _json_rows(fn: Step, row: dict[str, str]) -> list[dict[str, str]]:
    return [{"payload": json.dumps(r)} for r in fn(json.loads(row["payload"]))]


class LocalRunner:
    """The same steps in this process, one video after another (fast tests, small inputs)."""

    name = "local"

    def __init__(self, progress: bool = True):
        self.progress = progress

    def __enter__(self) -> LocalRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def flat_map(self, fn: Step, items: list[dict[str, Any]], desc: str) -> list[dict[str, Any]]:
        from tqdm import tqdm

        rows: list[dict[str, Any]] = []
        for item in tqdm(items, desc=desc, unit="video", disable=not self.progress, file=sys.stderr):
            rows.extend(json.loads(r["payload"]) for r in _json_rows(fn, {"payload": json.dumps(item)}))
        return rows


class RayRunner:
    """Ray Data: one block (one task) per video, so videos spread over every CPU of the cluster."""

    name = "ray"

    def __init__(self, progress: bool = True, address: str | None = None, num_cpus: int = 2,
                 object_store_bytes: int = 500_000_000):
        self.progress, self.address = progress, address
        self.num_cpus, self.object_store_bytes = num_cpus, object_store_bytes
        self.started = False
        self.temp_dir: Path | None = None

    def __enter__(self) -> RayRunner:
        if self.address is None:  # our own cluster: it must stay on loopback and stay quiet
            os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
            os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
        import ray

        if ray.is_initialized():
            return self  # a caller's Ray session: use it as it is
        if self.address is not None:
            ray.init(address=self.address, logging_level="WARNING")
        else:
            # short path: Ray's unix sockets live under it and must stay below 107 bytes
            self.temp_dir = Path(tempfile.mkdtemp(prefix="sd-ray-", dir="/tmp"))
            ray.init(address="local", num_cpus=self.num_cpus, include_dashboard=False,
                     object_store_memory=self.object_store_bytes, _temp_dir=str(self.temp_dir),
                     _node_ip_address="127.0.0.1", logging_level="WARNING")
        self.started = True
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        import ray

        if self.started:
            ray.shutdown()
        if self.temp_dir is not None:
            shutil.rmtree(self.temp_dir, ignore_errors=True)

    def flat_map(self, fn: Step, items: list[dict[str, Any]], desc: str) -> list[dict[str, Any]]:
        import ray.data

        if not items:
            return []
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = self.progress
        payloads = [{"payload": json.dumps(i)} for i in items]
        ds = ray.data.from_items(payloads, override_num_blocks=len(payloads))
        rows = ds.flat_map(functools.partial(_json_rows, fn)).take_all()
        return [json.loads(r["payload"]) for r in rows]


def make_runner(use_ray: bool, progress: bool = True, address: str | None = None) -> LocalRunner | RayRunner:
    return RayRunner(progress, address) if use_ray else LocalRunner(progress)
