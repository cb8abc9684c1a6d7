"""A reference VideoGeneration server: the public API over the in-process pipeline, in one process.

It is the executable specification of the API's behaviour (validation, idempotency, cancel,
watch, download URLs) that the SDK is tested against; the Ray Serve gateway must pass the same
SDK tests. Tasks live in a MemoryTaskStore, one worker thread runs them with a real
SeedancePipeline, and the outputs are served by a loopback HTTP server.

    python -m seedance.services.reference_server --port 50051 --out outputs/server
"""

from __future__ import annotations

import argparse
import functools
import logging
import signal
import threading
from concurrent import futures
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from seedance.errors import SeedanceError
from seedance.protos.seedance.v1 import video_generation_pb2 as vg
from seedance.protos.seedance.v1 import video_generation_pb2_grpc as vg_grpc
from seedance.services.errors import UnauthenticatedError, grpc_status
from seedance.services.reference_worker import PipelineWorker
from seedance.services.task_store import MemoryTaskStore
from seedance.services.validation import request_echo, validate_create

if TYPE_CHECKING:
    from seedance.model.pipeline import SeedancePipeline

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
            return method(self, request, context)
        except Exception as e:
            if not isinstance(e, SeedanceError):  # a bug, not the caller's mistake: keep the traceback
                log.exception("%s failed", method.__name__)
            context.abort(*grpc_status(e))

    return wrapper


class VideoGenerationService(vg_grpc.VideoGenerationServicer):
    def __init__(self, store: MemoryTaskStore, pipeline: SeedancePipeline, api_keys: frozenset[str] | None,
                 watch_max_s: float):
        self.store = store
        self.config = pipeline.config
        self.api_keys = api_keys
        self.watch_max_s = watch_max_s

    @_rpc
    def CreateTask(self, request: vg.CreateTaskRequest, context: grpc.ServicerContext) -> vg.Task:
        owner = caller(context, self.api_keys)
        earlier = self.store.find_by_key(owner, request.idempotency_key)
        if earlier is not None:  # a retry: answer the first task even if this copy would not validate
            return earlier
        gen, plan = validate_create(request, self.config)
        return self.store.create(owner, request_echo(request), gen, plan)

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


class _QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http: " + format, *args)


class ReferenceServer:
    """gRPC VideoGeneration + health + reflection, a worker thread, and an HTTP file server."""

    def __init__(self, pipeline: SeedancePipeline, out_dir: str | Path, *, host: str = "127.0.0.1",
                 port: int = 0, api_keys: set[str] | None = None, tls: tuple[bytes, bytes] | None = None,
                 store: MemoryTaskStore | None = None, max_rpc_threads: int = 16, watch_max_s: float = 3600.0):
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.host, self.store = host, store or MemoryTaskStore()
        self._stop = threading.Event()
        self._http = ThreadingHTTPServer((host, 0), functools.partial(_QuietFiles, directory=str(self.out_dir)))
        base_url = f"http://{host}:{self._http.server_address[1]}"
        self.worker = PipelineWorker(self.store, pipeline, self.out_dir, base_url, self._stop)
        self._grpc = grpc.server(futures.ThreadPoolExecutor(max_rpc_threads, thread_name_prefix="rpc"),
                                 options=SERVER_OPTIONS)
        keys = frozenset(api_keys) if api_keys is not None else None
        vg_grpc.add_VideoGenerationServicer_to_server(
            VideoGenerationService(self.store, pipeline, keys, watch_max_s), self._grpc)
        self._health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._grpc)
        reflection.enable_server_reflection((SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), self._grpc)
        address = f"{host}:{port}"
        if tls is None:
            self.port = self._grpc.add_insecure_port(address)
        else:
            key, cert = tls
            self.port = self._grpc.add_secure_port(address, grpc.ssl_server_credentials([(key, cert)]))
        self._threads: list[threading.Thread] = []

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> ReferenceServer:
        http_thread = threading.Thread(target=self._http.serve_forever, kwargs={"poll_interval": 0.2},
                                       name="http-files", daemon=True)
        self._threads = [http_thread, self.worker]
        for thread in self._threads:
            thread.start()
        self._grpc.start()
        for name in ("", SERVICE_NAME):
            self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
        return self

    def stop(self, grace_s: float = 1.0) -> None:
        """Stop taking calls, cancel the running task between steps, and join every thread."""
        self._health.enter_graceful_shutdown()
        self._stop.set()
        self.worker.cancel_current()
        self._grpc.stop(grace_s).wait(timeout=grace_s + 5)
        if self._threads:
            self._http.shutdown()
        self._http.server_close()
        for thread in self._threads:
            thread.join(timeout=30)

    def __enter__(self) -> ReferenceServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve the VideoGeneration API with the in-process pipeline.")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback only)")
    parser.add_argument("--port", type=int, default=50051)
    parser.add_argument("--out", default="outputs/server", help="where task outputs are written and served from")
    parser.add_argument("--model", metavar="DIR", help="model directory (default: the embedded model)")
    parser.add_argument("--api-key", action="append", help="accept this API key (repeatable); none = no auth")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    from seedance.cli.common import load_model
    from seedance.model.pipeline import SeedancePipeline

    server = ReferenceServer(SeedancePipeline(load_model(args.model)), args.out, host=args.host, port=args.port,
                             api_keys=set(args.api_key) if args.api_key else None).start()
    log.info("serving %s on %s", SERVICE_NAME, server.endpoint)
    done = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: done.set())
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    done.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
