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
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seedance.services.api_server import SERVICE_NAME, ApiServer
from seedance.services.reference_worker import PipelineWorker
from seedance.services.task_store import MemoryTaskStore

if TYPE_CHECKING:
    from seedance.model.pipeline import SeedancePipeline

log = logging.getLogger(__name__)


class _QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http: " + format, *args)


class ReferenceServer:
    """The public API (ApiServer) over a MemoryTaskStore, a worker thread, and an HTTP file server."""

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
        self.api = ApiServer(self.store, pipeline.config, host=host, port=port, api_keys=api_keys, tls=tls,
                             max_rpc_threads=max_rpc_threads, watch_max_s=watch_max_s)
        self.port = self.api.port
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
        self.api.start()
        return self

    def stop(self, grace_s: float = 1.0) -> None:
        """Stop taking calls, cancel the running task between steps, and join every thread."""
        self._stop.set()
        self.worker.cancel_current()
        self.api.stop(grace_s)
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
    from seedance.services import model_thread
    from seedance.services.stages import load_pipeline

    pipeline = model_thread.call(load_pipeline, args.model)  # loaded where it runs (services/model_thread.py)
    server = ReferenceServer(pipeline, args.out, host=args.host, port=args.port,
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
