"""The whole platform on one machine, on loopback: Redis, SeaweedFS, Ray + Serve (the stage
applications and the gateway), and the public VideoGeneration endpoint.

`seedance serve` runs a LocalPlatform until Ctrl-C; the tests run one per session.

The public endpoint is an ApiServer (services/api_server.py) over the same Redis store the
gateway replicas run tasks from: it binds 127.0.0.1 (TLS optional) and answers health checks
and reflection. The Serve gRPC proxy, which also exposes VideoGeneration and every stage
service, is started only on request (`grpc_proxy_port`): Ray 2.60 binds it to all interfaces
("[::]", not configurable), so the local default keeps it off.
"""

from __future__ import annotations

import copy
import logging
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from seedance.services.local import LocalRedis, LocalSeaweedFS, free_port

log = logging.getLogger(__name__)
TEMPLATE = Path(__file__).with_name("serve_config.yaml")


@dataclass
class PlatformSettings:
    workdir: Path = Path(".cache/serve")
    host: str = "127.0.0.1"
    port: int = 50051  # the public endpoint; 0 = any free port
    model_dir: str | None = None
    api_keys_file: Path | None = None  # None: a key is generated into WORKDIR/api_key
    tls: tuple[bytes, bytes] | None = None
    grpc_proxy_port: int | None = None  # the Serve gRPC proxy (all interfaces!): off unless set
    num_cpus: float = 2
    workers: int = 1  # runner threads per gateway replica (tasks run concurrently)
    max_queued_per_key: int = 120
    queue_ttl_s: float = 3600.0
    lease_s: float = 10.0
    stage_stall_s: float = 120.0  # a streamed stage call silent this long is retried elsewhere
    metrics_port: int | None = None  # Prometheus /metrics of the gateway replica (127.0.0.1); None = off
    overrides: dict[str, Any] = field(default_factory=dict)  # app name -> deployment options


def serve_config(settings: PlatformSettings, redis_url: str, api_keys_file: str | None) -> dict[str, Any]:
    """The Serve config (KubeRay serveConfigV2 shape) for these settings, from the template."""
    cfg = yaml.safe_load(TEMPLATE.read_text())
    for app in cfg["applications"]:
        args = app.setdefault("args", {})
        if settings.model_dir:
            args["model_dir"] = str(settings.model_dir)
        if app["name"] == "gateway":
            args.update(redis_url=redis_url, api_keys_file=api_keys_file, workers=settings.workers,
                        max_queued_per_key=settings.max_queued_per_key, queue_ttl_s=settings.queue_ttl_s,
                        lease_s=settings.lease_s, stage_stall_s=settings.stage_stall_s,
                        metrics_port=settings.metrics_port)
        for dep in app["deployments"]:
            dep.update(settings.overrides.get(app["name"], {}))
    if settings.grpc_proxy_port is not None:
        cfg["grpc_options"]["port"] = settings.grpc_proxy_port
    return cfg


def deploy(cfg: dict[str, Any]) -> None:
    """Run every application of a Serve config in this Ray cluster (stages first)."""
    from ray import serve
    from ray._common.utils import import_attr
    from ray.serve.api import RunTarget

    targets = []
    for app in cfg["applications"]:
        built = import_attr(app["import_path"].replace(":", "."))(copy.deepcopy(app.get("args", {})))
        for dep in app["deployments"]:
            opts = {k: v for k, v in dep.items() if k != "name"}
            built = _with_options(built, dep["name"], opts)
        targets.append(RunTarget(built, name=app["name"], route_prefix=app.get("route_prefix")))
    # All at once: replicas start in parallel (the gateway's handles resolve when the stages are up).
    serve.run_many(targets, wait_for_ingress_deployment_creation=False, wait_for_applications_running=False)
    _wait_running([a["name"] for a in cfg["applications"]])


def _with_options(app: Any, name: str, opts: dict[str, Any]) -> Any:
    """Apply a config's per-deployment options (replicas, autoscaling, ray_actor_options)."""
    if not opts:
        return app
    from ray.serve.deployment import Application

    node = app._bound_deployment  # the builder's bound deployment (init args already set)
    if node.name != name:
        raise ValueError(f"serve config: application's deployment is {node.name!r}, not {name!r}")
    return Application(node.options(**opts))


