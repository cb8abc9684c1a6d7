"""The task runner: takes queued tasks from the store and drives them through the stage services.

It composes the stages exactly as `SeedancePipeline.generate` does in one process (rewrite ->
encode -> [VAE.Encode of the given frames] -> denoise -> decode -> [upsample + encode -> refine
-> decode]), over a `Stages` client: DeploymentHandles in Ray Serve (services/app.py), or the
stage objects themselves in one process (LocalStages). The runner needs no torch.

Per task: one trace with a span per stage; progress after every denoise step; cancel checked
after every step; the preview published as soon as the base video is decoded (before the
refiner starts); the outputs published all or nothing; a stage call that fails for a reason
other than bad input (a replica died) is retried, then the task fails with the reason.
"""

from __future__ import annotations

import json
import logging
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np

import seedance
from seedance.errors import SeedanceError
from seedance.model.config import ModelConfig
from seedance.model.pipeline.request import Plan
from seedance.protos.seedance.v1 import common_pb2 as pb
from seedance.protos.seedance.v1 import stages_pb2 as st
from seedance.protos.seedance.v1 import video_generation_pb2 as vg
from seedance.services import tracing
from seedance.services.progress import progress_message
from seedance.services.redis_store import RedisJob, RedisTaskStore
from seedance.services.storage import ObjectStorage
from seedance.services.validation import validate_create
from seedance.services.wire import from_numpy, to_numpy

log = logging.getLogger(__name__)
T = TypeVar("T")


class Stages(Protocol):
    """How the runner reaches the stage services. Every call takes the trace carrier."""

    def rewrite(self, req: st.RewriteRequest, trace: dict) -> st.RewriteResponse: ...
    def encode_text(self, req: st.EncodeTextRequest, trace: dict) -> st.EncodeTextResponse: ...
    def vae_encode(self, req: st.VAEEncodeRequest, trace: dict) -> st.VAEEncodeResponse: ...
    def vae_decode(self, req: st.VAEDecodeRequest, trace: dict) -> st.VAEDecodeResponse: ...
    def denoise_stream(self, req: st.DenoiseRequest, trace: dict) -> Iterator[st.DenoiseEvent]: ...
    def refine_stream(self, req: st.RefineRequest, trace: dict) -> Iterator[st.DenoiseEvent]: ...


class LocalStages:
    """The stage objects called in this process (services.stages): one model, no network."""

    def __init__(self, pipeline: Any):
        from seedance.services import stages

        self.rewriter = stages.RewriterStage(pipeline)
        self.text = stages.TextEncoderStage(pipeline)
        self.denoiser = stages.DenoiserStage(pipeline)
        self.refiner = stages.RefinerStage(pipeline)
        self.vae = stages.VAEStage(pipeline)

    def rewrite(self, req, trace):
        return self.rewriter.Rewrite(req, trace_context=trace)

    def encode_text(self, req, trace):
        return self.text.Encode(req, trace_context=trace)

    def vae_encode(self, req, trace):
        return self.vae.Encode(req, trace_context=trace)

    def vae_decode(self, req, trace):
        return self.vae.Decode(req, trace_context=trace)

    def denoise_stream(self, req, trace):
        return self.denoiser.DenoiseStream(req, trace_context=trace)

    def refine_stream(self, req, trace):
        return self.refiner.RefineStream(req, trace_context=trace)


class Cancelled(Exception):
    """The client cancelled the task; raised between steps."""


class StageFailed(Exception):
    """A stage call kept failing (not for bad input): the task fails with this message."""


def _retry(stage: str, fn: Callable[[], T], attempts: int, backoff_s: float) -> T:
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except (SeedanceError, Cancelled):
            raise  # bad input or a cancel: retrying cannot help
        except Exception as e:
            if attempt == attempts:
                raise StageFailed(f"{stage} stage failed after {attempts} attempts: "
                                  f"{e.__class__.__name__}: {str(e)[:300]}") from e
            log.warning("%s stage call failed (%s); retrying", stage, e.__class__.__name__)
            time.sleep(backoff_s * attempt)
    raise AssertionError("unreachable")


