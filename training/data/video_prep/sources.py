"""Where raw videos come from: a local directory or an S3 prefix, behind one small interface.

`list_sources` runs once on the driver and pairs each video with its caption sidecar (found in
the same listing, so no request per video); workers then open one source at a time with
`local_copy` (S3 objects are downloaded to a temporary file and deleted after) and read the
sidecar with `read_text`. Sources are plain dicts (`SourceItem.to_dict`) so they cross Ray's
serialisation boundary as JSON.

S3 uses the `minio` client. Connection settings come from the environment: SEEDANCE_S3_ENDPOINT
(host:port, or AWS_ENDPOINT_URL), SEEDANCE_S3_ACCESS_KEY / SEEDANCE_S3_SECRET_KEY (or
AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY), SEEDANCE_S3_SECURE (1 for TLS, default 1 unless the
endpoint URL says http://), SEEDANCE_S3_REGION.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from seedance.training.data.clips import VIDEO_SUFFIXES
from seedance.training.data.latents import DatasetError

SIDECAR_ORDER = ("{stem}.json", "{name}.json", "{stem}.txt", "{name}.txt")


@dataclass(frozen=True)
class SourceItem:
    uri: str  # a local path or s3://bucket/key
    name: str  # path relative to the input root ('/'-separated): ids and reports use it
    sidecar: str | None = None  # uri of the caption sidecar, if any

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict[str, Any]) -> SourceItem:
        return SourceItem(d["uri"], d["name"], d.get("sidecar"))


def _pair_sidecars(names: list[str], all_names: set[str]) -> list[tuple[str, str | None]]:
    out = []
    for name in names:
        p = PurePosixPath(name)
        candidates = [str(p.parent / pat.format(stem=p.stem, name=p.name)) for pat in SIDECAR_ORDER]
        out.append((name, next((c for c in candidates if c in all_names), None)))
    return out


def _is_video(name: str) -> bool:
    return PurePosixPath(name).suffix.lower() in VIDEO_SUFFIXES


def _list_local(root: Path, exclude: Path | None) -> list[SourceItem]:
    if not root.is_dir():
        raise DatasetError(f"{root}: input directory does not exist")
    excluded = exclude.resolve() if exclude is not None else None
    files = []
    for p in sorted(root.rglob("*")):
        if not p.is_file() or p.name.startswith("."):
            continue
        if excluded is not None and p.resolve().is_relative_to(excluded):
            continue  # an output folder inside the input must not be read back as input
        files.append(p.relative_to(root).as_posix())
    videos = [n for n in files if _is_video(n)]
    pairs = _pair_sidecars(videos, set(files))
    base = root.resolve()  # absolute: Ray workers need not share the driver's working directory
    return [SourceItem(str(base / n), n, None if s is None else str(base / s)) for n, s in pairs]


def split_s3(uri: str) -> tuple[str, str]:
    """s3://bucket/prefix -> (bucket, prefix)."""
    rest = uri[len("s3://"):]
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise DatasetError(f"{uri}: an S3 input is s3://bucket/prefix")
    return bucket, prefix


def s3_client() -> Any:
    """A minio client from the environment (see the module docstring)."""
    from minio import Minio

    env = os.environ.get
    endpoint = env("SEEDANCE_S3_ENDPOINT") or env("AWS_ENDPOINT_URL")
    if not endpoint:
        raise DatasetError("S3 input: set SEEDANCE_S3_ENDPOINT (host:port) or AWS_ENDPOINT_URL")
    secure_default = "0" if endpoint.startswith("http://") else "1"
    host = endpoint.split("://", 1)[-1].rstrip("/")
    return Minio(host, access_key=env("SEEDANCE_S3_ACCESS_KEY") or env("AWS_ACCESS_KEY_ID"),
                 secret_key=env("SEEDANCE_S3_SECRET_KEY") or env("AWS_SECRET_ACCESS_KEY"),
                 secure=env("SEEDANCE_S3_SECURE", secure_default) == "1", region=env("SEEDANCE_S3_REGION"))


def _list_s3(uri: str) -> list[SourceItem]:
    from minio.error import S3Error

    bucket, prefix = split_s3(uri)
    client = s3_client()
    base = prefix if not prefix or prefix.endswith("/") else prefix + "/"
    try:
        if not client.bucket_exists(bucket):
            raise DatasetError(f"{uri}: bucket {bucket!r} does not exist")
        keys = sorted(o.object_name for o in client.list_objects(bucket, prefix=base, recursive=True)
                      if not o.is_dir)
    except S3Error as e:
        raise DatasetError(f"{uri}: cannot list ({e.code}: {e.message})") from None
    rel = [k[len(base):] for k in keys]
    pairs = _pair_sidecars([n for n in rel if _is_video(n)], set(rel))
    return [SourceItem(f"s3://{bucket}/{base}{n}", n, None if s is None else f"s3://{bucket}/{base}{s}")
            for n, s in pairs]


def list_sources(input_uri: str, exclude: Path | None = None) -> list[SourceItem]:
    """Every video under a directory or S3 prefix, with its sidecar; an error if there is none."""
    items = _list_s3(input_uri) if input_uri.startswith("s3://") else _list_local(Path(input_uri), exclude)
    if not items:
        raise DatasetError(f"{input_uri}: no videos found (looked for {', '.join(VIDEO_SUFFIXES)})")
    return items


@contextmanager
def local_copy(uri: str) -> Iterator[Path]:
    """A local file holding the object: the path itself, or a temporary download."""
    if not uri.startswith("s3://"):
        yield Path(uri)
        return
    bucket, key = split_s3(uri)
    tmp = Path(tempfile.mkdtemp(prefix="seedance-src-"))
    try:
        dest = tmp / PurePosixPath(key).name
        s3_client().fget_object(bucket, key, str(dest))
        yield dest
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def read_text(uri: str) -> str:
    if not uri.startswith("s3://"):
        return Path(uri).read_text(encoding="utf-8")
    bucket, key = split_s3(uri)
    response = s3_client().get_object(bucket, key)
    try:
        return response.read().decode("utf-8")
    finally:
        response.close()
        response.release_conn()
