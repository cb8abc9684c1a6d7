"""`seedance client`: talk to a running Seedance server over gRPC (torch is never imported).

The API key is read from the SEEDANCE_API_KEY environment variable or from --api-key-file, never
from a command-line value (those end up in shell history and process listings).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from seedance.errors import InvalidRequestError

STATUS_NAMES = ("queued", "running", "succeeded", "failed", "cancelled", "expired")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("client", help="use a running server (create, watch, download, list, cancel)",
                       description="Use a running Seedance server's VideoGeneration API.")
    p.add_argument("--endpoint", required=True, metavar="HOST:PORT", help="the server's gRPC address")
    p.add_argument("--api-key-file", metavar="FILE", help="file holding the API key (default: $SEEDANCE_API_KEY)")
    p.add_argument("--tls", action="store_true", help="use TLS")
    p.add_argument("--ca", metavar="PEM", help="CA certificates for TLS (default: the system roots)")
    p.add_argument("--timeout", type=float, default=30.0, help="per-call deadline in seconds (default 30)")
    cmd = p.add_subparsers(dest="client_command", required=True, metavar="COMMAND")

    g = cmd.add_parser("generate", help="create a task, watch it, download the video")
    g.add_argument("prompt")
    g.add_argument("-o", "--output", required=True, help="output .mp4 (metadata JSON is written beside it)")
    g.add_argument("--image", help="first frame (image-to-video)")
    g.add_argument("--last-image", help="last frame")
    g.add_argument("--shot", action="append", default=[], metavar="PROMPT", help="add a further shot")
    length = g.add_mutually_exclusive_group()
    length.add_argument("--frames", type=int)
    length.add_argument("--duration", type=float)
    for name, kind in (("--fps", int), ("--seed", int), ("--steps", int), ("--guidance", float)):
        g.add_argument(name, type=kind)
    g.add_argument("--resolution")
    g.add_argument("--ratio")
    g.add_argument("--camera-fixed", action="store_true")
    g.add_argument("--wait", type=float, default=3600.0, help="give up after this many seconds (default 3600)")
    g.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    s = cmd.add_parser("status", help="show one task")
    s.add_argument("task_id")
    ls = cmd.add_parser("list", help="list your tasks, newest first")
    ls.add_argument("--status", action="append", choices=STATUS_NAMES, default=[], help="filter (repeatable)")
    ls.add_argument("--limit", type=int, default=20, help="at most this many (default 20)")
    c = cmd.add_parser("cancel", help="cancel a queued or running task")
    c.add_argument("task_id")
    p.set_defaults(run=run)


def api_key(args: argparse.Namespace) -> str | None:
    if args.api_key_file:
        path = Path(args.api_key_file)
        if not path.is_file():
            raise InvalidRequestError("api-key-file", f"file not found: {path}")
        return path.read_text().strip() or None
    return os.environ.get("SEEDANCE_API_KEY") or None


def describe(task) -> str:
    from seedance.client._common import status_value
    from seedance.protos.seedance.v1 import common_pb2

    status = common_pb2.TaskStatus.Name(status_value(task.status)).removeprefix("TASK_STATUS_").lower()
    line = f"{task.id}  {status:<9}  {task.progress.percent:5.1f}%  {task.request.prompt[:60]!r}"
    if task.error_message:
        line += f"  error: {task.error_message}"
    if task.result.video_url:
        line += f"  video: {task.result.video_url}"
    return line


def run(args: argparse.Namespace) -> int:
    from seedance.client import SeedanceClient

    with SeedanceClient(args.endpoint, api_key=api_key(args), tls=args.tls, root_certificates=args.ca,
                        timeout=args.timeout) as client:
        if args.client_command == "generate":
            params = {k: getattr(args, k) for k in ("frames", "duration", "fps", "seed", "steps", "guidance",
                                                    "resolution", "ratio") if getattr(args, k) is not None}
            made = client.generate(args.prompt, args.output, progress=not args.quiet, timeout=args.wait,
                                   shots=args.shot, image=args.image, last_image=args.last_image,
                                   camera_fixed=args.camera_fixed, **params)
            print(f"wrote {made.video} (task {made.task.id}, seed {made.task.result.seed}); metadata {made.metadata}")
        elif args.client_command == "status":
            print(describe(client.get_task(args.task_id)))
        elif args.client_command == "list":
            tasks = client.iter_tasks(statuses=args.status)
            for n, task in enumerate(tasks):
                if n >= args.limit:
                    break
                print(describe(task))
        else:
            print(describe(client.cancel_task(args.task_id)))
    return 0
