"""`seedance serve`: the whole serving platform on this machine, on loopback, until Ctrl-C.

Starts Redis, SeaweedFS (S3), Ray with one Serve application per stage plus the gateway, and the
public VideoGeneration endpoint; prints the endpoint and where the API key is; Ctrl-C (or
SIGTERM) stops all of it.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path

from seedance.errors import InvalidRequestError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the serving platform locally (Ray Serve, Redis, S3) until Ctrl-C",
                       description="Run the Seedance serving platform on this machine, bound to 127.0.0.1.")
    p.add_argument("--host", default="127.0.0.1", help="public endpoint address (default: loopback only)")
    p.add_argument("--port", type=int, default=50051, help="public endpoint port (default 50051; 0 = any free)")
    p.add_argument("--workdir", default=".cache/serve", help="data, logs and the generated API key")
    p.add_argument("--model", metavar="DIR", help="model directory (default: the embedded model)")
    p.add_argument("--api-keys-file", metavar="FILE", help="accepted API keys, one per line "
                                                           "(default: generate one into WORKDIR/api_key)")
    p.add_argument("--tls-cert", metavar="PEM", help="serve TLS with this certificate chain (needs --tls-key)")
    p.add_argument("--tls-key", metavar="PEM", help="the certificate's private key")
    p.add_argument("--workers", type=int, default=1, help="tasks run at once by the gateway (default 1)")
    p.add_argument("--grpc-proxy-port", type=int, metavar="PORT",
                   help="also start the Ray Serve gRPC proxy (every stage service) on PORT; note: Ray binds "
                        "it to ALL interfaces")
    p.add_argument("--metrics-port", type=int, default=9464, metavar="PORT",
                   help="Prometheus /metrics of the gateway on 127.0.0.1:PORT (default 9464; 0 = off)")
    p.add_argument("--num-cpus", type=float, default=2, help="CPUs Ray may use (default 2)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise InvalidRequestError("port", f"must be in [0, 65535], got {args.port}")
    if args.workers < 1:
        raise InvalidRequestError("workers", f"must be at least 1, got {args.workers}")
    if not 0 <= args.metrics_port <= 65535:
        raise InvalidRequestError("metrics-port", f"must be in [0, 65535], got {args.metrics_port}")
    if bool(args.tls_cert) != bool(args.tls_key):
        raise InvalidRequestError("tls-cert", "--tls-cert and --tls-key go together")
    tls = (Path(args.tls_key).read_bytes(), Path(args.tls_cert).read_bytes()) if args.tls_cert else None
    if args.api_keys_file and not Path(args.api_keys_file).is_file():
        raise InvalidRequestError("api-keys-file", f"no such file: {args.api_keys_file}")
    from seedance.services.platform import LocalPlatform, PlatformSettings

    settings = PlatformSettings(workdir=Path(args.workdir), host=args.host, port=args.port, model_dir=args.model,
                                api_keys_file=Path(args.api_keys_file) if args.api_keys_file else None, tls=tls,
                                grpc_proxy_port=args.grpc_proxy_port, num_cpus=args.num_cpus, workers=args.workers,
                                metrics_port=args.metrics_port or None)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    start = time.monotonic()
    print("seedance serve: starting Redis, SeaweedFS, Ray Serve (stages + gateway)...", file=sys.stderr)
    platform = LocalPlatform(settings)
    try:
        platform.start()
        print(f"seedance serve: ready in {time.monotonic() - start:.0f} s\n"
              f"  endpoint   {platform.endpoint}{' (TLS)' if tls else ''}\n"
              f"  API key    {platform.api_key_path}  (export SEEDANCE_API_KEY=$(cat {platform.api_key_path}))\n"
              f"  try        seedance client --endpoint {platform.endpoint} --api-key-file {platform.api_key_path} "
              f"generate \"a red circle moves to the right\" -o x.mp4\n"
              + (f"  metrics    http://127.0.0.1:{args.metrics_port}/metrics\n" if args.metrics_port else "")
              + "  Ctrl-C stops everything", flush=True)
        if args.grpc_proxy_port:
            print(f"  Serve gRPC proxy on port {args.grpc_proxy_port} (all interfaces; metadata "
                  "application=<gateway|rewriter|text_encoder|denoiser|vae|refiner>)", flush=True)
        while not done.wait(0.5):
            pass
    finally:
        print("seedance serve: stopping...", file=sys.stderr)
        platform.stop()
        print("seedance serve: stopped", file=sys.stderr)
    return 0