def _wait_running(names: list[str], timeout_s: float = 300.0) -> None:
    from ray import serve

    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        status = serve.status().applications
        states = {n: str(status[n].status) if n in status else "MISSING" for n in names}
        if all(s.endswith("RUNNING") for s in states.values()):
            return
        failed = {n: status[n].message for n in names if n in status and str(status[n].status).endswith("FAILED")}
        if failed:
            raise RuntimeError(f"serve applications failed to deploy: {failed}")
        time.sleep(0.5)
    raise TimeoutError(f"serve applications not running after {timeout_s:.0f} s: {states}")


class LocalPlatform:
    def __init__(self, settings: PlatformSettings):
        self.s = settings
        self.dir = Path(settings.workdir).resolve()
        self.redis = LocalRedis(self.dir / "redis")
        self.s3 = LocalSeaweedFS(self.dir / "s3")
        self.api = None
        self.store = None
        self.api_key_path: Path | None = None

    def _api_keys(self) -> Path:
        if self.s.api_keys_file is not None:
            return Path(self.s.api_keys_file).resolve()
        path = self.dir / "api_key"
        if not path.exists():
            path.touch(mode=0o600)
            path.write_text(secrets.token_urlsafe(32) + "\n")
        return path

    def start(self) -> LocalPlatform:
        # Every Ray port on loopback (ENVIRONMENT.md), no usage reporting, and patient readiness
        # checks: on a busy 2-core machine a proxy or replica can take longer than Ray's 5 s to start.
        # Set before Ray starts: its processes inherit this environment.
        for key, value in (("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0"), ("RAY_USAGE_STATS_ENABLED", "0"),
                           ("RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S", "60"),
                           ("RAY_SERVE_PROXY_HEALTH_CHECK_TIMEOUT_S", "60")):
            os.environ.setdefault(key, value)
        import ray
        from ray import serve

        from seedance.services.api_server import ApiServer
        from seedance.services.redis_store import RedisTaskStore
        from seedance.services.validation import load_model_config

        self.dir.mkdir(parents=True, exist_ok=True)
        self.api_key_path = self._api_keys()
        keys = {k.strip() for k in self.api_key_path.read_text().splitlines() if k.strip()}
        self.redis.start()
        self.s3.start()
        s3 = self.s3.settings
        env = {"SEEDANCE_S3_ENDPOINT": s3.endpoint, "SEEDANCE_S3_ACCESS_KEY": s3.access_key,
               "SEEDANCE_S3_SECRET_KEY": s3.secret_key, "SEEDANCE_S3_BUCKET": s3.bucket,
               "SEEDANCE_TRACE_EXPORTER": os.environ.get("SEEDANCE_TRACE_EXPORTER", "none"),
               "RAY_USAGE_STATS_ENABLED": "0", "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
        ray.init(address="local", _node_ip_address="127.0.0.1", num_cpus=self.s.num_cpus, include_dashboard=False,
                 object_store_memory=300 * 1024 * 1024, _temp_dir=str(self._ray_tmp()),
                 runtime_env={"env_vars": env}, log_to_driver=False, configure_logging=False)
        grpc_options = None
        cfg = serve_config(self.s, self.redis.url, str(self.api_key_path))
        if self.s.grpc_proxy_port is not None:
            grpc_options = {"port": self.s.grpc_proxy_port,
                            "grpc_servicer_functions": cfg["grpc_options"]["grpc_servicer_functions"]}
        serve.start(http_options={"host": "127.0.0.1", "port": free_port()}, grpc_options=grpc_options)
        (self.dir / "serve_config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
        deploy(cfg)
        self.store = RedisTaskStore(url=self.redis.url, max_queued_per_owner=self.s.max_queued_per_key,
                                    queue_ttl_s=self.s.queue_ttl_s, lease_s=self.s.lease_s)
        self.api = ApiServer(self.store, load_model_config(self.s.model_dir), host=self.s.host, port=self.s.port,
                             api_keys=keys, tls=self.s.tls).start()
        return self

    def _ray_tmp(self) -> Path:
        # Ray's socket paths must stay under 107 bytes: a short folder under /tmp.
        path = Path("/tmp") / f"sd-ray-{os.getpid()}"
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def endpoint(self) -> str:
        return self.api.endpoint if self.api else ""

    def stop(self) -> None:
        import ray
        from ray import serve

        if self.api is not None:
            self.api.stop()
            self.api = None
        if ray.is_initialized():
            try:
                serve.shutdown()
            finally:
                ray.shutdown()
        self.s3.stop()
        self.redis.stop()

    def __enter__(self) -> LocalPlatform:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()
