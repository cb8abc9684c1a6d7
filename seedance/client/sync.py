"""The blocking client: `SeedanceClient(endpoint).generate(prompt, output="out.mp4")`."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import grpc

from seedance.client._common import (
    CHANNEL_OPTIONS,
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT_S,
    DEFAULT_WAIT_S,
    FINAL,
    Backoff,
    CreateParams,
    GeneratedVideo,
    ProgressDisplay,
    auth_metadata,
    build_create_request,
    channel_credentials,
    check_outcome,
    check_output,
    download_url,
    output_plan,
    status_value,
)
from seedance.client.errors import DeadlineExceededError, UnavailableError, from_grpc
from seedance.protos.seedance.v1 import video_generation_pb2 as vg
from seedance.protos.seedance.v1 import video_generation_pb2_grpc as vg_grpc

if TYPE_CHECKING:
    from typing_extensions import Unpack

R = TypeVar("R")


class SeedanceClient:
    """A VideoGeneration client.

    endpoint: "host:port". api_key: sent as `authorization: Bearer <key>` metadata on every call.
    tls / root_certificates: a TLS channel (PEM bytes or a file; None = the system roots).
    timeout: the deadline of each unary call, in seconds. retries: how many times a call that
    failed with UNAVAILABLE is retried, with exponential backoff and jitter; other errors are
    raised at once, as seedance.client.errors exceptions. options: extra gRPC channel options.
    metadata: extra metadata sent on every call (e.g. Ray Serve's ("application", name) routing key).
    """

    def __init__(self, endpoint: str, api_key: str | None = None, tls: bool = False,
                 root_certificates: bytes | str | os.PathLike[str] | None = None,
                 timeout: float = DEFAULT_TIMEOUT_S, retries: int = DEFAULT_RETRIES,
                 backoff: Backoff | None = None, options: Iterable[tuple[str, Any]] = (),
                 metadata: Iterable[tuple[str, str]] = ()):
        creds = channel_credentials(tls, root_certificates)
        opts = [*CHANNEL_OPTIONS, *options]
        self._channel = (grpc.secure_channel(endpoint, creds, opts) if creds is not None
                         else grpc.insecure_channel(endpoint, opts))
        self._stub = vg_grpc.VideoGenerationStub(self._channel)
        self._metadata = (*auth_metadata(api_key), *metadata)
        self.timeout = timeout
        self.backoff = backoff or Backoff(retries=retries)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> SeedanceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: Callable[..., R], request: Any, timeout: float | None) -> R:
        retry = 0
        while True:
            try:
                return method(request, timeout=timeout or self.timeout, metadata=self._metadata)
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.UNAVAILABLE or retry >= self.backoff.retries:
                    raise from_grpc(e) from None
            time.sleep(self.backoff.delay(retry))
            retry += 1

    # -- the API ----------------------------------------------------------------------------------
    def create_task(self, prompt: str, *, timeout: float | None = None, **params: Unpack[CreateParams]) -> vg.Task:
        """Queue a generation; returns the task (QUEUED). Parameters: see CreateParams."""
        return self._call(self._stub.CreateTask, build_create_request(prompt, params), timeout)

    def get_task(self, task_id: str, *, timeout: float | None = None) -> vg.Task:
        return self._call(self._stub.GetTask, vg.GetTaskRequest(task_id=task_id), timeout)

    def list_tasks(self, statuses: Iterable[int | str] = (), page_size: int = 0, page_token: str = "", *,
                   timeout: float | None = None) -> vg.ListTasksResponse:
        """One page of the caller's tasks, newest first (statuses: TaskStatus values or names like "queued")."""
        request = vg.ListTasksRequest(statuses=[status_value(s) for s in statuses], page_size=page_size,
                                      page_token=page_token)
        return self._call(self._stub.ListTasks, request, timeout)

    def iter_tasks(self, statuses: Iterable[int | str] = (), page_size: int = 0, max_pages: int = 1000
                   ) -> Iterator[vg.Task]:
        """Every task of the caller, page by page (at most `max_pages` pages)."""
        wanted, token = list(statuses), ""
        for _ in range(max_pages):
            page = self.list_tasks(wanted, page_size, token)
            yield from page.tasks
            token = page.next_page_token
            if not token:
                return

    def cancel_task(self, task_id: str, *, timeout: float | None = None) -> vg.Task:
        return self._call(self._stub.CancelTask, vg.CancelTaskRequest(task_id=task_id), timeout)

    def watch_task(self, task_id: str, timeout: float = DEFAULT_WAIT_S) -> Iterator[vg.Task]:
        """The task now and at every change, until a final status. A stream broken by UNAVAILABLE is
        reopened (the server resends the current state), up to `retries` times in a row; `timeout`
        bounds the whole watch."""
        deadline = time.monotonic() + timeout
        failures = 0
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise DeadlineExceededError(grpc.StatusCode.DEADLINE_EXCEEDED,
                                            f"task {task_id}: no final status within {timeout:g} s")
            stream = self._stub.WatchTask(vg.WatchTaskRequest(task_id=task_id), timeout=left, metadata=self._metadata)
            received = False
            try:
                for task in stream:
                    received, failures = True, 0
                    yield task
                    if task.status in FINAL:
                        return
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.UNAVAILABLE or failures >= self.backoff.retries:
                    raise from_grpc(e) from None
            finally:
                stream.cancel()
            if not received:  # an error, or a stream closed with nothing in it: back off before reopening
                if failures >= self.backoff.retries:
                    raise UnavailableError(grpc.StatusCode.UNAVAILABLE, f"task {task_id}: the watch stream keeps closing")
                time.sleep(self.backoff.delay(failures))
                failures += 1

    def wait(self, task_id: str, timeout: float = DEFAULT_WAIT_S, progress: bool = False) -> vg.Task:
        """Block until the task has a final status; returns it (whatever the status)."""
        display = ProgressDisplay(progress)
        task = None
        try:
            for task in self.watch_task(task_id, timeout):
                display.update(task)
        finally:
            display.close()
        assert task is not None  # watch_task yields at least once or raises
        return task

    def download(self, url: str, path: str | os.PathLike[str], timeout: float | None = None) -> Path:
        """Fetch a result URL into `path` (atomically)."""
        return download_url(url, path, timeout or self.timeout)

    def generate(self, prompt: str, output: str | os.PathLike[str], *, progress: bool = False,
                 timeout: float = DEFAULT_WAIT_S, **params: Unpack[CreateParams]) -> GeneratedVideo:
        """create_task + watch until done + download: writes OUTPUT (.mp4), OUTPUT.json (metadata)
        and, when the task made them, OUTPUT.preview.mp4 and OUTPUT.last.png. Raises a TaskError
        if the task fails, is cancelled or expires; Ctrl-C cancels the task on the server."""
        path = check_output(output)
        task = self.create_task(prompt, **params)
        try:
            task = self.wait(task.id, timeout, progress)
        except KeyboardInterrupt:
            self.cancel_task(task.id)
            raise
        check_outcome(task)
        result, fetch = output_plan(task, path)
        for url, target in fetch:
            self.download(url, target)
        result.metadata.write_text(task.result.metadata_json + "\n", encoding="utf-8")
        return result
