"""The reference server's worker: runs queued tasks one at a time with the in-process pipeline.

Progress events become Task.progress updates; a cancel is honoured at the next progress event,
which the pipeline reports after every denoise step. Outputs are written with the pipeline's own
`save_result` into OUT/<task id>/ and published as URLs under the server's HTTP base URL.
The pipeline's modules (torch) are imported only when a task runs.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from seedance.protos.seedance.v1 import common_pb2 as pb
from seedance.protos.seedance.v1 import video_generation_pb2 as vg
from seedance.services import model_thread
from seedance.services.progress import progress_message
from seedance.services.task_store import Job, MemoryTaskStore

if TYPE_CHECKING:
    from seedance.model.pipeline import GenerationResult, Progress, SeedancePipeline

log = logging.getLogger(__name__)
VIDEO_NAME = "video.mp4"
LAST_FRAME_NAME = "last_frame.png"


class _Cancelled(Exception):
    """Raised from the progress callback to unwind the pipeline between steps."""


class PipelineWorker(threading.Thread):
    def __init__(self, store: MemoryTaskStore, pipeline: SeedancePipeline, out_dir: Path, base_url: str,
                 stop: threading.Event, poll_s: float = 0.2):
        super().__init__(name="pipeline-worker", daemon=True)
        self.store, self.pipeline, self.out_dir, self.base_url = store, pipeline, out_dir, base_url
        self.stop_event, self.poll_s = stop, poll_s
        self._current: Job | None = None

    def cancel_current(self) -> None:
        job = self._current
        if job is not None:
            job.cancel.set()

    def run(self) -> None:
        while not self.stop_event.is_set():
            job = self.store.take(timeout=self.poll_s)
            if job is None:
                continue
            self._current = job
            try:
                model_thread.call(self._run, job)  # where the model was loaded (services/model_thread.py)
            finally:
                self._current = None

    def url(self, task_id: str, name: str) -> str:
        return f"{self.base_url}/{task_id}/{name}"

    def _run(self, job: Job) -> None:
        refine = job.plan.refine
        state = {"percent": 0.0, "preview": False}

        def publish(stage: str, step: int, total: int) -> None:
            if job.cancel.is_set():
                raise _Cancelled
            msg = progress_message(stage, step, total, refine, bool(state["preview"]), float(state["percent"]))
            state["percent"] = msg.percent
            self.store.update(job.task_id, lambda t: t.progress.CopyFrom(msg))

        def on_progress(event: Progress) -> None:
            publish(event.stage, event.step, event.total)

        task_dir = self.out_dir / job.task_id
        task_dir.mkdir(parents=True, exist_ok=True)

        def on_preview(frames: np.ndarray) -> None:
            from seedance.model.media import write_mp4

            name = Path(VIDEO_NAME).with_suffix(".preview.mp4").name
            write_mp4(frames, task_dir / name, job.plan.fps)
            state["preview"] = True

            def mark(t: vg.Task) -> None:
                t.result.preview_url = self.url(job.task_id, name)
                t.progress.preview_available = True

            self.store.update(job.task_id, mark)

        try:
            result = self.pipeline.generate(job.request, progress=on_progress, on_preview=on_preview)
            publish("save", 0, 1)
            task_result = self._save(job, result, task_dir)
            publish("save", 1, 1)
        except _Cancelled:
            self.store.finish(job.task_id, pb.TASK_STATUS_CANCELLED, "cancelled by the client")
            return
        except Exception as e:  # a task's failure must not kill the worker; the client sees why
            log.exception("task %s failed", job.task_id)
            self.store.finish(job.task_id, pb.TASK_STATUS_FAILED, f"generation failed: {e.__class__.__name__}: {e}")
            return
        self.store.finish(job.task_id, pb.TASK_STATUS_SUCCEEDED, result=task_result)

    def _save(self, job: Job, result: GenerationResult, task_dir: Path) -> vg.TaskResult:
        from PIL import Image

        from seedance.model.pipeline.outputs import save_result

        paths = save_result(result, task_dir / VIDEO_NAME)
        p, tid = result.plan, job.task_id
        out = vg.TaskResult(
            video_url=self.url(tid, paths.video.name), contact_sheet_url=self.url(tid, paths.contact_sheet.name),
            metadata_json=json.dumps(json.loads(paths.metadata.read_text()), ensure_ascii=False),
            seed=p.seed, width=p.width, height=p.height, frames=p.frames, fps=p.fps)
        if paths.preview is not None:
            out.preview_url = self.url(tid, paths.preview.name)
        if job.return_last_frame:
            Image.fromarray(result.frames[-1]).save(task_dir / LAST_FRAME_NAME)
            out.last_frame_url = self.url(tid, LAST_FRAME_NAME)
        return out
