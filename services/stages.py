"""The five stage services (seedance.v1 stages.proto) over one loaded model.

Each class answers its service's RPCs with the in-process pipeline's own stage methods, so a
gateway composing the stages over the network gets what `SeedancePipeline.generate` computes in
one process (tested). The classes know nothing about Ray: the Ray Serve deployments wrap them
(services/app.py), and the LocalStages client calls them directly in one process.

A method takes the request message and, when called through a gRPC proxy, its `grpc_context`:
a bad request sets INVALID_ARGUMENT with "FIELD: RULE" there and raises the InvalidRequestError,
which a DeploymentHandle caller receives as is. `trace_context` (a W3C traceparent carrier) joins
the stage's span to the caller's trace across DeploymentHandles.
"""

from __future__ import annotations

import contextlib
import inspect
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent import futures
from typing import TYPE_CHECKING, Any

import numpy as np

from seedance.errors import InvalidRequestError
from seedance.protos.seedance.v1 import stages_pb2 as st
from seedance.services import model_thread, tracing
from seedance.services.errors import grpc_status
from seedance.services.wire import (
    from_numpy,
    from_torch,
    text_tokens_from_pb,
    text_tokens_to_pb,
    to_numpy,
    to_torch,
)

if TYPE_CHECKING:
    import torch

    from seedance.model.pipeline import SeedancePipeline

MAX_STEPS = 1000


def load_pipeline(model_dir: str | None = None, device: str = "cpu", thin_decoder: bool = False) -> SeedancePipeline:
    """The pipeline a stage replica serves: the model directory's bundle (default: the embedded model)."""
    from seedance.cli.common import load_model
    from seedance.model.pipeline import SeedancePipeline

    return SeedancePipeline(load_model(model_dir), device=device, thin_decoder=thin_decoder)


def mirror_error(grpc_context: Any, exc: BaseException) -> None:
    """Set the gRPC status a typed error maps to on a Serve gRPC context (None: a handle call)."""
    if grpc_context is not None:
        code, message = grpc_status(exc)
        grpc_context.set_code(code)
        grpc_context.set_details(message)


@contextlib.contextmanager
def serving(name: str, request: Any, grpc_context: Any, trace_context: dict | None) -> Iterator[None]:
    """The scope of one stage RPC: a span joined to the caller's trace; an error mirrored onto
    the gRPC context (status + "FIELD: RULE") and re-raised."""
    with tracing.span(name, trace_context, task_id=getattr(request, "task_id", "")):
        try:
            yield
        except Exception as e:
            mirror_error(grpc_context, e)
            raise


