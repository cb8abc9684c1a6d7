"""Service-side errors and their gRPC status codes.

Library code raises typed errors (seedance.errors plus the task errors below); only the gRPC
layer turns them into a status, here, so every server (the reference server, the Ray Serve
gateway) answers the same code and message for the same mistake. Messages are "FIELD: RULE"
for bad input, which is what clients parse to name the field.
"""

from __future__ import annotations

import grpc

from seedance.errors import InvalidRequestError, SeedanceError


class TaskNotFoundError(SeedanceError, LookupError):
    """No task with this id (for this caller)."""

    def __init__(self, task_id: str):
        self.task_id = task_id
        super().__init__(f"task_id: no task {task_id!r}")

    def __reduce__(self):
        return (type(self), (self.task_id,))


class TaskStateError(SeedanceError):
    """The task is in a state that does not allow the operation (e.g. cancelling a finished task)."""


class QueueFullError(SeedanceError):
    """The caller already has the maximum number of queued tasks."""


class UnauthenticatedError(SeedanceError):
    """The call carries no valid API key."""


_CODES: list[tuple[type[BaseException], grpc.StatusCode]] = [
    (InvalidRequestError, grpc.StatusCode.INVALID_ARGUMENT),
    (TaskNotFoundError, grpc.StatusCode.NOT_FOUND),
    (TaskStateError, grpc.StatusCode.FAILED_PRECONDITION),
    (QueueFullError, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (UnauthenticatedError, grpc.StatusCode.UNAUTHENTICATED),
]


def grpc_status(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status code and message a server answers for `exc`; unknown errors are INTERNAL with
    the exception's class only, so no server internals leak into client messages."""
    for kind, code in _CODES:
        if isinstance(exc, kind):
            return code, str(exc)
    return grpc.StatusCode.INTERNAL, f"internal error ({exc.__class__.__name__})"
