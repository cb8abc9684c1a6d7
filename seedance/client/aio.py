"""The asyncio client (grpc.aio): the same surface as SeedanceClient, every method awaitable.

    async with AsyncSeedanceClient("localhost:50051") as client:
        video = await client.generate("a red circle moves to the right", output="out.mp4")

Create it inside a running event loop (grpc.aio channels bind to the loop that uses them).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import grpc
import grpc.aio

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


class AsyncSeedanceClient:
    """A VideoGeneration asyncio client; the arguments mean what they mean for SeedanceClient."""

    def __init__(self, endpoint: str, api_key: str | None = None, tls: bool = False,
                 root_certificates: bytes | str | os.PathLike[str] | None = None,
                 timeout: float = DEFAULT_TIMEOUT_S, retries: int = DEFAULT_RETRIES,
                 backoff: Backoff | None = None, options: Iterable[tuple[str, Any]] = (),
                 metadata: Iterable[tuple[str, str]] = ()):
        creds = channel_credentials(tls, root_certificates)
        opts = [*CHANNEL_OPTIONS, *options]
        self._channel = (grpc.aio.secure_channel(endpoint, creds, opts) if creds is not None
                         else grpc.aio.insecure_channel(endpoint, opts))
        self._stub = vg_grpc.VideoGenerationStub(self._channel)
        self._metadata = (*auth_metadata(api_key), *metadata)
        self.timeout = timeout
        self.backoff = backoff or Backoff(retries=retries)

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> AsyncSeedanceClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _call(self, method: Callable[..., Awaitable[R]], request: Any, timeout: float | None) -> R:
        retry = 0
        while True:
            try:
                return await method(request, timeout=timeout or self.timeout, metadata=self._metadata)
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.UNAVAILABLE or retry >= self.backoff.retries:
                    raise from_grpc(e) from None
            await asyncio.sleep(self.backoff.delay(retry))
            retry += 1

    # -- the API ----------------------------------------------------------------------------------
    async def create_task(self, prompt: str, *, timeout: float | None = None,
                          **params: Unpack[CreateParams]) -> vg.Task:
        """Queue a generation; returns the task (QUEUED). Parameters: see CreateParams."""
        return await self._call(self._stub.CreateTask, build_create_request(prompt, params), timeout)

    async def get_task(self, task_id: str, *, timeout: float | None = None) -> vg.Task:
        return await self._call(self._stub.GetTask, vg.GetTaskRequest(task_id=task_id), timeout)

    async def list_tasks(self, statuses: Iterable[int | str] = (), page_size: int = 0, page_token: str = "", *,
                         timeout: float | None = None) -> vg.ListTasksResponse:
        request = vg.ListTasksRequest(statuses=[status_value(s) for s in statuses], page_size=page_size,
                                      page_token=page_token)
        return await self._call(self._stub.ListTasks, request, timeout)

    async def iter_tasks(self, statuses: Iterable[int | str] = (), page_size: int = 0, max_pages: int = 1000
                         ) -> AsyncIterator[vg.Task]:
        wanted, token = list(statuses), ""
        for _ in range(max_pages):
            page = await self.list_tasks(wanted, page_size, token)
            for task in page.tasks:
                yield task
            token = page.next_page_token
            if not token:
                return

    async def cancel_task(self, task_id: str, *, timeout: float | None = None) -> vg.Task:
        return await self._call(self._stub.CancelTask, vg.CancelTaskRequest(task_id=task_id), timeout)

    async def watch_task(self, task_id: str, timeout: float = DEFAULT_WAIT_S) -> AsyncIterator[vg.Task]:
        """The task now and at every change, until a final status (see SeedanceClient.watch_task)."""
        deadline = time.monotonic() + timeout
        failures = 0
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise DeadlineExceededError(grpc.StatusCode.DEADLINE_EXCEEDED,
                                            f"task {task_id}: no final status within {timeout:g} s")
            call = self._stub.WatchTask(vg.WatchTaskRequest(task_id=task_id), timeout=left, metadata=self._metadata)
            received = False
            try:
                async for task in call:
                    received, failures = True, 0
                    yield task
                    if task.status in FINAL:
                        return
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.UNAVAILABLE or failures >= self.backoff.retries:
                    raise from_grpc(e) from None
            finally:
                call.cancel()
            if not received:
                if failures >= self.backoff.retries:
                    raise UnavailableError(grpc.StatusCode.UNAVAILABLE, f"task {task_id}: the watch stream keeps closing")
                await asyncio.sleep(self.backoff.delay(failures))
                failures += 1

    async def wait(self, task_id: str, timeout: float = DEFAULT_WAIT_S, progress: bool = False) -> vg.Task:
        display = ProgressDisplay(progress)
        task = None
        try:
            async for task in self.watch_task(task_id, timeout):
                display.update(task)
        finally:
            display.close()
        assert task is not None
        return task

    async def download(self, url: str, path: str | os.PathLike[str], timeout: float | None = None) -> Path:
        """Fetch a result URL into `path` (in a thread: urllib blocks)."""
        return await asyncio.to_thread(download_url, url, path, timeout or self.timeout)

    async def generate(self, prompt: str, output: str | os.PathLike[str], *, progress: bool = False,
                       timeout: float = DEFAULT_WAIT_S, **params: Unpack[CreateParams]) -> GeneratedVideo:
        """create_task + watch until done + download (see SeedanceClient.generate). Cancelling the
        coroutine cancels the task on the server."""
        path = check_output(output)
        task = await self.create_task(prompt, **params)
        try:
            task = await self.wait(task.id, timeout, progress)
        except asyncio.CancelledError:
            await asyncio.shield(self.cancel_task(task.id))
            raise
        check_outcome(task)
        result, fetch = output_plan(task, path)
        for url, target in fetch:
            await self.download(url, target)
        await asyncio.to_thread(result.metadata.write_text, task.result.metadata_json + "\n", "utf-8")
        return result
