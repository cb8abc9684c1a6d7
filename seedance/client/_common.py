"""What the sync and asyncio clients share: channel setup, auth metadata, request building,
retry backoff, task outcomes, downloads and the progress display. grpcio + protobuf only."""

from __future__ import annotations

import os
import random
import sys
import tempfile
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

import grpc

from seedance.client.errors import DownloadError, TaskCancelledError, TaskExpiredError, TaskFailedError
from seedance.errors import InvalidRequestError
from seedance.protos.seedance.v1 import common_pb2 as pb
from seedance.protos.seedance.v1 import video_generation_pb2 as vg

DEFAULT_TIMEOUT_S = 30.0  # per unary call
DEFAULT_WAIT_S = 3600.0  # a whole watch / generate
DEFAULT_RETRIES = 4
MAX_MESSAGE_BYTES = 32 * 1024 * 1024  # two 10 MiB images fit in one CreateTask
CHANNEL_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    # gRPC's own reconnect backoff grows to 120 s, longer than our retries wait: keep it short so
    # a server that comes up (or back) is noticed within our backoff window.
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2000),
]
FINAL = frozenset({pb.TASK_STATUS_SUCCEEDED, pb.TASK_STATUS_FAILED, pb.TASK_STATUS_CANCELLED,
                   pb.TASK_STATUS_EXPIRED})
ImageLike = bytes | str | os.PathLike[str]


class CreateParams(TypedDict, total=False):
    """CreateTask's optional parameters (see video_generation.proto for each one's rule)."""

    shots: Sequence[str]
    image: ImageLike | None  # first frame: encoded bytes or a file path
    last_image: ImageLike | None
    frames: int | None
    duration: float | None
    fps: int | None
    resolution: str | None
    ratio: str | None
    seed: int | None
    steps: int | None
    guidance: float | None
    camera_fixed: bool
    return_last_frame: bool
    refine_steps: int | None
    idempotency_key: str | None


def channel_credentials(tls: bool, root_certificates: bytes | str | os.PathLike[str] | None
                        ) -> grpc.ChannelCredentials | None:
    """TLS credentials (root certificates: PEM bytes or a file; None = the system roots), or None."""
    if not tls and root_certificates is None:
        return None
    roots = root_certificates
    if roots is not None and not isinstance(roots, bytes):
        roots = Path(roots).read_bytes()
    return grpc.ssl_channel_credentials(root_certificates=roots)


def auth_metadata(api_key: str | None) -> tuple[tuple[str, str], ...]:
    """The API key travels as `authorization: Bearer <key>` on every call."""
    return (("authorization", f"Bearer {api_key}"),) if api_key else ()


def status_value(status: int | str) -> int:
    """A TaskStatus from its enum value or its name ("queued", "TASK_STATUS_QUEUED")."""
    if isinstance(status, int):
        return status
    name = status.upper()
    return pb.TaskStatus.Value(name if name.startswith("TASK_STATUS_") else f"TASK_STATUS_{name}")


def _image(value: ImageLike | None) -> vg.Image | None:
    if value is None:
        return None
    data = value if isinstance(value, bytes) else Path(value).read_bytes()
    return vg.Image(data=data)


