"""An in-memory task store: the task lifecycle rules of the VideoGeneration API in one place.

The reference server keeps tasks here; the production gateway keeps them in Redis with the same
semantics (idempotency per caller, newest-first pages, queued-task expiry, cancel of a queued
task at once and of a running one between denoise steps, a per-caller cap on queued tasks).
One condition variable guards everything and wakes watchers on every change.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from seedance.errors import InvalidRequestError
from seedance.model.pipeline.request import GenerationRequest, Plan
from seedance.protos.seedance.v1 import common_pb2 as pb
from seedance.protos.seedance.v1 import video_generation_pb2 as vg
from seedance.services.errors import QueueFullError, TaskNotFoundError, TaskStateError
from seedance.services.validation import request_echo

FINAL = frozenset({pb.TASK_STATUS_SUCCEEDED, pb.TASK_STATUS_FAILED, pb.TASK_STATUS_CANCELLED,
                   pb.TASK_STATUS_EXPIRED})
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20


@dataclass
class Job:
    """What a worker needs to run one task."""

    task_id: str
    request: GenerationRequest
    plan: Plan
    return_last_frame: bool = False
    cancel: threading.Event = field(default_factory=threading.Event)


@dataclass
class _Entry:
    task: vg.Task
    owner: str
    seq: int
    job: Job
    version: int = 0


def check_list_args(statuses: list[int], page_size: int, page_token: str) -> tuple[int | None, int]:
    """ListTasks' arguments checked (every store applies the same rules): (before seq, page size)."""
    if not 0 <= page_size <= MAX_PAGE_SIZE:
        raise InvalidRequestError("page_size", f"must be in [0, {MAX_PAGE_SIZE}], got {page_size}")
    if any(s not in pb.TaskStatus.values() or s == pb.TASK_STATUS_UNSPECIFIED for s in statuses):
        raise InvalidRequestError("statuses", f"unknown or unspecified status in {list(statuses)}")
    try:
        before = int(page_token) if page_token else None
    except ValueError:
        raise InvalidRequestError("page_token", "not a token returned by ListTasks") from None
    return before, page_size or DEFAULT_PAGE_SIZE


def _copy(task: vg.Task) -> vg.Task:
    out = vg.Task()
    out.CopyFrom(task)
    return out


