"""The OTLP exporter against a real (if minimal) collector: an OTLP/gRPC TraceService on loopback
that records what it receives. The exporting side runs in a subprocess because the tracer
provider is process-wide and configured once (the other tests use the in-memory exporter)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from concurrent import futures

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc as ts_grpc


class Collector(ts_grpc.TraceServiceServicer):
    def __init__(self) -> None:
        self.requests: list[ts.ExportTraceServiceRequest] = []
        self.lock = threading.Lock()

    def Export(self, request, context):
        with self.lock:
            self.requests.append(request)
        return ts.ExportTraceServiceResponse()


EXPORTER = textwrap.dedent("""
    from opentelemetry import trace
    from seedance.services import tracing

    assert tracing.configure("seedance-otlp-test") == "otlp"
    with tracing.span("task", task_id="t-1"):
        carrier = tracing.inject()
    with tracing.span("Denoiser.DenoiseStream", carrier):  # a stage service joining the task's trace
        pass
    trace.get_tracer_provider().shutdown()  # flushes the batch processor
""")


def test_spans_reach_an_otlp_collector_over_grpc(tmp_path):
    collector = Collector()
    server = grpc.server(futures.ThreadPoolExecutor(2))
    ts_grpc.add_TraceServiceServicer_to_server(collector, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        env = {**os.environ, "SEEDANCE_TRACE_EXPORTER": "otlp",
               "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}"}
        proc = subprocess.run([sys.executable, "-c", EXPORTER], env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
    finally:
        server.stop(grace=None)
    spans, services = [], set()
    for req in collector.requests:
        for rs in req.resource_spans:
            services |= {a.value.string_value for a in rs.resource.attributes if a.key == "service.name"}
            for ss in rs.scope_spans:
                spans += list(ss.spans)
    assert services == {"seedance-otlp-test"}
    by_name = {s.name: s for s in spans}
    assert set(by_name) == {"task", "Denoiser.DenoiseStream"}
    task, stage = by_name["task"], by_name["Denoiser.DenoiseStream"]
    assert stage.trace_id == task.trace_id and stage.parent_span_id == task.span_id
    assert any(a.key == "seedance.task_id" and a.value.string_value == "t-1" for a in task.attributes)
