"""The platform in real Ray Serve on loopback: Redis, SeaweedFS, one application per stage plus
the gateway, the public endpoint, and the Serve gRPC proxy. One platform for the module (it takes
~30 s to start on 2 cores); tests that kill replicas run last and wait for Serve to replace them.
"""

from __future__ import annotations

import time

import av
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from seedance.client import SeedanceClient, TaskStatus
from seedance.client.errors import UnauthenticatedError
from seedance.protos.seedance.v1 import stages_pb2 as st
from seedance.protos.seedance.v1 import stages_pb2_grpc as st_grpc
from seedance.protos.seedance.v1 import video_generation_pb2 as vg
from seedance.protos.seedance.v1 import video_generation_pb2_grpc as vg_grpc
from seedance.services.local import free_port
from seedance.services.platform import LocalPlatform, PlatformSettings

pytestmark = pytest.mark.slow
FINAL = {TaskStatus.Value(n) for n in ("TASK_STATUS_SUCCEEDED", "TASK_STATUS_FAILED", "TASK_STATUS_CANCELLED",
                                       "TASK_STATUS_EXPIRED")}


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    settings = PlatformSettings(workdir=tmp_path_factory.mktemp("serve"), port=0, grpc_proxy_port=free_port(),
                                lease_s=3.0, num_cpus=2, stage_stall_s=45.0,
                                overrides={"denoiser": {"autoscaling_config": None, "num_replicas": 1}})
    with LocalPlatform(settings) as p:
        yield p


@pytest.fixture(scope="module")
def key(platform) -> str:
    return platform.api_key_path.read_text().strip()


@pytest.fixture(scope="module")
def client(platform, key):
    with SeedanceClient(platform.endpoint, api_key=key, timeout=60) as c:
        yield c


def _wait_final(client: SeedanceClient, task_id: str, timeout_s: float = 240) -> vg.Task:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        task = client.get_task(task_id)
        if task.status in FINAL:
            return task
        time.sleep(0.3)
    raise AssertionError(f"task {task_id} not final after {timeout_s} s: {client.get_task(task_id)}")


def test_generate_through_ray_serve_to_a_presigned_mp4(client, tmp_path):
    out = client.generate("a red circle moves to the right", tmp_path / "x.mp4", frames=9, steps=3, seed=3,
                          resolution="128p", refine_steps=2)
    with av.open(str(out.video)) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == 9 and (frames[0].width, frames[0].height) == (128, 128)  # tiny: 1:1 by default
    assert out.task.result.video_url.startswith("http://127.0.0.1:") and "X-Amz-Signature=" in out.task.result.video_url
    assert out.task.result.preview_url  # the base-resolution preview was published before the refiner ran


def test_public_endpoint_is_loopback_with_auth_and_health(platform, key):
    assert platform.endpoint.startswith("127.0.0.1:")
    with SeedanceClient(platform.endpoint, timeout=10) as anonymous, pytest.raises(UnauthenticatedError):
        anonymous.list_tasks()
    with grpc.insecure_channel(platform.endpoint) as ch:
        status = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
    assert status.status == health_pb2.HealthCheckResponse.SERVING


def test_stage_alone_through_the_serve_grpc_proxy(platform):
    with grpc.insecure_channel(f"127.0.0.1:{platform.s.grpc_proxy_port}") as ch:
        stub = st_grpc.RewriterStub(ch)
        out = stub.Rewrite(st.RewriteRequest(prompts=["a blue square moves up"]), metadata=[("application", "rewriter")],
                           timeout=60)
        assert len(out.captions) == 1 and "blue" in out.captions[0].caption
        with pytest.raises(grpc.RpcError) as err:
            stub.Rewrite(st.RewriteRequest(prompts=[]), metadata=[("application", "rewriter")], timeout=60)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "prompts" in err.value.details()


def test_public_api_through_the_serve_grpc_proxy_checks_the_key(platform, key):
    with grpc.insecure_channel(f"127.0.0.1:{platform.s.grpc_proxy_port}") as ch:
        stub = vg_grpc.VideoGenerationStub(ch)
        with pytest.raises(grpc.RpcError) as err:
            stub.ListTasks(vg.ListTasksRequest(), metadata=[("application", "gateway")], timeout=60)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        page = stub.ListTasks(vg.ListTasksRequest(), timeout=60,
                              metadata=[("application", "gateway"), ("authorization", f"Bearer {key}")])
    assert all(t.id for t in page.tasks)


def _kill_replica(app: str) -> str:
    import ray  # after the platform started it (its environment keeps Ray on loopback)

    for actor in ray.util.list_named_actors(all_namespaces=True):
        if actor["name"].startswith(f"SERVE_REPLICA::{app}#"):
            ray.kill(ray.get_actor(actor["name"], namespace=actor["namespace"]), no_restart=True)
            return actor["name"]
    raise AssertionError(f"no replica of {app}")


def _running_denoise(client: SeedanceClient, steps: int) -> str:
    task = client.create_task("a green triangle moves left", frames=17, steps=steps, seed=5)
    end = time.monotonic() + 120
    while time.monotonic() < end:
        t = client.get_task(task.id)
        if t.progress.step >= 2 and t.status == TaskStatus.Value("TASK_STATUS_RUNNING"):
            return task.id
        assert t.status not in FINAL, t
        time.sleep(0.1)
    raise AssertionError("the task never reached its denoise steps")


def test_killing_the_denoiser_replica_mid_task_never_leaves_it_running(client):
    task_id = _running_denoise(client, steps=400)
    _kill_replica("denoiser")
    final = _wait_final(client, task_id)
    # Serve replaces the replica; the runner retries the stage call, so the task usually succeeds.
    assert final.status == TaskStatus.Value("TASK_STATUS_SUCCEEDED") or (
        final.status == TaskStatus.Value("TASK_STATUS_FAILED") and "denoise" in final.error_message), final


def test_killing_the_gateway_replica_mid_task_requeues_the_task(client):
    task_id = _running_denoise(client, steps=300)
    _kill_replica("gateway")
    final = _wait_final(client, task_id)
    # The dead replica's lease lapses; the new replica's runner recovers the task and runs it again.
    assert final.status == TaskStatus.Value("TASK_STATUS_SUCCEEDED"), final.error_message
