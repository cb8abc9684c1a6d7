"""The durable task path without Ray: the Redis store's rules (leases, recovery, expiry, the
queued cap, hashed owners), the runner over the stage services, and one trace per task.
Real Redis and SeaweedFS on loopback; the stage services run in this process."""

from __future__ import annotations

import threading
import time

import grpc
import numpy as np
import pytest
from stage_platform import StagePlatform

from seedance.client import SeedanceClient, TaskStatus
from seedance.model.bundle import default_bundle
from seedance.model.media import write_mp4
from seedance.model.pipeline import GenerationRequest, SeedancePipeline
from seedance.protos.seedance.v1 import common_pb2 as pb
from seedance.protos.seedance.v1 import stages_pb2 as st
from seedance.protos.seedance.v1 import video_generation_pb2 as vg
from seedance.protos.seedance.v1 import video_generation_pb2_grpc as vg_grpc
from seedance.services import tracing
from seedance.services.api_server import ApiServer
from seedance.services.local import LocalRedis
from seedance.services.redis_store import RedisTaskStore
from seedance.services.runner import LocalStages, TaskRunner
from seedance.services.validation import validate_create
from seedance.services.wire import from_numpy, to_numpy

FAST = {"frames": 5, "steps": 2}


@pytest.fixture(scope="module")
def pipeline() -> SeedancePipeline:
    return SeedancePipeline(default_bundle())


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    with LocalRedis(tmp_path_factory.mktemp("redis")) as r:
        yield r


def _store(redis_server, **kw) -> RedisTaskStore:
    import uuid

    return RedisTaskStore(url=redis_server.url, prefix=f"t{uuid.uuid4().hex[:8]}", **kw)


def _create(store: RedisTaskStore, pipeline, owner: str = "key-a", **fields) -> vg.Task:
    req = vg.CreateTaskRequest(prompt="a red circle moves to the right", frames=5, steps=2, **fields)
    gen, plan = validate_create(req, pipeline.config)
    return store.create(owner, req, gen, plan)


def test_a_lapsed_lease_requeues_the_task_then_fails_it_after_max_attempts(redis_server, pipeline):
    store = _store(redis_server, lease_s=0.3, max_attempts=2)
    task = _create(store, pipeline)
    first = store.take(timeout=1, worker="dies")
    assert first.attempt == 1 and store.get("key-a", task.id).status == pb.TASK_STATUS_RUNNING
    assert store.recover() == {"requeued": 0, "failed": 0, "expired": 0}  # lease still held
    time.sleep(0.4)  # the worker died: nobody renews the lease
    assert store.recover()["requeued"] == 1
    again = store.get("key-a", task.id)
    assert again.status == pb.TASK_STATUS_QUEUED and again.progress.percent == 0
    second = store.take(timeout=1, worker="dies-too")
    assert second.attempt == 2 and second.request.seed == first.request.seed  # same video on retry
    time.sleep(0.4)
    assert store.recover()["failed"] == 1
    final = store.get("key-a", task.id)
    assert final.status == pb.TASK_STATUS_FAILED and "stopped 2 times" in final.error_message


def test_a_renewed_lease_is_left_alone(redis_server, pipeline):
    store = _store(redis_server, lease_s=0.5)
    task = _create(store, pipeline)
    store.take(timeout=1)
    for _ in range(4):
        time.sleep(0.2)
        store.heartbeat(task.id)
        assert store.recover()["requeued"] == 0
    assert store.get("key-a", task.id).status == pb.TASK_STATUS_RUNNING


def test_queued_tasks_expire(redis_server, pipeline):
    store = _store(redis_server, queue_ttl_s=0.2)
    task = _create(store, pipeline)
    time.sleep(0.3)
    assert store.recover()["expired"] == 1
    final = store.get("key-a", task.id)
    assert final.status == pb.TASK_STATUS_EXPIRED and "expiry" in final.error_message
    assert store.take(timeout=0.2) is None  # nothing runs an expired task


def test_cancel_of_a_running_task_is_a_flag_the_runner_reads(redis_server, pipeline):
    store = _store(redis_server)
    task = _create(store, pipeline)
    store.take(timeout=1)
    assert not store.cancel_requested(task.id)
    assert store.cancel("key-a", task.id).status == pb.TASK_STATUS_RUNNING  # stops between steps
    assert store.cancel_requested(task.id)


