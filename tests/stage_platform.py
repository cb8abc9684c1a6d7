"""A test platform without Ray: the public ApiServer over the Redis task store, and TaskRunner
threads driving the stage services in this process (LocalStages), publishing to SeaweedFS.

Everything but Ray is real here (Redis, S3, gRPC on loopback), so the SDK contract tests, the
recovery tests and the tracing test run against the production store, runner and storage code
in seconds; tests/test_serving_ray.py runs the same code inside Ray Serve.
"""

from __future__ import annotations

import threading
from pathlib import Path

from seedance.services.api_server import ApiServer
from seedance.services.local import LocalRedis, LocalSeaweedFS, free_port
from seedance.services.metrics import PlatformMetrics
from seedance.services.redis_store import RedisTaskStore
from seedance.services.runner import LocalStages, TaskRunner
from seedance.services.storage import ObjectStorage


class StagePlatform:
    def __init__(self, pipeline, workdir: Path, api_keys: set[str] | None = None, runners: int = 1,
                 lease_s: float = 10.0, **store_kw):
        self.pipeline, self.dir = pipeline, Path(workdir)
        self.redis = LocalRedis(self.dir / "redis")
        self.s3 = LocalSeaweedFS(self.dir / "s3")
        self.api_keys, self.n_runners, self.lease_s, self.store_kw = api_keys, runners, lease_s, store_kw
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self) -> StagePlatform:
        self.redis.start()
        self.s3.start()
        self.store = RedisTaskStore(url=self.redis.url, lease_s=self.lease_s, **self.store_kw)
        self.storage = ObjectStorage(self.s3.settings)
        self.stages = LocalStages(self.pipeline)
        self.metrics = PlatformMetrics(self.store)
        self.metrics_port = free_port()
        self.metrics_server = self.metrics.serve(self.metrics_port)[0]
        self.runners = [TaskRunner(self.store, self.stages, self.storage, self.pipeline.config,
                                   worker_id=f"test-{i}", retry_backoff_s=0.05, on_finish=self.metrics.on_finish)
                        for i in range(self.n_runners)]
        for r in self.runners:
            t = threading.Thread(target=r.serve, args=(self.stop_event, 0.2, 0.5), daemon=True)
            t.start()
            self.threads.append(t)
        self.api = ApiServer(self.store, self.pipeline.config, api_keys=self.api_keys).start()
        self.endpoint = self.api.endpoint
        return self

    def stop(self) -> None:
        self.stop_event.set()
        for t in self.threads:
            t.join(timeout=30)
        if getattr(self, "api", None):
            self.api.stop()
        if getattr(self, "metrics_server", None):
            self.metrics_server.shutdown()
        self.s3.stop()
        self.redis.stop()

    def __enter__(self) -> StagePlatform:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()
