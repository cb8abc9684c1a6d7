"""Object storage for task outputs (videos, previews, last frames, metadata) and large tensors.

Plain S3 through the `minio` client: SeaweedFS on loopback for local runs and tests, MinIO in
the chart. Object keys are always made here from our own task ids and a fixed set of names,
never from user input. Downloads are presigned GET URLs that expire (`url_expiry_s`).

A task's outputs are published all or nothing: if any upload fails, the ones already written
are removed and the error is raised, so a task never points at half its files.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from seedance.errors import ConfigError
from seedance.protos.seedance.v1 import common_pb2 as pb

OUTPUT_NAMES = ("video.mp4", "video.preview.mp4", "video.json", "video.png", "last_frame.png")
_TASK_ID = re.compile(r"^[0-9a-f]{32}$")
_CONTENT_TYPES = {".mp4": "video/mp4", ".json": "application/json", ".png": "image/png"}


@dataclass(frozen=True)
class S3Settings:
    """Where the object store is. `endpoint` is host:port; secrets come from the environment or a
    file, never from values files or code."""

    endpoint: str
    access_key: str
    secret_key: str
    bucket: str = "seedance"
    secure: bool = False
    region: str = "us-east-1"  # set, so presigning never asks the server for the bucket's region
    url_expiry_s: int = 3600

    @classmethod
    def from_env(cls, prefix: str = "SEEDANCE_S3_") -> S3Settings:
        env = os.environ.get
        endpoint = env(prefix + "ENDPOINT", "")
        if not endpoint:
            raise ConfigError(f"object storage: set {prefix}ENDPOINT (host:port)")
        access, secret = env(prefix + "ACCESS_KEY", ""), env(prefix + "SECRET_KEY", "")
        if not access or not secret:
            raise ConfigError(f"object storage: set {prefix}ACCESS_KEY and {prefix}SECRET_KEY")
        return cls(endpoint.split("://", 1)[-1].rstrip("/"), access, secret, bucket=env(prefix + "BUCKET", "seedance"),
                   secure=env(prefix + "SECURE", "1" if endpoint.startswith("https://") else "0") == "1",
                   region=env(prefix + "REGION", "us-east-1"),
                   url_expiry_s=int(env(prefix + "URL_EXPIRY_S", "3600")))


class ObjectStorage:
    def __init__(self, settings: S3Settings, client: Any = None):
        from minio import Minio

        self.settings = settings
        self.bucket = settings.bucket
        self.client = client or Minio(settings.endpoint, access_key=settings.access_key,
                                      secret_key=settings.secret_key, secure=settings.secure,
                                      region=settings.region)

    def ensure_bucket(self) -> None:
        if not self.client.bucket_exists(self.bucket):
            self.client.make_bucket(self.bucket)

    @staticmethod
    def output_key(task_id: str, name: str) -> str:
        if not _TASK_ID.match(task_id) or name not in OUTPUT_NAMES:
            raise ValueError(f"not a task output: {task_id!r}/{name!r}")
        return f"tasks/{task_id}/{name}"

    def url(self, key: str) -> str:
        return self.client.presigned_get_object(self.bucket, key, expires=timedelta(seconds=self.settings.url_expiry_s))

    def publish(self, task_id: str, files: dict[str, Path]) -> dict[str, str]:
        """Upload a task's output files (name -> local path); returns name -> presigned URL.
        All or nothing: a failed upload removes the ones already written."""
        done: list[str] = []
        try:
            for name, path in files.items():
                key = self.output_key(task_id, name)
                self.client.fput_object(self.bucket, key, str(path),
                                        content_type=_CONTENT_TYPES.get(Path(name).suffix, "application/octet-stream"))
                done.append(key)
        except BaseException:
            self.remove(done)
            raise
        return {name: self.url(self.output_key(task_id, name)) for name in files}

    def remove(self, keys: list[str]) -> None:
        for key in keys:  # best effort: the bucket's lifecycle rule removes leftovers
            with contextlib.suppress(Exception):
                self.client.remove_object(self.bucket, key)

    def remove_task(self, task_id: str) -> None:
        self.remove([self.output_key(task_id, n) for n in OUTPUT_NAMES])

    # -- wire.BlobStore: tensors too large to send inline --------------------------------------
    def put(self, data: bytes) -> pb.ObjectRef:
        digest = hashlib.sha256(data).hexdigest()
        key = f"blobs/{digest}"
        self.client.put_object(self.bucket, key, io.BytesIO(data), len(data), content_type="application/octet-stream")
        return pb.ObjectRef(bucket=self.bucket, key=key, size=len(data), sha256=digest)

    def get(self, ref: pb.ObjectRef) -> bytes:
        if ref.bucket != self.bucket or not re.fullmatch(r"blobs/[0-9a-f]{64}", ref.key):
            raise ValueError(f"not a tensor blob of this store: {ref.bucket}/{ref.key}")
        response = self.client.get_object(ref.bucket, ref.key)
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()