def test_callers_are_stored_as_hashes_and_isolated(redis_server, pipeline):
    store = _store(redis_server)
    secret = "sk-very-secret-key-123"
    task = _create(store, pipeline, owner=secret)
    dump = b"".join(k + b"".join(v for v in (store.r.hvals(k) if store.r.type(k) == b"hash" else []))
                    for k in store.r.keys(f"{store.p}:*"))
    assert secret.encode() not in dump
    with pytest.raises(Exception, match="no task"):
        store.get("another-key", task.id)


def test_queued_cap_per_key_answers_resource_exhausted(redis_server, pipeline):
    store = _store(redis_server, max_queued_per_owner=2)  # no runner: tasks stay queued
    api = ApiServer(store, pipeline.config, api_keys={"k1", "k2"}).start()
    req = vg.CreateTaskRequest(prompt="a red circle moves to the right", frames=5, steps=2)
    try:
        with grpc.insecure_channel(api.endpoint) as ch:
            stub = vg_grpc.VideoGenerationStub(ch)
            k1, k2 = [("authorization", "Bearer k1")], [("authorization", "Bearer k2")]
            for _ in range(2):
                stub.CreateTask(req, metadata=k1, timeout=30)
            with pytest.raises(grpc.RpcError) as err:
                stub.CreateTask(req, metadata=k1, timeout=30)
            assert stub.CreateTask(req, metadata=k2, timeout=30).status == pb.TASK_STATUS_QUEUED  # per key
    finally:
        api.stop()
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "at most 2 queued" in err.value.details()


def test_runner_output_equals_the_in_process_pipeline(tmp_path, pipeline):
    with StagePlatform(pipeline, tmp_path) as platform, SeedanceClient(platform.endpoint, timeout=60) as client:
        out = client.generate("a blue square moves up", tmp_path / "x.mp4", seed=11, **FAST)
        served = _frames(out.video)
    local = pipeline.generate(GenerationRequest("a blue square moves up", seed=11, **FAST)).frames
    write_mp4(local, tmp_path / "local.mp4", out.task.result.fps)
    local = _frames(tmp_path / "local.mp4")  # through the same lossy encoder as the served video
    # Same seed, same stages, same maths: equal up to float rounding between the two paths.
    assert served.shape == local.shape
    assert np.abs(served.astype(int) - local.astype(int)).mean() < 0.5


def _frames(path) -> np.ndarray:
    import av

    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def test_a_task_survives_the_death_of_the_worker_running_it(tmp_path, pipeline):
    with StagePlatform(pipeline, tmp_path, runners=0, lease_s=0.5) as platform:
        client = SeedanceClient(platform.endpoint, timeout=60)
        task = client.create_task("a green triangle moves left", **FAST)
        assert platform.store.take(timeout=2, worker="doomed").task_id == task.id  # it dies holding the task
        stop = threading.Event()
        runner = TaskRunner(platform.store, platform.stages, platform.storage, pipeline.config, worker_id="rescuer")
        thread = threading.Thread(target=runner.serve, args=(stop, 0.2, 0.3), daemon=True)
        thread.start()
        try:
            final = list(client.watch_task(task.id, timeout=120))[-1]
        finally:
            stop.set()
            thread.join(timeout=30)
            client.close()
    assert final.status == TaskStatus.Value("TASK_STATUS_SUCCEEDED"), final.error_message


def test_one_trace_per_task_with_a_span_per_stage(tmp_path, pipeline):
    tracing.configure("seedance-test", "memory")
    spans = tracing.memory_exporter()
    spans.clear()
    with StagePlatform(pipeline, tmp_path) as platform, SeedanceClient(platform.endpoint, timeout=60) as client:
        task = client.create_task("a red circle moves to the right", **FAST)
        final = list(client.watch_task(task.id, timeout=120))[-1]
    assert final.status == TaskStatus.Value("TASK_STATUS_SUCCEEDED")
    finished = spans.get_finished_spans()
    root = [s for s in finished if s.name == "task" and s.attributes.get("seedance.task_id") == task.id]
    assert len(root) == 1
    trace_id = root[0].context.trace_id
    names = {s.name for s in finished if s.context.trace_id == trace_id}
    assert {"stage.rewrite", "stage.encode", "stage.denoise", "stage.decode"} <= names
    # the stage services' own spans join the same trace through the propagated context
    assert {"Rewriter.Rewrite", "TextEncoder.Encode", "Denoiser.DenoiseStream", "VAE.Decode"} <= names
    assert any(s.name == "rpc.CreateTask" for s in finished)