def build_create_request(prompt: str, params: CreateParams) -> vg.CreateTaskRequest:
    """The wire request. Without an idempotency key one is generated, so that retrying the call
    after UNAVAILABLE can never create a second task."""
    p: dict[str, Any] = dict(params)
    unknown = set(p) - set(CreateParams.__annotations__)
    if unknown:
        raise TypeError(f"unknown CreateTask parameter(s): {', '.join(sorted(unknown))}")
    req = vg.CreateTaskRequest(prompt=prompt, shots=list(p.get("shots") or ()),
                               idempotency_key=p.get("idempotency_key") or uuid.uuid4().hex)
    for name, wire in (("image", "first_frame"), ("last_image", "last_frame")):
        image = _image(p.get(name))
        if image is not None:
            getattr(req, wire).CopyFrom(image)
    for name in ("frames", "duration", "fps", "seed", "steps", "guidance", "refine_steps",
                 "resolution", "ratio", "camera_fixed", "return_last_frame"):
        if p.get(name) is not None:
            setattr(req, name, p[name])
    return req


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter for retries on UNAVAILABLE (and nothing else)."""

    retries: int = DEFAULT_RETRIES  # attempts after the first
    initial_s: float = 0.2
    max_s: float = 5.0
    multiplier: float = 2.0

    def delay(self, retry: int) -> float:
        """Seconds before retry number `retry` (0-based): half fixed, half random, so clients that
        failed together do not come back together."""
        cap = min(self.max_s, self.initial_s * self.multiplier**retry)
        return cap / 2 + random.uniform(0, cap / 2)


def check_outcome(task: vg.Task) -> vg.Task:
    """`task` if it SUCCEEDED; the matching TaskError if it ended otherwise."""
    status = task.status
    why = task.error_message or pb.TaskStatus.Name(status)
    if status == pb.TASK_STATUS_FAILED:
        raise TaskFailedError(task, f"task {task.id} failed: {why}")
    if status == pb.TASK_STATUS_CANCELLED:
        raise TaskCancelledError(task, f"task {task.id} was cancelled: {why}")
    if status == pb.TASK_STATUS_EXPIRED:
        raise TaskExpiredError(task, f"task {task.id} expired: {why}")
    if status != pb.TASK_STATUS_SUCCEEDED:
        raise TaskFailedError(task, f"task {task.id} is still {pb.TaskStatus.Name(status)}")
    return task


def download_url(url: str, path: str | os.PathLike[str], timeout: float = DEFAULT_TIMEOUT_S) -> Path:
    """Fetch `url` (http, https or file) into `path`, atomically: a partial file never appears."""
    target = Path(path)
    if url.split(":", 1)[0].lower() not in ("http", "https", "file"):
        raise DownloadError(f"unsupported URL scheme: {url}")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            while chunk := response.read(1 << 20):
                out.write(chunk)
        os.replace(tmp_name, target)
    except (urllib.error.URLError, OSError) as e:
        raise DownloadError(f"could not download {url}: {e}") from e
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    return target


@dataclass(frozen=True)
class GeneratedVideo:
    """What generate() wrote: the video and, beside it, the metadata and any extras."""

    task: vg.Task = field(repr=False)  # the final task (result URLs, seed, metadata)
    video: Path
    metadata: Path
    preview: Path | None = None
    last_frame: Path | None = None


def output_plan(task: vg.Task, output: str | os.PathLike[str]) -> tuple[GeneratedVideo, list[tuple[str, Path]]]:
    """Where each result file goes (OUT.mp4, OUT.json, OUT.preview.mp4, OUT.last.png) and what to fetch."""
    video = Path(output)
    r = task.result
    preview = video.with_suffix(".preview.mp4") if r.preview_url else None
    last = video.with_suffix(".last.png") if r.last_frame_url else None
    fetch = [(r.video_url, video)]
    fetch += [(url, p) for url, p in ((r.preview_url, preview), (r.last_frame_url, last)) if p is not None]
    return GeneratedVideo(task, video, video.with_suffix(".json"), preview, last), fetch


def check_output(output: str | os.PathLike[str]) -> Path:
    """Reject a bad output path before a task is created (it must be an .mp4 in an existing folder)."""
    path = Path(output)
    if path.suffix.lower() != ".mp4":
        raise InvalidRequestError("output", f"must end in .mp4, got {path.name!r}")
    if not path.parent.is_dir():
        raise InvalidRequestError("output", f"directory does not exist: {path.parent}")
    return path


class ProgressDisplay:
    """A progress bar on stderr for generate(progress=True): tqdm when installed, else a line per change."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self._bar: Any = None
        self._last = ""

    def update(self, task: vg.Task) -> None:
        if not self.enabled:
            return
        percent = 100.0 if task.status == pb.TASK_STATUS_SUCCEEDED else task.progress.percent
        label = (pb.Stage.Name(task.progress.stage).removeprefix("STAGE_").lower()
                 if task.status == pb.TASK_STATUS_RUNNING else pb.TaskStatus.Name(task.status)[12:].lower())
        try:
            from tqdm import tqdm
        except ImportError:  # tqdm is optional: the SDK needs only grpcio + protobuf
            line = f"{task.id[:8]} {label} {percent:5.1f}%"
            if line != self._last:
                print(line, file=sys.stderr)
                self._last = line
            return
        if self._bar is None:
            self._bar = tqdm(total=100.0, unit="%", file=sys.stderr, bar_format="{desc} {percentage:3.0f}%|{bar}|")
        self._bar.set_description_str(f"{task.id[:8]} {label:>13}")
        self._bar.update(percent - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
