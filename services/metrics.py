"""Prometheus metrics for the task platform: queue depth, running tasks, finished tasks by status,
and per-stage and whole-task latency.

One `PlatformMetrics` per process that runs TaskRunners (the Gateway replica, or `seedance
serve`'s in-process platform). The queue and running gauges are read from Redis at scrape time,
so every replica reports the same platform-wide values; counters and histograms count what this
process's runners did (sum them across replicas in PromQL). Served on 127.0.0.1 by default.
"""

from __future__ import annotations

import logging
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

log = logging.getLogger(__name__)

# Seconds: a tiny-preset task takes ~1-10 s on a CPU; production-size ones minutes.
TASK_BUCKETS = (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800)
STAGE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300)


class QueueStats(Protocol):
    def queue_depth(self) -> int: ...
    def running_count(self) -> int: ...


class PlatformMetrics:
    """The platform's metrics in their own registry (no process-global state, so tests and
    several platforms in one process do not collide)."""

    def __init__(self, store: QueueStats, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.queue = Gauge("seedance_queue_depth", "Tasks waiting for a worker", registry=self.registry)
        self.queue.set_function(store.queue_depth)
        self.running = Gauge("seedance_tasks_running", "Tasks taken by a worker and not finished",
                             registry=self.registry)
        self.running.set_function(store.running_count)
        self.finished = Counter("seedance_tasks_finished", "Tasks finished by this process, by final status",
                                ["status"], registry=self.registry)
        self.task_seconds = Histogram("seedance_task_duration_seconds", "Wall time of one task attempt",
                                      ["status"], buckets=TASK_BUCKETS, registry=self.registry)
        self.stage_seconds = Histogram("seedance_stage_duration_seconds",
                                       "Wall time of one stage within a task (retries included)",
                                       ["stage"], buckets=STAGE_BUCKETS, registry=self.registry)

    def on_finish(self, status: str, seconds: float, stage_seconds: dict[str, float]) -> None:
        """TaskRunner's on_finish hook: status is the TaskStatus name (TASK_STATUS_SUCCEEDED ...)."""
        label = status.removeprefix("TASK_STATUS_").lower()
        self.finished.labels(label).inc()
        self.task_seconds.labels(label).observe(seconds)
        for stage, s in stage_seconds.items():
            self.stage_seconds.labels(stage).observe(s)

    def serve(self, port: int, host: str = "127.0.0.1"):
        """Expose /metrics over HTTP; returns (server, thread) so the caller can shut it down."""
        return start_http_server(port, addr=host, registry=self.registry)

    def serve_or_log(self, port: int, host: str = "127.0.0.1") -> bool:
        """serve(), but a port already in use is logged, not raised: metrics must not stop tasks."""
        try:
            self.serve(port, host)
        except OSError as e:
            log.error("metrics: cannot listen on %s:%d (%s); /metrics is off for this replica", host, port, e)
            return False
        log.info("metrics: http://%s:%d/metrics", host, port)
        return True