def _answer_errors(request_type: type) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Wrap a stage RPC in `serving`. Called with serialized bytes (the DeploymentHandle path:
    Ray cannot pickle protobuf messages), it parses them and answers bytes; called with a
    message (the gRPC proxy path), it answers a message."""

    def decorate(method: Callable[..., Any]) -> Callable[..., Any]:
        def scope(self: Any, request: Any, grpc_context: Any, trace_context: dict | None) -> tuple[Any, bool, Any]:
            raw = isinstance(request, bytes)
            req = request_type.FromString(request) if raw else request
            name = f"{type(self).__name__.removesuffix('Replica').removesuffix('Stage')}.{method.__name__}"
            return req, raw, serving(name, req, grpc_context, trace_context)

        if inspect.isgeneratorfunction(method):
            def wrapper(self: Any, request: Any, grpc_context: Any = None, trace_context: dict | None = None) -> Any:
                req, raw, rpc = scope(self, request, grpc_context, trace_context)
                with rpc:
                    for event in method(self, req):
                        yield event.SerializeToString() if raw else event
        else:
            def wrapper(self: Any, request: Any, grpc_context: Any = None, trace_context: dict | None = None) -> Any:
                req, raw, rpc = scope(self, request, grpc_context, trace_context)
                with rpc:
                    out = model_thread.call(method, self, req)
                return out.SerializeToString() if raw else out

        wrapper.__name__, wrapper.__doc__ = method.__name__, method.__doc__
        return wrapper

    return decorate


class _Stage:
    def __init__(self, pipeline: SeedancePipeline | None = None, model_dir: str | None = None,
                 device: str = "cpu", thin_decoder: bool = False):
        # Loaded on the model thread, where the calls run too (see services/model_thread.py).
        self.pipeline = pipeline or model_thread.call(load_pipeline, model_dir, device, thin_decoder)
        self.config = self.pipeline.config


class RewriterStage(_Stage):
    @_answer_errors(st.RewriteRequest)
    def Rewrite(self, request: st.RewriteRequest) -> st.RewriteResponse:
        from seedance.model.pipeline.request import _check_prompt

        prompts = [_check_prompt(p, f"prompts[{i}]") for i, p in enumerate(request.prompts)]
        if not prompts:
            raise InvalidRequestError("prompts", "must hold at least one prompt")
        rw = self.pipeline.rewriter
        out = st.RewriteResponse()
        for i, prompt in enumerate(prompts):
            task = "i2v" if request.image_to_video and i == 0 else "t2v"
            r = rw.rewrite(prompt, task=task, camera_fixed=request.camera_fixed)
            out.captions.add(caption=r.caption, backend=r.backend, task=r.task, language=r.language)
        return out


class TextEncoderStage(_Stage):
    @_answer_errors(st.EncodeTextRequest)
    def Encode(self, request: st.EncodeTextRequest) -> st.EncodeTextResponse:
        return self.encode_many([request])[0]

    def encode_many(self, requests: list[st.EncodeTextRequest]) -> list[st.EncodeTextResponse]:
        """Several requests' captions in one text-encoder pass (the unit of dynamic batching).
        The encoder is causal with right padding, so a caption's states do not depend on what
        it is batched with (equal to encoding it alone, up to float rounding; tested)."""
        import torch

        from seedance.model.conditioning import pack_captions

        spans, captions = [], []
        for i, r in enumerate(requests):
            if not r.captions:
                raise InvalidRequestError("captions" if len(requests) == 1 else f"requests[{i}].captions",
                                          "must hold at least one caption")
            spans.append((len(captions), len(r.captions)))
            captions += list(r.captions)
        enc = self.pipeline.bundle.text_encoder
        with torch.no_grad():
            cond = enc.encode(captions)
            uncond = enc.encode([""] * max(n for _, n in spans))
        return [st.EncodeTextResponse(
            cond=text_tokens_to_pb(pack_captions(cond.hidden[a:a + n].cpu(), cond.mask[a:a + n].cpu())),
            uncond=text_tokens_to_pb(pack_captions(uncond.hidden[:n].cpu(), uncond.mask[:n].cpu())))
            for a, n in spans]


def _initial_noise(req: st.DenoiseRequest, field: str) -> torch.Tensor:
    import torch

    kind = req.WhichOneof("initial_noise")
    if kind == "noise":
        return to_torch(req.noise, f"{field}.noise").float()
    if kind != "seeded_noise":
        raise InvalidRequestError(f"{field}.initial_noise", "set noise or seeded_noise")
    spec = req.seeded_noise
    if len(spec.shape) != 5 or any(d < 1 for d in spec.shape) or spec.shape[0] != 1:
        raise InvalidRequestError(f"{field}.seeded_noise.shape", f"must be [1, C, t, h, w], got {list(spec.shape)}")
    gen = torch.Generator().manual_seed(spec.seed)
    if spec.skip_shape:  # the in-process pipeline draws the refiner's noise after the base noise
        torch.randn(tuple(spec.skip_shape), generator=gen)
    return torch.randn(tuple(spec.shape), generator=gen)


class _Denoising(_Stage):
    """Denoise and Refine share the request checks and the streamed, cancellable sampling loop.

    `max_batch_size` > 1 batches the DiT steps of concurrent calls (services.step_batcher): rows
    of a CFG pair count two. 1 runs each call's steps alone."""

    def __init__(self, *args: Any, max_batch_size: int = 1, batch_wait_s: float = 0.005, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.max_batch_size, self.batch_wait_s = max_batch_size, batch_wait_s
        self._batchers: dict[int, Any] = {}
        self._batchers_lock = threading.Lock()

    def _model(self, dit: Any) -> Any:
        """dit itself, or a stand-in that batches its calls with other streams' (one batcher per model)."""
        if self.max_batch_size <= 1:
            return dit
        from seedance.model.dit.compile import autocast
        from seedance.services.step_batcher import BatchedDiT, StepBatcher

        with self._batchers_lock:
            if id(dit) not in self._batchers:
                p = self.pipeline
                self._batchers[id(dit)] = StepBatcher(dit, self.max_batch_size, self.batch_wait_s,
                                                      context=lambda: autocast(p.device, p.autocast))
            return BatchedDiT(self._batchers[id(dit)])

    def _inputs(self, req: st.DenoiseRequest, field: str) -> dict[str, Any]:
        import torch

        noise = _initial_noise(req, field)
        if not 1 <= req.steps <= MAX_STEPS:
            raise InvalidRequestError(f"{field}.steps", f"must be in [1, {MAX_STEPS}], got {req.steps}")
        if not 0.0 <= req.guidance <= 50.0:
            raise InvalidRequestError(f"{field}.guidance", f"must be in [0, 50], got {req.guidance}")
        if not 1 <= req.num_shots <= noise.shape[2]:
            raise InvalidRequestError(f"{field}.num_shots", f"must be in [1, {noise.shape[2]}] (latent frames), "
                                                            f"got {req.num_shots}")
        latent_channels = self.config.vae.latent_channels
        if noise.dim() != 5 or noise.shape[:2] != (1, latent_channels):
            raise InvalidRequestError(f"{field}.noise", f"must be [1, {latent_channels}, t, h, w], "
                                                        f"got {list(noise.shape)}")
        cond = (to_torch(req.condition, f"{field}.condition").float() if req.HasField("condition")
                else torch.zeros_like(noise))
        mask = (to_torch(req.condition_mask, f"{field}.condition_mask").float() if req.HasField("condition_mask")
                else torch.zeros(1, noise.shape[2]))
        if cond.shape != noise.shape:
            raise InvalidRequestError(f"{field}.condition", f"must have the noise's shape {list(noise.shape)}, "
                                                            f"got {list(cond.shape)}")
        if mask.shape != (1, noise.shape[2]):
            raise InvalidRequestError(f"{field}.condition_mask", f"must be [1, {noise.shape[2]}], got {list(mask.shape)}")
        text = (text_tokens_from_pb(req.text, f"{field}.text"), text_tokens_from_pb(req.uncond_text, f"{field}.uncond_text"))
        device = self.pipeline.device
        return {"num_shots": req.num_shots, "text": tuple(t.to(device) for t in text), "noise": noise.to(device),
                "cond": cond.to(device), "mask": mask.to(device), "steps": req.steps, "guidance": req.guidance}

    def _sample(self, dit: Any, inputs: dict[str, Any], extra: torch.Tensor | None,
                on_step: Callable[[int, int], None] | None = None) -> torch.Tensor:
        return self.pipeline.denoise(self._model(dit), inputs["num_shots"], inputs["text"], inputs["noise"],
                                     inputs["cond"], inputs["mask"], inputs["steps"], inputs["guidance"], extra=extra,
                                     progress=None if on_step is None else (lambda s, n, _x: on_step(s, n)))

    def _stream(self, dit: Any, inputs: dict[str, Any], extra: torch.Tensor | None) -> Iterator[st.DenoiseEvent]:
        """Sample on the model thread (on a thread of its own when steps are batched: the batcher
        needs concurrent loops), yielding progress after each step; closing the stream (the
        caller cancelled) stops the sampler at its next step, or before its first."""
        events: queue.Queue[tuple[str, Any]] = queue.Queue()
        stop = threading.Event()

        class _Stopped(Exception):
            pass

        def on_step(step: int, total: int) -> None:
            if stop.is_set():
                raise _Stopped
            events.put(("step", (step, total)))

        def run() -> None:
            try:
                if stop.is_set():  # cancelled while queued behind another call
                    raise _Stopped
                events.put(("done", self._sample(dit, inputs, extra, on_step)))
            except _Stopped:
                events.put(("stopped", None))
            except BaseException as e:  # re-raised in the caller's thread
                events.put(("error", e))

        join = self._start_sampler(run)
        try:
            while True:
                kind, value = events.get()
                if kind == "step":
                    yield st.DenoiseEvent(progress=st.StepProgress(step=value[0], total=value[1]))
                elif kind == "done":
                    yield st.DenoiseEvent(result=st.DenoiseResponse(latent=from_torch(value, "latent")))
                    return
                elif kind == "error":
                    raise value
                else:
                    return
        finally:
            stop.set()
            join()

    def _start_sampler(self, run: Callable[[], None]) -> Callable[[], None]:
        """Start `run`; returns a function that waits (up to 60 s) for it to end."""
        if self.max_batch_size > 1:
            worker = threading.Thread(target=run, name="sampler", daemon=True)
            worker.start()
            return lambda: worker.join(timeout=60)
        future = model_thread.submit(run)

        def join() -> None:
            if not future.cancel():  # not started yet: dropped; running: it stops at its next step
                futures.wait([future], timeout=60)

        return join


class DenoiserStage(_Denoising):
    @_answer_errors(st.DenoiseRequest)
    def Denoise(self, request: st.DenoiseRequest) -> st.DenoiseResponse:
        latent = self._sample(self.pipeline.bundle.dit, self._inputs(request, "denoise"), None)
        return st.DenoiseResponse(latent=from_torch(latent, "latent"))

    @_answer_errors(st.DenoiseRequest)
    def DenoiseStream(self, request: st.DenoiseRequest) -> Iterator[st.DenoiseEvent]:
        yield from self._stream(self.pipeline.bundle.dit, self._inputs(request, "denoise"), None)


class RefinerStage(_Denoising):
    def _refine_inputs(self, request: st.RefineRequest) -> tuple[Any, dict[str, Any], torch.Tensor]:
        refiner = self.pipeline.bundle.refiner
        if refiner is None:
            raise InvalidRequestError("denoise", "this model has no refiner")
        inputs = self._inputs(request.denoise, "denoise")
        low_res = to_torch(request.low_res, "low_res").float()
        if low_res.shape != inputs["noise"].shape:
            raise InvalidRequestError("low_res", f"must have the noise's shape {list(inputs['noise'].shape)}, "
                                                 f"got {list(low_res.shape)}")
        return refiner, inputs, low_res.to(self.pipeline.device)

    @_answer_errors(st.RefineRequest)
    def Refine(self, request: st.RefineRequest) -> st.DenoiseResponse:
        refiner, inputs, low_res = self._refine_inputs(request)
        return st.DenoiseResponse(latent=from_torch(self._sample(refiner, inputs, low_res), "latent"))

    @_answer_errors(st.RefineRequest)
    def RefineStream(self, request: st.RefineRequest) -> Iterator[st.DenoiseEvent]:
        refiner, inputs, low_res = self._refine_inputs(request)
        yield from self._stream(refiner, inputs, low_res)


class VAEStage(_Stage):
    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._thin = self.pipeline.bundle.thin_vae

    @_answer_errors(st.VAEEncodeRequest)
    def Encode(self, request: st.VAEEncodeRequest) -> st.VAEEncodeResponse:
        from PIL import Image

        from seedance.model.media import fit_image

        frames = to_numpy(request.frames, "frames")
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
            raise InvalidRequestError("frames", f"must be uint8 [T, H, W, 3], got {frames.dtype} {list(frames.shape)}")
        if request.resize != st.RESIZE_NONE and not (request.width > 0 and request.height > 0):
            raise InvalidRequestError("width", "width and height must be positive when resizing")
        if request.resize == st.RESIZE_FIT:
            frames = np.stack([fit_image(Image.fromarray(f), request.width, request.height) for f in frames])
        try:
            if request.resize == st.RESIZE_UPSAMPLE:
                latent = self.pipeline.encode_upsampled(frames, request.width, request.height)
            else:
                latent = self.pipeline.encode_frames(frames)
        except ValueError as e:  # the VAE's own shape rules (1 + 4k frames, multiples of 8)
            raise InvalidRequestError("frames", str(e)) from None
        return st.VAEEncodeResponse(latent=from_torch(latent, "latent"))

    @_answer_errors(st.VAEDecodeRequest)
    def Decode(self, request: st.VAEDecodeRequest) -> st.VAEDecodeResponse:
        z = to_torch(request.latent, "latent").float()
        c = self.config.vae.latent_channels
        if z.dim() != 5 or z.shape[:2] != (1, c):
            raise InvalidRequestError("latent", f"must be [1, {c}, t, h, w], got {list(z.shape)}")
        vae = self._thin if request.thin_decoder and self._thin is not None else self.pipeline.bundle.vae
        frames = self.pipeline.decode(z.to(self.pipeline.device), vae)
        return st.VAEDecodeResponse(frames=from_numpy(frames, "frames"))

