"""The public VideoGeneration gRPC endpoint: API keys, health, reflection, TLS, message limits.

`VideoGenerationService` answers the API over any task store with the MemoryTaskStore interface
(the reference server's in-memory store, or the Redis store the Ray Serve platform shares), so
both servers apply the same rules and answer the same codes. `ApiServer` is the server around
it; it binds to 127.0.0.1 unless told otherwise, and a taken port is an error, not a shared one.
"""

from __future__ import annotations

import functools
import logging
from concurrent import futures
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from seedance.errors import SeedanceError
from seedance.model.config import ModelConfig
from seedance.protos.seedance.v1 import video_generation_pb2 as vg
from seedance.protos.seedance.v1 import video_generation_pb2_grpc as vg_grpc
from seedance.services import tracing
from seedance.services.errors import UnauthenticatedError, grpc_status
from seedance.services.validation import validate_create

log = logging.getLogger(__name__)
SERVICE_NAME = vg.DESCRIPTOR.services_by_name["VideoGeneration"].full_name
# Two 10 MiB images plus prompts must fit in one CreateTask; the gRPC default is 4 MiB.
MAX_MESSAGE_BYTES = 32 * 1024 * 1024
SERVER_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.so_reuseport", 0),  # a second server on a taken port must fail, not share it silently
]
ANONYMOUS = "anonymous"


def caller(context: grpc.ServicerContext, api_keys: frozenset[str] | None) -> str:
    """The caller's identity (tasks are scoped to it): its API key, sent as
    `authorization: Bearer <key>`; without configured keys every caller is anonymous."""
    if api_keys is None:
        return ANONYMOUS
    auth = dict(context.invocation_metadata()).get("authorization", "")
    scheme, _, key = auth.partition(" ")
    if scheme.lower() != "bearer" or key.strip() not in api_keys:
        raise UnauthenticatedError("authorization: a valid API key is required (authorization: Bearer <key>)")
    return key.strip()


def _rpc(method: Any) -> Any:
    """Turn the typed errors a handler raises into the matching gRPC status (context.abort)."""

    @functools.wraps(method)
    def wrapper(self: VideoGenerationService, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            with tracing.span(f"rpc.{method.__name__}", tracing.from_metadata(context.invocation_metadata())):
                return method(self, request, context)
        except Exception as e:
            if not isinstance(e, SeedanceError):  # a bug, not the caller's mistake: keep the traceback
                log.exception("%s failed", method.__name__)
            context.abort(*grpc_status(e))

    return wrapper


class VideoGenerationService(vg_grpc.VideoGenerationServicer):
    def __init__(self, store: Any, config: ModelConfig, api_keys: frozenset[str] | None, watch_max_s: float):
        self.store = store
        self.config = config
        self.api_keys = api_keys
        self.watch_max_s = watch_max_s

    @_rpc
    def CreateTask(self, request: vg.CreateTaskRequest, context: grpc.ServicerContext) -> vg.Task:
        owner = caller(context, self.api_keys)
        earlier = self.store.find_by_key(owner, request.idempotency_key)
        if earlier is not None:  # a retry: answer the first task even if this copy would not validate
            return earlier
        gen, plan = validate_create(request, self.config)
        return self.store.create(owner, request, gen, plan)

    @_rpc
    def GetTask(self, request: vg.GetTaskRequest, context: grpc.ServicerContext) -> vg.Task:
        return self.store.get(caller(context, self.api_keys), request.task_id)

    @_rpc
    def ListTasks(self, request: vg.ListTasksRequest, context: grpc.ServicerContext) -> vg.ListTasksResponse:
        tasks, token = self.store.list(caller(context, self.api_keys), list(request.statuses), request.page_size,
                                       request.page_token)
        return vg.ListTasksResponse(tasks=tasks, next_page_token=token)

    @_rpc
    def CancelTask(self, request: vg.CancelTaskRequest, context: grpc.ServicerContext) -> vg.Task:
        return self.store.cancel(caller(context, self.api_keys), request.task_id)

    def WatchTask(self, request: vg.WatchTaskRequest, context: grpc.ServicerContext) -> Any:
        try:
            owner = caller(context, self.api_keys)
            yield from self.store.watch(owner, request.task_id, context.is_active, self.watch_max_s)
        except SeedanceError as e:
            context.abort(*grpc_status(e))


class ApiServer:
    """gRPC VideoGeneration + health + reflection on one port, over `store`."""

    def __init__(self, store: Any, config: ModelConfig, *, host: str = "127.0.0.1", port: int = 0,
                 api_keys: set[str] | None = None, tls: tuple[bytes, bytes] | None = None,
                 max_rpc_threads: int = 16, watch_max_s: float = 3600.0):
        self.host, self.store = host, store
        self._grpc = grpc.server(futures.ThreadPoolExecutor(max_rpc_threads, thread_name_prefix="rpc"),
                                 options=SERVER_OPTIONS)
        keys = frozenset(api_keys) if api_keys is not None else None
        vg_grpc.add_VideoGenerationServicer_to_server(VideoGenerationService(store, config, keys, watch_max_s),
                                                      self._grpc)
        self._health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._grpc)
        reflection.enable_server_reflection((SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), self._grpc)
        address = f"{host}:{port}"
        if tls is None:
            self.port = self._grpc.add_insecure_port(address)
        else:
            key, cert = tls
            self.port = self._grpc.add_secure_port(address, grpc.ssl_server_credentials([(key, cert)]))

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> ApiServer:
        self._grpc.start()
        for name in ("", SERVICE_NAME):
            self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
        return self

    def stop(self, grace_s: float = 1.0) -> None:
        self._health.enter_graceful_shutdown()
        self._grpc.stop(grace_s).wait(timeout=grace_s + 5)