class TaskRunner:
    def __init__(self, store: RedisTaskStore, stages: Stages, storage: ObjectStorage, config: ModelConfig,
                 worker_id: str = "runner", thin_decoder: bool = False, stage_attempts: int = 5,
                 retry_backoff_s: float = 1.0, on_finish: Callable[[str, float, dict], None] | None = None):
        self.store, self.stages, self.storage, self.config = store, stages, storage, config
        self.worker_id, self.thin_decoder = worker_id, thin_decoder
        self.stage_attempts, self.retry_backoff_s = stage_attempts, retry_backoff_s
        self.on_finish = on_finish  # (status name, seconds, stage seconds) for metrics
        self._current: str | None = None

    # -- the loop ---------------------------------------------------------------------------------
    def serve(self, stop: threading.Event, poll_s: float = 0.5, recover_every_s: float = 2.0) -> None:
        """Take and run tasks until `stop` is set; renew the running task's lease meanwhile and
        recover lapsed tasks (of any replica) every `recover_every_s`."""
        beat = threading.Thread(target=self._heartbeat, args=(stop,), name="lease-heartbeat", daemon=True)
        beat.start()
        last_recover = 0.0
        while not stop.is_set():
            if time.monotonic() - last_recover > recover_every_s:
                try:
                    self.store.recover()
                except Exception:
                    log.exception("recover failed")
                last_recover = time.monotonic()
            try:
                job = self.store.take(timeout=poll_s, worker=self.worker_id)
            except Exception:
                log.exception("take failed")
                stop.wait(1.0)
                continue
            if job is not None:
                self._current = job.task_id
                try:
                    self.run(job)
                finally:
                    self._current = None
        beat.join(timeout=5)

    def _heartbeat(self, stop: threading.Event) -> None:
        while not stop.wait(self.store.lease_s / 3):
            task_id = self._current
            if task_id is not None:
                try:
                    self.store.heartbeat(task_id, self.worker_id)
                except Exception:
                    log.exception("lease renewal failed")

    # -- one task ---------------------------------------------------------------------------------
    def run(self, job: RedisJob) -> None:
        start = time.monotonic()
        timings: dict[str, float] = {}
        status, message, result = pb.TASK_STATUS_FAILED, "", None
        with tracing.span("task", task_id=job.task_id, attempt=job.attempt) as span:
            try:
                result = self._generate(job, timings)
                status = pb.TASK_STATUS_SUCCEEDED
            except Cancelled:
                status, message = pb.TASK_STATUS_CANCELLED, "cancelled by the client"
            except SeedanceError as e:
                message = f"invalid request: {e}"
            except StageFailed as e:
                message = str(e)
            except Exception as e:  # a bug must fail the task with a reason, not leave it running
                log.exception("task %s failed", job.task_id)
                message = f"generation failed: {e.__class__.__name__}: {str(e)[:300]}"
            span.set_attribute("seedance.status", pb.TaskStatus.Name(status))
        self.store.finish(job.task_id, status, message, result)
        if self.on_finish is not None:
            self.on_finish(pb.TaskStatus.Name(status), time.monotonic() - start, timings)

    def _generate(self, job: RedisJob, timings: dict[str, float]) -> vg.TaskResult:
        _, p = validate_create(job.request, self.config)
        tid = job.task_id
        state = {"percent": 0.0, "preview": False}

        def publish(stage: str, step: int, total: int) -> None:
            if self.store.cancel_requested(tid):
                raise Cancelled
            msg = progress_message(stage, step, total, p.refine, bool(state["preview"]), float(state["percent"]))
            state["percent"] = msg.percent
            self.store.update(tid, lambda t: t.progress.CopyFrom(msg))

        def call(stage: str, fn: Callable[[dict], T]) -> T:
            t0 = time.monotonic()
            with tracing.span(f"stage.{stage}", task_id=tid):
                out = _retry(stage, lambda: fn(tracing.inject()), self.stage_attempts, self.retry_backoff_s)
            timings[stage] = round(timings.get(stage, 0.0) + time.monotonic() - t0, 4)
            return out

        publish("rewrite", 0, len(p.prompts))
        captions = call("rewrite", lambda tr: self.stages.rewrite(st.RewriteRequest(
            task_id=tid, prompts=p.prompts, image_to_video=p.task == "i2v", camera_fixed=p.camera_fixed), tr)).captions
        publish("rewrite", len(p.prompts), len(p.prompts))
        text = call("encode", lambda tr: self.stages.encode_text(
            st.EncodeTextRequest(task_id=tid, captions=[c.caption for c in captions]), tr))
        publish("encode", 1, 1)

        shape = self._latent_shape(p, p.base_width, p.base_height)
        base = self._denoise_request(tid, p, text, shape, p.base_width, p.base_height, p.steps, p.guidance, call)
        latent = self._sample("denoise", lambda tr: self.stages.denoise_stream(base, tr), publish, call)
        frames = self._decode(tid, latent, call, "decode")
        publish("decode", 1, 1)

        with tempfile.TemporaryDirectory(prefix=f"task-{tid}-") as tmp:
            out = Path(tmp)
            preview_url = ""
            if p.refine:
                preview_url = self._publish_preview(tid, p, frames, out)
                state["preview"] = True
                frames = self._refine(tid, p, text, frames, shape, publish, call)
            publish("save", 0, 1)
            result = self._save(job, p, frames, preview_url, captions, timings, out)
            publish("save", 1, 1)
        return result

    # -- stage helpers ----------------------------------------------------------------------------
    def _latent_shape(self, p: Plan, width: int, height: int) -> list[int]:
        return [1, *self.config.vae.latent_shape(p.frames, height, width)]

    def _denoise_request(self, tid: str, p: Plan, text: st.EncodeTextResponse, shape: list[int], width: int,
                         height: int, steps: int, guidance: float, call: Callable, skip: list[int] | None = None
                         ) -> st.DenoiseRequest:
        req = st.DenoiseRequest(task_id=tid, text=text.cond, uncond_text=text.uncond, num_shots=len(p.prompts),
                                steps=steps, guidance=guidance,
                                seeded_noise=st.NoiseSpec(seed=p.seed, shape=shape, skip_shape=skip or []))
        given = [(img, idx) for img, idx in ((p.first_image, 0), (p.last_image, shape[2] - 1)) if img is not None]
        if given:
            from seedance.model.media import fit_image

            cond = np.zeros(shape, np.float32)
            mask = np.zeros((1, shape[2]), np.float32)
            for img, idx in given:
                frame = fit_image(img, width, height)[None]
                enc = call("vae_encode", lambda tr, frame=frame: self.stages.vae_encode(
                    st.VAEEncodeRequest(task_id=tid, frames=from_numpy(frame, "frames")), tr))
                cond[:, :, idx] = to_numpy(enc.latent, "latent")[:, :, 0]
                mask[:, idx] = 1.0
            req.condition.CopyFrom(from_numpy(cond, "condition"))
            req.condition_mask.CopyFrom(from_numpy(mask, "condition_mask"))
        return req

    def _sample(self, stage: str, open_stream: Callable[[dict], Iterator[st.DenoiseEvent]],
                publish: Callable[[str, int, int], None], call: Callable) -> st.Tensor:
        """Run a streamed denoise, reporting each step; a cancel closes the stream between steps."""

        def consume(trace: dict) -> Any:
            stream = open_stream(trace)
            try:
                for event in stream:
                    if event.HasField("progress"):
                        publish(stage, event.progress.step, event.progress.total)
                    else:
                        return event.result.latent
            finally:
                close = getattr(stream, "cancel", None) or getattr(stream, "close", None)
                if close is not None:
                    close()
            raise RuntimeError(f"{stage} stream ended without a result")

        return call(stage, consume)

    def _decode(self, tid: str, latent: Any, call: Callable, stage: str) -> np.ndarray:
        resp = call(stage, lambda tr: self.stages.vae_decode(
            st.VAEDecodeRequest(task_id=tid, latent=latent, thin_decoder=self.thin_decoder), tr))
        return to_numpy(resp.frames, "frames")

    def _refine(self, tid: str, p: Plan, text: st.EncodeTextResponse, base: np.ndarray, base_shape: list[int],
                publish: Callable, call: Callable) -> np.ndarray:
        shape = self._latent_shape(p, p.width, p.height)
        low = call("refine", lambda tr: self.stages.vae_encode(st.VAEEncodeRequest(
            task_id=tid, frames=from_numpy(base, "frames"), resize=st.RESIZE_UPSAMPLE, width=p.width,
            height=p.height), tr)).latent
        req = st.RefineRequest(denoise=self._denoise_request(
            tid, p, text, shape, p.width, p.height, p.refine_steps, self.config.sampler.refine_guidance, call,
            skip=base_shape), low_res=low)
        latent = self._sample("refine", lambda tr: self.stages.refine_stream(req, tr), publish, call)
        frames = self._decode(tid, latent, call, "refine_decode")
        publish("refine_decode", 1, 1)
        return frames

    # -- outputs ----------------------------------------------------------------------------------
    def _publish_preview(self, tid: str, p: Plan, preview: np.ndarray, out: Path) -> str:
        """Upload the base-resolution video and point the task at it; returns its URL."""
        from seedance.model.media import write_mp4

        path = out / "video.preview.mp4"
        write_mp4(preview, path, p.fps)
        url = self.storage.publish(tid, {path.name: path})[path.name]

        def mark(t: vg.Task) -> None:
            t.result.preview_url = url
            t.progress.preview_available = True

        self.store.update(tid, mark)
        return url

    def _save(self, job: RedisJob, p: Plan, frames: np.ndarray, preview_url: str,
              captions: Any, timings: dict[str, float], out: Path) -> vg.TaskResult:
        from PIL import Image

        from seedance.model.media import contact_sheet, write_mp4

        files = {"video.mp4": out / "video.mp4", "video.png": out / "video.png", "video.json": out / "video.json"}
        write_mp4(frames, files["video.mp4"], p.fps)
        contact_sheet(frames, files["video.png"])
        meta = self._metadata(job.task_id, p, captions, timings)
        files["video.json"].write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
        if job.return_last_frame:
            files["last_frame.png"] = out / "last_frame.png"
            Image.fromarray(frames[-1]).save(files["last_frame.png"])
        urls = self.storage.publish(job.task_id, files)
        result = vg.TaskResult(video_url=urls["video.mp4"], contact_sheet_url=urls["video.png"],
                               metadata_json=json.dumps(meta, ensure_ascii=False), seed=p.seed, width=p.width,
                               height=p.height, frames=p.frames, fps=p.fps, preview_url=preview_url)
        if "last_frame.png" in urls:
            result.last_frame_url = urls["last_frame.png"]
        return result

    def _metadata(self, tid: str, p: Plan, captions: Any, timings: dict[str, float]) -> dict[str, Any]:
        return {
            "seedance_version": seedance.__version__, "task_id": tid,
            "model": {"name": self.config.name}, "task": p.task, "prompts": p.prompts,
            "captions": [c.caption for c in captions], "rewriter": captions[0].backend if captions else None,
            "language": [c.language for c in captions], "seed": p.seed, "width": p.width, "height": p.height,
            "frames": p.frames, "fps": p.fps, "duration_s": round(p.duration, 4), "resolution": p.resolution,
            "ratio": p.ratio, "base_size": [p.base_width, p.base_height], "refined": p.refine, "steps": p.steps,
            "guidance": p.guidance, "refine_steps": p.refine_steps if p.refine else None,
            "camera_fixed": p.camera_fixed, "thin_decoder": self.thin_decoder, "served_by": "stage services",
            "timings_s": dict(timings),
        }