def test_stage_services_reject_malformed_tensors_naming_the_field(pipeline):
    stages = LocalStages(pipeline)
    with pytest.raises(Exception, match="frames"):
        stages.vae_encode(st.VAEEncodeRequest(frames=from_numpy(np.zeros((2, 2), np.uint8))), {})
    with pytest.raises(Exception, match=r"denoise\.steps"):
        list(stages.denoise_stream(st.DenoiseRequest(seeded_noise=st.NoiseSpec(seed=1, shape=[1, 4, 2, 4, 4]),
                                                     steps=0, num_shots=1), {}))
    frames = np.zeros((5, 64, 64, 3), np.uint8)
    latent = stages.vae_encode(st.VAEEncodeRequest(frames=from_numpy(frames)), {}).latent
    back = to_numpy(stages.vae_decode(st.VAEDecodeRequest(latent=latent), {}).frames)
    assert back.shape == frames.shape


def _scrape(port: int) -> dict[tuple[str, tuple], float]:
    """Samples of the /metrics page at 127.0.0.1:port: (name, sorted labels) -> value."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def test_metrics_report_queue_depth_finished_tasks_and_stage_latency(tmp_path, pipeline):
    with StagePlatform(pipeline, tmp_path, runners=0) as platform, \
            SeedanceClient(platform.endpoint, timeout=60) as client:
        tasks = [client.create_task(p, **FAST) for p in ("a red circle moves left", "a blue square moves up")]
        before = _scrape(platform.metrics_port)
        assert before[("seedance_queue_depth", ())] == 2
        assert before[("seedance_tasks_running", ())] == 0
        stop = threading.Event()
        runner = TaskRunner(platform.store, platform.stages, platform.storage, pipeline.config,
                            worker_id="metered", on_finish=platform.metrics.on_finish)
        thread = threading.Thread(target=runner.serve, args=(stop, 0.2, 0.5), daemon=True)
        thread.start()
        try:
            finals = [list(client.watch_task(t.id, timeout=120))[-1] for t in tasks]
        finally:
            stop.set()
            thread.join(timeout=30)
        after = _scrape(platform.metrics_port)
    assert all(f.status == TaskStatus.Value("TASK_STATUS_SUCCEEDED") for f in finals)
    assert after[("seedance_queue_depth", ())] == 0
    assert after[("seedance_tasks_running", ())] == 0
    assert after[("seedance_tasks_finished_total", (("status", "succeeded"),))] == 2
    assert after[("seedance_task_duration_seconds_count", (("status", "succeeded"),))] == 2
    for stage in ("rewrite", "encode", "denoise", "decode"):
        assert after[("seedance_stage_duration_seconds_count", (("stage", stage),))] == 2
        assert after[("seedance_stage_duration_seconds_sum", (("stage", stage),))] > 0


def test_watch_honours_the_client_deadline_and_frees_its_server_thread(redis_server, pipeline):
    """A WatchTask whose deadline passes ends with DEADLINE_EXCEEDED, and the server stops the
    stream too: with two RPC threads, two expired watches must not block a later call."""
    store = _store(redis_server)  # no runner: the task stays queued, so a watch would run forever
    api = ApiServer(store, pipeline.config, max_rpc_threads=2).start()
    try:
        with grpc.insecure_channel(api.endpoint) as ch:
            stub = vg_grpc.VideoGenerationStub(ch)
            task = stub.CreateTask(vg.CreateTaskRequest(prompt="a red circle moves to the right", frames=5,
                                                        steps=2), timeout=30)
            for _ in range(2):  # both server threads
                t0 = time.monotonic()
                with pytest.raises(grpc.RpcError) as err:
                    for _ in stub.WatchTask(vg.WatchTaskRequest(task_id=task.id), timeout=1.0):
                        pass
                assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
                assert time.monotonic() - t0 < 10
            time.sleep(1.0)  # the server notices within one event-stream poll (0.2 s)
            assert stub.GetTask(vg.GetTaskRequest(task_id=task.id), timeout=5).status == pb.TASK_STATUS_QUEUED
    finally:
        api.stop()
