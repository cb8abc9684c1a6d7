"""The durable task store: task records, the queue and worker leases in Redis.

Same rules as MemoryTaskStore (idempotency per caller, newest-first pages, a per-caller cap on
queued tasks, queued-task expiry, cancel of a queued task at once and of a running one between
denoise steps), shared by every gateway replica, and surviving any of them:

- A worker holds a running task under a lease (a key with a TTL) that it renews while it works.
  `recover()` (every replica runs it periodically) finds running tasks whose lease lapsed, so a
  task whose replica died is queued again, at most `max_attempts` times in all, then failed
  with the reason. No task stays RUNNING without a live worker.
- The stored job is the full CreateTaskRequest (image bytes included) with the seed already
  resolved, so a retried task re-validates to the same plan and generates the same video.
- Callers are stored as a hash of their API key, never the key itself.

Keys (PREFIX defaults to "seedance"): task:ID (hash: pb, owner, seq, cancel, attempts),
events:ID (a stream: the task after each change, for WatchTask), req:ID, idem:OWNER:KEYHASH, owner:OWNER:tasks (zset by seq), owner:OWNER:queued
(set), queued (zset by expiry time), queue (list), running (set), lease:ID, seq.
Every transition is a WATCH/MULTI transaction on the task's hash.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import redis

from seedance.errors import InvalidRequestError
from seedance.model.pipeline.request import Plan
from seedance.protos.seedance.v1 import common_pb2 as pb
from seedance.protos.seedance.v1 import video_generation_pb2 as vg
from seedance.services.errors import QueueFullError, TaskNotFoundError, TaskStateError
from seedance.services.task_store import FINAL, check_list_args
from seedance.services.validation import request_echo

EVENTS_KEPT = 1000  # per task: about one per denoise step


def owner_id(caller: str) -> str:
    """What the store keeps for a caller: a hash of the API key (keys are secrets)."""
    return hashlib.sha256(caller.encode()).hexdigest()[:32]


@dataclass
class RedisJob:
    """A task taken by a worker: the request to run (re-validated by the worker) and its attempt."""

    task_id: str
    request: vg.CreateTaskRequest
    attempt: int

    @property
    def return_last_frame(self) -> bool:
        return self.request.return_last_frame


class RedisTaskStore:
    def __init__(self, url: str = "redis://127.0.0.1:6379/0", prefix: str = "seedance", queue_ttl_s: float = 3600.0,
                 result_ttl_s: float = 86400.0, max_queued_per_owner: int = 120, lease_s: float = 10.0,
                 max_attempts: int = 2, client: redis.Redis | None = None):
        self.r = client or redis.Redis.from_url(url)
        self.p = prefix
        self.queue_ttl_s, self.result_ttl_s = queue_ttl_s, result_ttl_s
        self.max_queued_per_owner = max_queued_per_owner
        self.lease_s, self.max_attempts = lease_s, max_attempts

    def _k(self, *parts: str) -> str:
        return ":".join((self.p, *parts))

    def ping(self) -> bool:
        return bool(self.r.ping())

    # -- reading ----------------------------------------------------------------------------------
    def _load(self, task_id: str) -> tuple[vg.Task, dict[str, str]] | None:
        raw = self.r.hgetall(self._k("task", task_id))
        if not raw:
            return None
        fields = {k.decode(): v for k, v in raw.items()}
        task = vg.Task.FromString(fields.pop("pb"))
        return task, {k: v.decode() for k, v in fields.items()}

    def _owned(self, owner: str, task_id: str) -> vg.Task:
        if not task_id:
            raise InvalidRequestError("task_id", "must not be empty")
        found = self._load(task_id)
        if found is None or found[1]["owner"] != owner_id(owner):  # another caller's task does not exist for you
            raise TaskNotFoundError(task_id)
        return found[0]

    def get(self, owner: str, task_id: str) -> vg.Task:
        return self._owned(owner, task_id)

    def find_by_key(self, owner: str, idempotency_key: str) -> vg.Task | None:
        if not idempotency_key:
            return None
        task_id = self.r.get(self._idem_key(owner, idempotency_key))
        found = self._load(task_id.decode()) if task_id else None
        return found[0] if found else None

    def _idem_key(self, owner: str, key: str) -> str:
        return self._k("idem", owner_id(owner), hashlib.sha256(key.encode()).hexdigest())

    def list(self, owner: str, statuses: list[int], page_size: int, page_token: str) -> tuple[list[vg.Task], str]:
        before, size = check_list_args(statuses, page_size, page_token)
        index = self._k("owner", owner_id(owner), "tasks")
        top = f"({before}" if before is not None else "+inf"
        page: list[tuple[vg.Task, int]] = []
        more = False
        cursor = top
        while not more:  # walk newest first in chunks, skipping filtered-out and expired tasks
            chunk = self.r.zrevrangebyscore(index, cursor, "-inf", start=0, num=max(size * 2, 50), withscores=True)
            if not chunk:
                break
            for member, score in chunk:
                found = self._load(member.decode())
                if found is None:
                    self.r.zrem(index, member)  # its record expired
                elif not statuses or found[0].status in statuses:
                    if len(page) == size:
                        more = True
                        break
                    page.append((found[0], int(score)))
            cursor = f"({int(chunk[-1][1])}"
        return [t for t, _ in page], (str(page[-1][1]) if more and page else "")

    def watch(self, owner: str, task_id: str, active: Callable[[], bool], max_s: float = 3600.0,
              poll_s: float = 0.2) -> Iterator[vg.Task]:
        """The task now, then after every change, until a final status, `active()` is false or
        `max_s` passes. Every change is an entry of the task's event stream (written in the same
        transaction as the record), so none is skipped; reads block at most `poll_s` at a time."""
        deadline = time.monotonic() + max_s
        self._owned(owner, task_id)
        key = self._k("events", task_id)
        last = self.r.xrevrange(key, count=1)  # the newest entry is the task now
        if not last:
            raise TaskNotFoundError(task_id)
        entries, cursor = last, last[0][0]
        while True:
            for entry_id, fields in entries:
                cursor = entry_id
                task = vg.Task.FromString(fields[b"pb"])
                yield task
                if task.status in FINAL:
                    return
            if not (active() and time.monotonic() < deadline):
                return
            got = self.r.xread({key: cursor}, block=max(1, int(poll_s * 1000)), count=100)
            entries = got[0][1] if got else []
            if not entries and not self.r.exists(key):
                raise TaskNotFoundError(task_id)  # its record expired meanwhile

    # -- writing ----------------------------------------------------------------------------------
    def _mutate(self, task_id: str, change: Callable[[vg.Task, dict[str, str], Any], Any]) -> Any:
        """Apply `change(task, fields, pipe)` atomically: it edits the task and may queue more
        commands on `pipe` (already in MULTI); the task is written back and appended to its
        event stream."""
        key = self._k("task", task_id)
        out: list[Any] = []

        def txn(pipe: redis.client.Pipeline) -> None:
            out.clear()
            raw = pipe.hgetall(key)
            if not raw:
                raise TaskNotFoundError(task_id)
            fields = {k.decode(): v for k, v in raw.items()}
            task = vg.Task.FromString(fields.pop("pb"))
            fields = {k: v.decode() for k, v in fields.items()}
            pipe.multi()
            out.append(change(task, fields, pipe))
            data = task.SerializeToString()
            pipe.hset(key, mapping={"pb": data})
            self._event(pipe, task_id, data)

        self.r.transaction(txn, key)
        return out[0] if out else None

    def _event(self, pipe: Any, task_id: str, data: bytes) -> None:
        # Bounded: a watcher needs the changes since it last read, not the whole history.
        pipe.xadd(self._k("events", task_id), {"pb": data}, maxlen=EVENTS_KEPT, approximate=True)

    def create(self, owner: str, request: vg.CreateTaskRequest, gen: Any, plan: Plan) -> vg.Task:
        """Queue a validated request (stored with its resolved seed, `plan.seed`), or return the
        caller's task with the same idempotency key."""
        seed = plan.seed
        oid = owner_id(owner)
        key = request.idempotency_key
        idem = self._idem_key(owner, key) if key else None
        queued_set = self._k("owner", oid, "queued")
        task_id = uuid.uuid4().hex
        job = vg.CreateTaskRequest()
        job.CopyFrom(request)
        job.seed = seed
        result: list[vg.Task] = []

        def txn(pipe: redis.client.Pipeline) -> None:
            result.clear()
            if idem and (earlier := pipe.get(idem)):
                found = self._load(earlier.decode())
                if found is not None:
                    result.append(found[0])
                    return
            if pipe.scard(queued_set) >= self.max_queued_per_owner:
                raise QueueFullError(f"at most {self.max_queued_per_owner} queued tasks per caller")
            task = vg.Task(id=task_id, status=pb.TASK_STATUS_QUEUED, request=request_echo(request),
                           progress=pb.Progress())
            task.create_time.GetCurrentTime()
            expire = time.time() + self.queue_ttl_s
            task.expire_time.FromNanoseconds(int(expire * 1e9))
            pipe.multi()
            seq = int(time.time_ns() // 1000)  # microseconds: ordered across replicas, unique enough with the id tiebreak
            pipe.hset(self._k("task", task_id), mapping={"pb": task.SerializeToString(), "owner": oid, "seq": seq,
                                                         "cancel": 0, "attempts": 0})
            self._event(pipe, task_id, task.SerializeToString())
            pipe.set(self._k("req", task_id), job.SerializeToString())
            if idem:
                pipe.set(idem, task_id, ex=int(self.queue_ttl_s + self.result_ttl_s) + 60)
            pipe.zadd(self._k("owner", oid, "tasks"), {task_id: seq})
            pipe.sadd(queued_set, task_id)
            pipe.zadd(self._k("queued"), {task_id: expire})
            pipe.rpush(self._k("queue"), task_id)
            result.append(task)

        watches = [queued_set] + ([idem] if idem else [])
        self.r.transaction(txn, *watches)
        return result[0]

    def cancel(self, owner: str, task_id: str) -> vg.Task:
        self._owned(owner, task_id)

        def change(task: vg.Task, fields: dict[str, str], pipe: Any) -> None:
            if task.status == pb.TASK_STATUS_QUEUED:
                self._finish(task, fields, pipe, pb.TASK_STATUS_CANCELLED, "cancelled by the client")
            elif task.status == pb.TASK_STATUS_RUNNING:
                pipe.hset(self._k("task", task.id), "cancel", 1)  # the worker stops between steps
            elif task.status != pb.TASK_STATUS_CANCELLED:
                raise TaskStateError(f"task_id: task {task.id} is {pb.TaskStatus.Name(task.status)}; "
                                     "only queued or running tasks can be cancelled")

        self._mutate(task_id, change)
        return self._owned(owner, task_id)

    def running_count(self) -> int:
        """Tasks a worker has taken and not finished."""
        return int(self.r.scard(self._k("running")))

    def cancel_requested(self, task_id: str) -> bool:
        return self.r.hget(self._k("task", task_id), "cancel") == b"1"

    # -- worker side ------------------------------------------------------------------------------
    def take(self, timeout: float, worker: str = "") -> RedisJob | None:
        """The oldest queued task, now RUNNING under this worker's lease, or None after `timeout`."""
        end = time.monotonic() + timeout
        while (left := end - time.monotonic()) > 0:
            popped = self.r.blpop([self._k("queue")], timeout=max(left, 0.01))
            if popped is None:
                return None
            task_id = popped[1].decode()
            try:
                attempt = self._mutate(task_id, lambda t, f, p: self._start(t, f, p, worker))
            except TaskNotFoundError:
                continue  # expired record
            if attempt is None:
                continue  # cancelled or expired while queued
            raw = self.r.get(self._k("req", task_id))
            if raw is None:
                self.finish(task_id, pb.TASK_STATUS_FAILED, "the task's stored request was lost")
                continue
            return RedisJob(task_id, vg.CreateTaskRequest.FromString(raw), attempt)
        return None

    def _start(self, task: vg.Task, fields: dict[str, str], pipe: Any, worker: str) -> int | None:
        if task.status != pb.TASK_STATUS_QUEUED:
            return None
        if task.expire_time.ToNanoseconds() < time.time_ns():
            self._finish(task, fields, pipe, pb.TASK_STATUS_EXPIRED, "waited in the queue past its expiry")
            return None
        attempt = int(fields.get("attempts", 0)) + 1
        task.status = pb.TASK_STATUS_RUNNING
        task.start_time.GetCurrentTime()
        task.ClearField("expire_time")
        pipe.hset(self._k("task", task.id), "attempts", attempt)
        pipe.srem(self._k("owner", fields["owner"], "queued"), task.id)
        pipe.zrem(self._k("queued"), task.id)
        pipe.sadd(self._k("running"), task.id)
        pipe.set(self._k("lease", task.id), worker or "worker", px=int(self.lease_s * 1000))
        return attempt

    def heartbeat(self, task_id: str, worker: str = "") -> None:
        """Renew the running task's lease (call well within lease_s)."""
        self.r.set(self._k("lease", task_id), worker or "worker", px=int(self.lease_s * 1000))

    def update(self, task_id: str, change: Callable[[vg.Task], None]) -> None:
        self._mutate(task_id, lambda t, f, p: change(t))

    def finish(self, task_id: str, status: int, error_message: str = "", result: vg.TaskResult | None = None) -> None:
        def change(task: vg.Task, fields: dict[str, str], pipe: Any) -> None:
            if result is not None:
                task.result.CopyFrom(result)
            self._finish(task, fields, pipe, status, error_message)

        self._mutate(task_id, change)

    def _finish(self, task: vg.Task, fields: dict[str, str], pipe: Any, status: int, error_message: str) -> None:
        task.status = status
        task.error_message = error_message
        task.end_time.GetCurrentTime()
        task.expire_time.FromNanoseconds(time.time_ns() + int(self.result_ttl_s * 1e9))
        ttl = int(self.result_ttl_s) + 1
        pipe.srem(self._k("owner", fields["owner"], "queued"), task.id)
        pipe.zrem(self._k("queued"), task.id)
        pipe.srem(self._k("running"), task.id)
        pipe.delete(self._k("lease", task.id), self._k("req", task.id))
        pipe.expire(self._k("task", task.id), ttl)
        pipe.expire(self._k("events", task.id), ttl)

    def recover(self) -> dict[str, int]:
        """Requeue (or fail, after max_attempts) running tasks whose worker's lease lapsed, and
        expire queued tasks past their expiry. Safe to run from every replica at once."""
        counts = {"requeued": 0, "failed": 0, "expired": 0}
        for member in self.r.smembers(self._k("running")):
            task_id = member.decode()
            if self.r.exists(self._k("lease", task_id)):
                continue
            try:
                outcome = self._mutate(task_id, self._recover_one)
            except TaskNotFoundError:
                self.r.srem(self._k("running"), task_id)
                continue
            if outcome:
                counts[outcome] += 1
        for member in self.r.zrangebyscore(self._k("queued"), "-inf", time.time()):
            try:
                outcome = self._mutate(member.decode(), self._expire_one)
            except TaskNotFoundError:
                self.r.zrem(self._k("queued"), member)
                continue
            if outcome:
                counts[outcome] += 1
        return counts

    def _recover_one(self, task: vg.Task, fields: dict[str, str], pipe: Any) -> str | None:
        if task.status != pb.TASK_STATUS_RUNNING or self.r.exists(self._k("lease", task.id)):
            return None
        attempts = int(fields.get("attempts", 0))
        if fields.get("cancel") == "1":
            self._finish(task, fields, pipe, pb.TASK_STATUS_CANCELLED, "cancelled by the client")
            return None
        if attempts >= self.max_attempts:
            self._finish(task, fields, pipe, pb.TASK_STATUS_FAILED,
                         f"the worker running this task stopped {attempts} times (replica lost); giving up")
            return "failed"
        task.status = pb.TASK_STATUS_QUEUED
        task.progress.CopyFrom(pb.Progress())
        task.ClearField("result")
        task.ClearField("start_time")
        expire = time.time() + self.queue_ttl_s
        task.expire_time.FromNanoseconds(int(expire * 1e9))
        pipe.srem(self._k("running"), task.id)
        pipe.sadd(self._k("owner", fields["owner"], "queued"), task.id)
        pipe.zadd(self._k("queued"), {task.id: expire})
        pipe.lpush(self._k("queue"), task.id)  # to the front: it has waited already
        return "requeued"

    def _expire_one(self, task: vg.Task, fields: dict[str, str], pipe: Any) -> str | None:
        if task.status != pb.TASK_STATUS_QUEUED or task.expire_time.ToNanoseconds() > time.time_ns():
            return None
        self._finish(task, fields, pipe, pb.TASK_STATUS_EXPIRED, "waited in the queue past its expiry")
        return "expired"

    def queue_depth(self) -> int:
        return int(self.r.zcard(self._k("queued")))
