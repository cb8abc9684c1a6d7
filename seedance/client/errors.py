"""Errors the SDK raises: one class per gRPC status a caller may want to handle, plus task outcomes.

Every RpcError keeps the gRPC `code` and the server's message (`details`); an
InvalidArgumentError also names the request `field` (servers answer "FIELD: RULE").
"""

from __future__ import annotations

from typing import Any

import grpc

from seedance.errors import SeedanceError


class ClientError(SeedanceError):
    """Base class of every error the SDK raises."""


class RpcError(ClientError):
    """A call failed with a gRPC status."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(self, code: grpc.StatusCode, details: str):
        self.code = code
        self.details = details
        super().__init__(f"{code.name}: {details}")


class InvalidArgumentError(RpcError, ValueError):
    """The request broke a rule; `field` names the offending request field ("" if unknown)."""

    def __init__(self, code: grpc.StatusCode, details: str):
        super().__init__(code, details)
        head, sep, _ = details.partition(": ")
        self.field = head if sep and " " not in head else ""


class NotFoundError(RpcError, LookupError):
    """No such task (or not one of the caller's)."""


class FailedPreconditionError(RpcError):
    """The task's state does not allow the operation (e.g. cancelling a finished task)."""


class ResourceExhaustedError(RpcError):
    """A quota or size limit was hit (e.g. too many queued tasks)."""


class UnauthenticatedError(RpcError):
    """Missing or invalid API key."""


class PermissionDeniedError(RpcError):
    """The API key may not do this."""


class UnavailableError(RpcError):
    """The service could not be reached, even after the client's retries."""


class DeadlineExceededError(RpcError, TimeoutError):
    """The call's deadline passed."""


class CancelledError(RpcError):
    """The call was cancelled."""


class InternalError(RpcError):
    """The server failed (INTERNAL, UNKNOWN, DATA_LOSS, UNIMPLEMENTED, ...)."""


_BY_CODE: dict[grpc.StatusCode, type[RpcError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.OUT_OF_RANGE: InvalidArgumentError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPreconditionError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhaustedError,
    grpc.StatusCode.UNAUTHENTICATED: UnauthenticatedError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
    grpc.StatusCode.CANCELLED: CancelledError,
}


def from_grpc(error: grpc.RpcError) -> RpcError:
    """The SDK exception for a failed call (sync or asyncio)."""
    err: Any = error  # grpc.RpcError's code()/details() exist on every concrete error, not the base
    code = err.code() if callable(getattr(err, "code", None)) else grpc.StatusCode.UNKNOWN
    details = (err.details() if callable(getattr(err, "details", None)) else "") or str(code)
    return _BY_CODE.get(code, InternalError)(code, details)


class TaskError(ClientError):
    """A task ended without a result (raised by generate / wait)."""

    def __init__(self, task: Any, message: str):
        self.task = task
        super().__init__(message)


class TaskFailedError(TaskError):
    """The task FAILED; the message is the server's error_message."""


class TaskCancelledError(TaskError):
    """The task was CANCELLED."""


class TaskExpiredError(TaskError):
    """The task EXPIRED (waited in the queue too long, or its result was deleted)."""


class DownloadError(ClientError):
    """A result URL could not be downloaded."""
