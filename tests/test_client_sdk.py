"""The client SDK end to end over real gRPC on loopback, against every VideoGeneration server we
run: the reference server (the in-process pipeline, outputs over HTTP) and the platform's own
path (Redis task store, TaskRunner over the stage services, outputs in SeaweedFS behind
presigned URLs). The `server` fixture is the only server-specific part."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
import threading
import time

import av
import pytest
from PIL import Image
from stage_platform import StagePlatform

from seedance.client import AsyncSeedanceClient, Backoff, SeedanceClient, Stage, TaskStatus
from seedance.client.errors import (
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    UnauthenticatedError,
    UnavailableError,
)
from seedance.model.bundle import default_bundle
from seedance.model.pipeline import SeedancePipeline
from seedance.services.local import free_port
from seedance.services.reference_server import ReferenceServer

FAST = {"frames": 5, "steps": 2}
FAST_BACKOFF = Backoff(retries=3, initial_s=0.05, max_s=0.2)


@pytest.fixture(scope="module")
def pipeline() -> SeedancePipeline:
    return SeedancePipeline(default_bundle())


@pytest.fixture(scope="module", params=["reference", "stages"])
def server(request, pipeline, tmp_path_factory):
    if request.param == "reference":
        with ReferenceServer(pipeline, tmp_path_factory.mktemp("served")) as srv:
            yield srv
    else:
        with StagePlatform(pipeline, tmp_path_factory.mktemp("platform")) as srv:
            yield srv


@pytest.fixture(scope="module")
def client(server):
    with SeedanceClient(server.endpoint, timeout=30, backoff=FAST_BACKOFF) as c:
        yield c


def png_bytes(size: tuple[int, int] = (80, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()


def decoded_frames(path) -> tuple[int, int, int]:
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
    return len(frames), frames[0].width, frames[0].height


def test_create_watch_download(client, tmp_path):
    task = client.create_task("a red circle moves to the right", resolution="128p", refine_steps=2,
                              return_last_frame=True, seed=7, **FAST)
    assert task.status == TaskStatus.Value("TASK_STATUS_QUEUED") and task.id
    seen = list(client.watch_task(task.id, timeout=120))
    final = seen[-1]
    assert final.status == TaskStatus.Value("TASK_STATUS_SUCCEEDED"), final.error_message
    percents = [t.progress.percent for t in seen]
    assert percents == sorted(percents) and len(set(percents)) > 3  # it moved, and never back
    assert any(t.progress.stage == Stage.Value("STAGE_DENOISE") for t in seen)
    assert any(t.progress.preview_available and t.status == TaskStatus.Value("TASK_STATUS_RUNNING") for t in seen)
    r = final.result
    assert (r.width, r.height, r.frames, r.seed) == (128, 128, 5, 7)
    assert json.loads(r.metadata_json)["seed"] == 7
    assert final.request.prompt == "a red circle moves to the right" and final.create_time.seconds > 0
    video = client.download(r.video_url, tmp_path / "v.mp4")
    assert decoded_frames(video) == (5, 128, 128)
    assert decoded_frames(client.download(r.preview_url, tmp_path / "p.mp4")) == (5, 64, 64)
    with Image.open(client.download(r.last_frame_url, tmp_path / "last.png")) as img:
        assert img.size == (128, 128)
    with pytest.raises(FailedPreconditionError):
        client.cancel_task(task.id)  # a finished task cannot be cancelled
    assert client.get_task(task.id).status == TaskStatus.Value("TASK_STATUS_SUCCEEDED")


def test_generate_writes_outputs_with_progress(client, tmp_path, capsys):
    out = client.generate("a blue square", output=tmp_path / "sq.mp4", progress=True, timeout=120,
                          image=png_bytes(), **FAST)
    assert decoded_frames(out.video) == (5, 120, 64)  # adaptive ratio: the 80x48 image is nearest 16:9
    meta = json.loads(out.metadata.read_text())
    assert meta["task"] == "i2v" and meta["ratio"] == "16:9" and meta["seed"] == out.task.result.seed
    assert out.preview is None and out.last_frame is None
    assert "%" in capsys.readouterr().err
    echo = out.task.request.first_frame
    assert not echo.data and echo.size == len(png_bytes()) and len(echo.sha256) == 64  # bytes not echoed


def test_idempotency_key_returns_the_first_task(client):
    first = client.create_task("a green triangle", idempotency_key="same-key-1", **FAST)
    again = client.create_task("something else entirely", idempotency_key="same-key-1", **FAST)
    assert again.id == first.id and again.request.prompt == "a green triangle"
    other = client.create_task("a green triangle", idempotency_key="same-key-2", **FAST)
    assert other.id != first.id
    for task in (first, other):
        client.wait(task.id, timeout=120)


def test_cancel_queued_then_running(client):
    blocker = client.create_task("a long one", frames=17, steps=1000)
    for task in client.watch_task(blocker.id, timeout=120):  # until it is denoising
        if task.progress.stage == Stage.Value("STAGE_DENOISE"):
            break
    queued = client.create_task("waits behind the blocker", **FAST)
    assert queued.status == TaskStatus.Value("TASK_STATUS_QUEUED")
    cancelled = client.cancel_task(queued.id)
    assert cancelled.status == TaskStatus.Value("TASK_STATUS_CANCELLED") and cancelled.end_time.seconds > 0
    assert client.cancel_task(queued.id).status == TaskStatus.Value("TASK_STATUS_CANCELLED")  # no-op
    client.cancel_task(blocker.id)
    final = client.wait(blocker.id, timeout=60)
    assert final.status == TaskStatus.Value("TASK_STATUS_CANCELLED")
    assert final.progress.step < final.progress.total == 1000  # stopped between denoise steps
    cancelled_ids = {t.id for t in client.iter_tasks(statuses=["cancelled"], page_size=1)}
    assert {queued.id, blocker.id} <= cancelled_ids


BAD = [
    ({"prompt": ""}, "prompt"),
    ({"prompt": "x" * 2001}, "prompt"),
    ({"shots": ["  "]}, "shots[0]"),
    ({"frames": 16}, "frames"),
    ({"frames": 17, "duration": 2.0}, "frames"),
    ({"duration": 100.0}, "duration"),
    ({"ratio": "5:4"}, "ratio"),
    ({"resolution": "1080p"}, "resolution"),
    ({"fps": 0}, "fps"),
    ({"steps": 0}, "steps"),
    ({"guidance": -1.0}, "guidance"),
    ({"seed": -5}, "seed"),
    ({"image": b"this is not an image"}, "first_frame"),
    ({"image": png_bytes()[:40]}, "first_frame"),  # truncated
    ({"image": b"\x89PNG\r\n\x1a\n" + bytes(10 * 1024 * 1024)}, "first_frame"),  # over 10 MiB
    ({"last_image": b"GIF89a nope"}, "last_frame"),
]


@pytest.mark.parametrize(("params", "field"), BAD, ids=[f"{f}-{i}" for i, (_, f) in enumerate(BAD)])
def test_bad_input_is_invalid_argument_naming_the_field(client, params, field):
    params = {"prompt": "a red circle", **params}
    with pytest.raises(InvalidArgumentError) as info:
        client.create_task(params.pop("prompt"), **params)
    assert info.value.code.name == "INVALID_ARGUMENT"
    assert info.value.field == field and info.value.details.startswith(f"{field}: ")


def test_bad_input_creates_no_task(client):
    before = {t.id for t in client.iter_tasks()}
    with pytest.raises(InvalidArgumentError):
        client.create_task("x", frames=16, idempotency_key="bad-one")
    assert {t.id for t in client.iter_tasks()} == before


def test_unknown_task_is_not_found(client):
    for call in (client.get_task, client.cancel_task, lambda i: list(client.watch_task(i, timeout=10))):
        with pytest.raises(NotFoundError) as info:
            call("no-such-task")
        assert "task_id" in info.value.details


def test_client_started_before_the_server_retries_until_it_is_up(pipeline, tmp_path):
    port = free_port()
    box: dict = {}

    def start_later() -> None:
        time.sleep(0.8)
        box["server"] = ReferenceServer(pipeline, tmp_path, port=port).start()

    starter = threading.Thread(target=start_later)
    with SeedanceClient(f"127.0.0.1:{port}", timeout=5, backoff=Backoff(retries=10, initial_s=0.1, max_s=0.5)) as c:
        starter.start()
        try:
            start = time.monotonic()
            assert list(c.list_tasks().tasks) == []
            assert 0.5 < time.monotonic() - start < 15
        finally:
            starter.join(timeout=30)
            if "server" in box:
                box["server"].stop()


def test_retries_are_bounded_when_nothing_listens():
    with SeedanceClient(f"127.0.0.1:{free_port()}", timeout=2, backoff=FAST_BACKOFF) as c:
        start = time.monotonic()
        with pytest.raises(UnavailableError):
            c.get_task("anything")
        assert time.monotonic() - start < 10


def test_api_keys_authenticate_and_scope_tasks(pipeline, tmp_path):
    with ReferenceServer(pipeline, tmp_path, api_keys={"key-a", "key-b"}) as srv:
        with SeedanceClient(srv.endpoint, api_key="key-a") as a, SeedanceClient(srv.endpoint, api_key="key-b") as b:
            task = a.create_task("mine", **FAST)
            assert a.get_task(task.id).id == task.id
            with pytest.raises(NotFoundError):
                b.get_task(task.id)  # another caller's task does not exist for you
            a.cancel_task(task.id)
        for key in (None, "wrong"):
            with SeedanceClient(srv.endpoint, api_key=key) as anon, pytest.raises(UnauthenticatedError):
                anon.list_tasks()


@pytest.mark.skipif(subprocess.run(["which", "openssl"], capture_output=True).returncode != 0, reason="no openssl")
def test_tls(pipeline, tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    with ReferenceServer(pipeline, tmp_path / "out", tls=(key.read_bytes(), cert.read_bytes())) as srv:
        with SeedanceClient(srv.endpoint, tls=True, root_certificates=cert) as c:
            assert c.list_tasks().next_page_token == ""
        with SeedanceClient(srv.endpoint, timeout=2, retries=0) as plain, pytest.raises(UnavailableError):
            plain.list_tasks()  # a plaintext client cannot talk to a TLS server


def test_async_client_happy_path(server, tmp_path):
    async def main() -> None:
        async with AsyncSeedanceClient(server.endpoint, backoff=FAST_BACKOFF) as c:
            out = await c.generate("a yellow star", output=tmp_path / "star.mp4", seed=3, timeout=120, **FAST)
            assert out.task.status == TaskStatus.Value("TASK_STATUS_SUCCEEDED") and out.task.result.seed == 3
            assert decoded_frames(out.video) == (5, 64, 64)
            statuses = [t.status async for t in c.watch_task(out.task.id, timeout=10)]
            assert statuses == [TaskStatus.Value("TASK_STATUS_SUCCEEDED")]  # a final task: one message
            assert out.task.id in [t.id async for t in c.iter_tasks(statuses=["succeeded"])]
            with pytest.raises(InvalidArgumentError) as info:
                await c.create_task("x", guidance=-1.0)
            assert info.value.field == "guidance"
            with pytest.raises(NotFoundError):
                await c.get_task("no-such-task")

    asyncio.run(main())


def test_client_and_services_import_without_torch():
    code = ("import sys\nimport seedance, seedance.client, seedance.services.reference_server\n"
            "import seedance.services.validation, seedance.services.wire\n"
            "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if 'torch' in m)[:5]\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