class MemoryTaskStore:
    def __init__(self, queue_ttl_s: float = 3600.0, result_ttl_s: float = 86400.0,
                 max_queued_per_owner: int = 120):
        self.queue_ttl_s = queue_ttl_s
        self.result_ttl_s = result_ttl_s
        self.max_queued_per_owner = max_queued_per_owner
        self._cond = threading.Condition()
        self._entries: dict[str, _Entry] = {}
        self._keys: dict[tuple[str, str], str] = {}  # (owner, idempotency key) -> task id
        self._queue: deque[str] = deque()
        self._seq = itertools.count(1)

    # -- client side ------------------------------------------------------------------------------
    def create(self, owner: str, raw: vg.CreateTaskRequest, request: GenerationRequest, plan: Plan) -> vg.Task:
        """Queue a validated request, or return the caller's task with the same idempotency key."""
        echo = request_echo(raw)
        with self._cond:
            key = echo.idempotency_key
            if key and (owner, key) in self._keys:
                return _copy(self._entries[self._keys[owner, key]].task)
            queued = sum(1 for e in self._entries.values()
                         if e.owner == owner and e.task.status == pb.TASK_STATUS_QUEUED)
            if queued >= self.max_queued_per_owner:
                raise QueueFullError(f"at most {self.max_queued_per_owner} queued tasks per caller")
            task = vg.Task(id=uuid.uuid4().hex, status=pb.TASK_STATUS_QUEUED, request=echo,
                           progress=pb.Progress())
            task.create_time.GetCurrentTime()
            task.expire_time.FromNanoseconds(time.time_ns() + int(self.queue_ttl_s * 1e9))
            job = Job(task.id, request, plan, return_last_frame=echo.return_last_frame)
            self._entries[task.id] = _Entry(task, owner, next(self._seq), job)
            if key:
                self._keys[owner, key] = task.id
            self._queue.append(task.id)
            self._cond.notify_all()
            return _copy(task)

    def find_by_key(self, owner: str, idempotency_key: str) -> vg.Task | None:
        """The caller's task created with this idempotency key, if any."""
        with self._cond:
            task_id = self._keys.get((owner, idempotency_key)) if idempotency_key else None
            return _copy(self._entries[task_id].task) if task_id else None

    def _entry(self, owner: str, task_id: str) -> _Entry:
        if not task_id:
            raise InvalidRequestError("task_id", "must not be empty")
        entry = self._entries.get(task_id)
        if entry is None or entry.owner != owner:  # another caller's task does not exist for you
            raise TaskNotFoundError(task_id)
        return entry

    def get(self, owner: str, task_id: str) -> vg.Task:
        with self._cond:
            return _copy(self._entry(owner, task_id).task)

    def list(self, owner: str, statuses: list[int], page_size: int, page_token: str) -> tuple[list[vg.Task], str]:
        """One page of the caller's tasks, newest first; the token is the last task's sequence number."""
        before, size = check_list_args(statuses, page_size, page_token)
        with self._cond:
            found = sorted((e for e in self._entries.values() if e.owner == owner
                            and (not statuses or e.task.status in statuses)
                            and (before is None or e.seq < before)), key=lambda e: -e.seq)
            page = found[:size]
            token = str(page[-1].seq) if len(found) > size else ""
            return [_copy(e.task) for e in page], token

    def cancel(self, owner: str, task_id: str) -> vg.Task:
        with self._cond:
            entry = self._entry(owner, task_id)
            status = entry.task.status
            if status == pb.TASK_STATUS_QUEUED:
                self._finish(entry, pb.TASK_STATUS_CANCELLED, "cancelled by the client")
            elif status == pb.TASK_STATUS_RUNNING:
                entry.job.cancel.set()  # the worker stops between steps and marks it CANCELLED
            elif status != pb.TASK_STATUS_CANCELLED:
                raise TaskStateError(f"task_id: task {task_id} is {pb.TaskStatus.Name(status)}; "
                                     "only queued or running tasks can be cancelled")
            return _copy(entry.task)

    def watch(self, owner: str, task_id: str, active: Callable[[], bool], max_s: float = 3600.0,
              poll_s: float = 0.25) -> Iterator[vg.Task]:
        """The task now, then after every change, until a final status, `active()` is false or
        `max_s` passes (a bounded loop: a dead client cannot pin a server thread forever)."""
        deadline = time.monotonic() + max_s
        seen = -1
        while active() and time.monotonic() < deadline:
            with self._cond:
                entry = self._entry(owner, task_id)
                if entry.version == seen:
                    self._cond.wait(timeout=poll_s)
                    continue
                seen, snapshot = entry.version, _copy(entry.task)
            yield snapshot
            if snapshot.status in FINAL:
                return

    # -- worker side ------------------------------------------------------------------------------
    def take(self, timeout: float) -> Job | None:
        """The oldest queued task, now RUNNING; queued tasks past their expiry become EXPIRED."""
        with self._cond:
            end = time.monotonic() + timeout
            while True:
                while self._queue:
                    entry = self._entries[self._queue.popleft()]
                    if entry.task.status != pb.TASK_STATUS_QUEUED:
                        continue  # cancelled while queued
                    if entry.task.expire_time.ToNanoseconds() < time.time_ns():
                        self._finish(entry, pb.TASK_STATUS_EXPIRED, "waited in the queue past its expiry")
                        continue
                    entry.task.status = pb.TASK_STATUS_RUNNING
                    entry.task.start_time.GetCurrentTime()
                    entry.task.ClearField("expire_time")
                    self._touch(entry)
                    return entry.job
                left = end - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(timeout=left)

    def update(self, task_id: str, change: Callable[[vg.Task], None]) -> None:
        """Apply `change` to the stored task (progress, preview URL) and wake its watchers."""
        with self._cond:
            entry = self._entries[task_id]
            change(entry.task)
            self._touch(entry)

    def finish(self, task_id: str, status: int, error_message: str = "", result: vg.TaskResult | None = None) -> None:
        with self._cond:
            entry = self._entries[task_id]
            if result is not None:
                entry.task.result.CopyFrom(result)
            self._finish(entry, status, error_message)

    def _finish(self, entry: _Entry, status: int, error_message: str) -> None:
        entry.task.status = status
        entry.task.error_message = error_message
        entry.task.end_time.GetCurrentTime()
        entry.task.expire_time.FromNanoseconds(time.time_ns() + int(self.result_ttl_s * 1e9))
        self._touch(entry)

    def _touch(self, entry: _Entry) -> None:
        entry.version += 1
        self._cond.notify_all()
