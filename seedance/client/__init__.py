"""The Seedance client SDK: a light gRPC client of the VideoGeneration API (grpcio + protobuf only;
importing it never imports torch).

    from seedance.client import SeedanceClient

    with SeedanceClient("localhost:50051", api_key="...") as client:
        video = client.generate("a red circle moves to the right", output="circle.mp4", progress=True)
        print(video.video, video.task.result.seed)

`AsyncSeedanceClient` has the same methods as coroutines. Errors are in `seedance.client.errors`.
Authentication: the API key is sent as `authorization: Bearer <key>` metadata.
"""

from seedance.client._common import Backoff, CreateParams, GeneratedVideo
from seedance.client.aio import AsyncSeedanceClient
from seedance.client.errors import (
    ClientError,
    DownloadError,
    InvalidArgumentError,
    NotFoundError,
    RpcError,
    TaskCancelledError,
    TaskError,
    TaskExpiredError,
    TaskFailedError,
    UnavailableError,
)
from seedance.client.sync import SeedanceClient
from seedance.protos.seedance.v1.common_pb2 import Progress, Stage, TaskStatus
from seedance.protos.seedance.v1.video_generation_pb2 import (
    CreateTaskRequest,
    ListTasksResponse,
    Task,
    TaskResult,
)

__all__ = [
    "AsyncSeedanceClient", "Backoff", "ClientError", "CreateParams", "CreateTaskRequest", "DownloadError",
    "GeneratedVideo", "InvalidArgumentError", "ListTasksResponse", "NotFoundError", "Progress", "RpcError",
    "SeedanceClient", "Stage", "Task", "TaskCancelledError", "TaskError", "TaskExpiredError", "TaskFailedError",
    "TaskResult", "TaskStatus", "UnavailableError",
]
