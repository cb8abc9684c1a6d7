"""The Ray Serve platform: one application per stage service, plus the gateway.

    rewriter      Rewriter        (stages.proto Rewriter)
    text_encoder  TextEncoder     (TextEncoder; dynamic batching of concurrent Encode calls)
    denoiser      Denoiser        (Denoiser)
    vae           VAE             (VAE)
    refiner       Refiner         (Refiner)
    gateway       Gateway         (VideoGeneration; runs queued tasks through the stages' handles)

Each is its own deployment with its own replicas, autoscaling and `ray_actor_options`, all set
in one Serve config (`serve_config()`; the same document a KubeRay RayService carries under
`serveConfigV2`, see services/serve_config.yaml). Every application is reachable through the
Serve gRPC proxy by its name in the `application` metadata key.

Settings reach the replicas as builder args (model dir, Redis URL, limits) and, for secrets
(S3 keys), as environment variables of the Ray job; none is written into the config file.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import threading
import uuid
from pathlib import Path
from typing import Any

from ray import serve

from seedance.protos.seedance.v1 import stages_pb2 as st
from seedance.services import model_thread, stages, tracing

log = logging.getLogger(__name__)

# application name -> (deployment name, stage class); the gateway is added separately.
STAGE_APPS: dict[str, tuple[str, type]] = {
    "rewriter": ("Rewriter", stages.RewriterStage),
    "text_encoder": ("TextEncoder", stages.TextEncoderStage),
    "denoiser": ("Denoiser", stages.DenoiserStage),
    "vae": ("VAE", stages.VAEStage),
    "refiner": ("Refiner", stages.RefinerStage),
}
GATEWAY_APP = "gateway"
# The gRPC servicer registrations the Serve proxy needs to route each service's methods.
GRPC_SERVICER_FUNCTIONS = [
    "seedance.protos.seedance.v1.video_generation_pb2_grpc.add_VideoGenerationServicer_to_server",
    "seedance.protos.seedance.v1.stages_pb2_grpc.add_RewriterServicer_to_server",
    "seedance.protos.seedance.v1.stages_pb2_grpc.add_TextEncoderServicer_to_server",
    "seedance.protos.seedance.v1.stages_pb2_grpc.add_DenoiserServicer_to_server",
    "seedance.protos.seedance.v1.stages_pb2_grpc.add_VAEServicer_to_server",
    "seedance.protos.seedance.v1.stages_pb2_grpc.add_RefinerServicer_to_server",
]


def _replica_setup(name: str) -> None:
    logging.basicConfig(level=logging.INFO)
    tracing.configure(f"seedance-{name}")


class _StageReplica:
    """Mixin: a stage class loaded from builder args inside a Serve replica."""

    def __init__(self, model_dir: str | None = None, device: str = "cpu", thin_decoder: bool = False,
                 torch_threads: int | None = None, model_threads: int = 1, **options: Any):
        _replica_setup(type(self).__name__)
        model_thread.configure(model_threads, torch_threads)
        super().__init__(model_dir=model_dir, device=device, thin_decoder=thin_decoder,  # type: ignore[call-arg]
                         **options)


class BatchedTextEncoder(_StageReplica, stages.TextEncoderStage):
    """Concurrent Encode calls are encoded in one batch (serve.batch): one forward pass of the
    text encoder instead of one per call. `max_batch_size` 1 turns batching off (benchmarks)."""

    def __init__(self, model_dir: str | None = None, device: str = "cpu", thin_decoder: bool = False,
                 torch_threads: int | None = None, model_threads: int = 1, max_batch_size: int = 8):
        super().__init__(model_dir=model_dir, device=device, thin_decoder=thin_decoder, torch_threads=torch_threads,
                         model_threads=model_threads)
        self._encode_batch.set_max_batch_size(max_batch_size)

    async def Encode(self, request: Any, grpc_context: Any = None, trace_context: dict | None = None) -> Any:
        raw = isinstance(request, bytes)  # bytes over DeploymentHandles (see stages._answer_errors)
        req = st.EncodeTextRequest.FromString(request) if raw else request
        with stages.serving("TextEncoder.Encode", req, grpc_context, trace_context):
            if not req.captions:  # checked here so one bad call cannot fail a whole batch
                raise stages.InvalidRequestError("captions", "must hold at least one caption")
            out = await self._encode_batch(req)
        return out.SerializeToString() if raw else out

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.005)
    async def _encode_batch(self, requests: list[Any]) -> list[Any]:
        return await asyncio.wrap_future(model_thread.submit(self.encode_many, requests))


def _stage_deployment(app: str) -> Any:
    name, cls = STAGE_APPS[app]
    replica = BatchedTextEncoder if app == "text_encoder" else type(f"{name}Replica", (_StageReplica, cls), {})
    return serve.deployment(name=name)(replica)


# Stages whose concurrent calls can be batched (text encoder: serve.batch; denoiser and refiner:
# the step batcher) and their default max_batch_size (1 = off; see serve_config.yaml).
BATCHED_APPS = {"text_encoder": 8, "denoiser": 1, "refiner": 1}


def build_stage(args: dict[str, Any]) -> Any:
    """Serve application builder for one stage: args {stage, model_dir?, device?, thin_decoder?,
    model_threads? (threads running the replica's model calls side by side, default 1),
    torch_threads? (intra-op threads of each; default: the process's, which the local platform sets
    to 1 with OMP_NUM_THREADS) (see services/model_thread.py), max_batch_size? (text_encoder,
    default 8; denoiser and refiner, default 1 = off)}."""
    app = args["stage"]
    if app not in STAGE_APPS:
        raise ValueError(f"stage: must be one of {', '.join(STAGE_APPS)}, got {app!r}")
    extra = {"max_batch_size": int(args.get("max_batch_size", BATCHED_APPS[app]))} if app in BATCHED_APPS else {}
    threads = {k: args[k] for k in ("torch_threads", "model_threads") if args.get(k) is not None}
    model_thread.check_settings(threads.get("model_threads", 1), threads.get("torch_threads"))  # at deploy time
    return _stage_deployment(app).bind(model_dir=args.get("model_dir"), device=args.get("device", "cpu"),
                                       thin_decoder=bool(args.get("thin_decoder", False)), **threads, **extra)


class StageStalled(Exception):
    """A streamed stage call sent nothing for too long (its replica is gone or wedged)."""


class _Stream:
    """A streamed stage call over a DeploymentHandle: parses each event; `cancel()` stops it.

    Events are read on a helper thread so a stream that stops sending (a killed replica is not
    always reported to the caller at once) raises StageStalled after `stall_s`, which the runner
    retries like any failed stage call, instead of waiting forever."""

    def __init__(self, response: Any, stall_s: float):
        self.response, self.stall_s = response, stall_s
        self.events: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, name="stage-stream", daemon=True).start()

    def _read(self) -> None:
        try:
            for raw in self.response:
                self.events.put(("event", raw))
            self.events.put(("end", None))
        except BaseException as e:
            self.events.put(("error", e))

    def __iter__(self) -> Any:
        while True:
            try:
                kind, value = self.events.get(timeout=self.stall_s)
            except queue.Empty:
                self.cancel()
                raise StageStalled(f"no event for {self.stall_s:.0f} s") from None
            if kind == "event":
                yield st.DenoiseEvent.FromString(value)
            elif kind == "error":
                raise value
            else:
                return

    def cancel(self) -> None:
        self.response.cancel()


class RayStages:
    """The runner's Stages over DeploymentHandles (services.runner.Stages). Messages travel
    serialized: Ray cannot pickle protobuf messages."""

    def __init__(self, timeout_s: float = 600.0, stall_s: float = 120.0):
        self.h = {app: serve.get_deployment_handle(name, app_name=app) for app, (name, _) in STAGE_APPS.items()}
        self.timeout_s, self.stall_s = timeout_s, stall_s

    def _call(self, app: str, method: str, req: Any, trace: dict, response_type: type) -> Any:
        raw = getattr(self.h[app], method).remote(req.SerializeToString(), trace_context=trace)
        return response_type.FromString(raw.result(timeout_s=self.timeout_s))

    def _stream(self, app: str, method: str, req: Any, trace: dict) -> _Stream:
        handle = self.h[app].options(stream=True)
        return _Stream(getattr(handle, method).remote(req.SerializeToString(), trace_context=trace), self.stall_s)

    def rewrite(self, req, trace):
        return self._call("rewriter", "Rewrite", req, trace, st.RewriteResponse)

    def encode_text(self, req, trace):
        return self._call("text_encoder", "Encode", req, trace, st.EncodeTextResponse)

    def vae_encode(self, req, trace):
        return self._call("vae", "Encode", req, trace, st.VAEEncodeResponse)

    def vae_decode(self, req, trace):
        return self._call("vae", "Decode", req, trace, st.VAEDecodeResponse)

    def denoise_stream(self, req, trace):
        return self._stream("denoiser", "DenoiseStream", req, trace)

    def refine_stream(self, req, trace):
        return self._stream("refiner", "RefineStream", req, trace)


class _ServeContext:
    """Adapts Serve's gRPC context to what VideoGenerationService uses (metadata, abort)."""

    class Aborted(Exception):
        pass

    def __init__(self, ctx: Any):
        self.ctx = ctx

    def invocation_metadata(self) -> list[tuple[str, str]]:
        return list(self.ctx.invocation_metadata()) if self.ctx is not None else []

    def is_active(self) -> bool:
        return True

    def abort(self, code: Any, details: str) -> None:
        if self.ctx is not None:
            self.ctx.set_code(code)
            self.ctx.set_details(details)
        raise _ServeContext.Aborted(details)


@serve.deployment(name="Gateway")
class Gateway:
    """VideoGeneration for the Serve gRPC proxy, and `workers` runner threads that take queued
    tasks from Redis and drive them through the stage deployments."""

    def __init__(self, settings: dict[str, Any]):
        from seedance.services.api_server import VideoGenerationService
        from seedance.services.metrics import PlatformMetrics
        from seedance.services.redis_store import RedisTaskStore
        from seedance.services.runner import TaskRunner
        from seedance.services.storage import ObjectStorage, S3Settings
        from seedance.services.validation import load_model_config

        _replica_setup("gateway")
        config = load_model_config(settings.get("model_dir"))
        self.store = RedisTaskStore(url=settings.get("redis_url") or os.environ["SEEDANCE_REDIS_URL"],
                                    queue_ttl_s=settings.get("queue_ttl_s", 3600.0),
                                    result_ttl_s=settings.get("result_ttl_s", 86400.0),
                                    max_queued_per_owner=settings.get("max_queued_per_key", 120),
                                    lease_s=settings.get("lease_s", 10.0),
                                    max_attempts=settings.get("max_attempts", 2))
        storage = ObjectStorage(S3Settings.from_env())
        storage.ensure_bucket()
        keys = _api_keys(settings.get("api_keys_file"))
        self.api = VideoGenerationService(self.store, config, keys, settings.get("watch_max_s", 3600.0))
        self._stop = threading.Event()
        worker = f"gateway-{uuid.uuid4().hex[:8]}"
        stall_s = float(settings.get("stage_stall_s", 120.0))
        self.metrics = PlatformMetrics(self.store)
        if settings.get("metrics_port"):
            self.metrics.serve_or_log(int(settings["metrics_port"]), settings.get("metrics_host", "127.0.0.1"))
        self.runners = [TaskRunner(self.store, RayStages(stall_s=stall_s), storage, config, worker_id=f"{worker}-{i}",
                                   thin_decoder=bool(settings.get("thin_decoder", False)),
                                   on_finish=self.metrics.on_finish)
                        for i in range(int(settings.get("workers", 1)))]
        self._threads = [threading.Thread(target=r.serve, args=(self._stop,), name=f"runner-{i}", daemon=True)
                         for i, r in enumerate(self.runners)]
        for t in self._threads:
            t.start()

    def _unary(self, method: str, request: Any, grpc_context: Any) -> Any:
        try:
            return getattr(self.api, method)(request, _ServeContext(grpc_context))
        except _ServeContext.Aborted as e:
            raise RuntimeError(str(e)) from None  # the status set on the context is what the client sees

    def CreateTask(self, request: Any, grpc_context: Any = None) -> Any:
        return self._unary("CreateTask", request, grpc_context)

    def GetTask(self, request: Any, grpc_context: Any = None) -> Any:
        return self._unary("GetTask", request, grpc_context)

    def ListTasks(self, request: Any, grpc_context: Any = None) -> Any:
        return self._unary("ListTasks", request, grpc_context)

    def CancelTask(self, request: Any, grpc_context: Any = None) -> Any:
        return self._unary("CancelTask", request, grpc_context)

    def WatchTask(self, request: Any, grpc_context: Any = None) -> Any:
        try:
            yield from self.api.WatchTask(request, _ServeContext(grpc_context))
        except _ServeContext.Aborted as e:
            raise RuntimeError(str(e)) from None

    def check_health(self) -> None:
        """Serve's replica health check: Redis must answer and every runner thread be alive."""
        self.store.ping()
        if not all(t.is_alive() for t in self._threads):
            raise RuntimeError("a runner thread stopped")

    def __del__(self) -> None:
        self._stop.set()


def _api_keys(path: str | None) -> frozenset[str] | None:
    """API keys, one per line, from a file (never from the config itself); None = no auth."""
    if not path:
        return None
    keys = frozenset(line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip())
    if not keys:
        raise ValueError(f"api_keys_file: {path} holds no keys")
    return keys


def build_gateway(args: dict[str, Any]) -> Any:
    """Serve application builder for the gateway: args are its settings (see Gateway)."""
    return Gateway.bind(dict(args))
