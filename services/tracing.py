"""OpenTelemetry tracing: one trace per task, a span per stage call and per RPC.

The trace context crosses process boundaries as a W3C `traceparent` carrier (a dict): in gRPC
metadata from clients, and as the `trace_context` argument of stage calls over
DeploymentHandles. The exporter is chosen by `configure` (or SEEDANCE_TRACE_EXPORTER):

    none     spans are created (ids propagate) but not exported: the default
    otlp     OTLP/gRPC to OTEL_EXPORTER_OTLP_ENDPOINT (default http://127.0.0.1:4317)
    console  printed to stdout
    memory   kept in `memory_exporter()` (tests)
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from seedance.errors import ConfigError

EXPORTERS = ("none", "otlp", "console", "memory")
_PROPAGATOR = TraceContextTextMapPropagator()
_LOCK = threading.Lock()
_memory: InMemorySpanExporter | None = None
_configured: str | None = None


def configure(service_name: str, exporter: str | None = None) -> str:
    """Install the process's tracer provider once; later calls keep the first choice."""
    global _configured, _memory
    exporter = exporter or os.environ.get("SEEDANCE_TRACE_EXPORTER", "none")
    if exporter not in EXPORTERS:
        raise ConfigError(f"trace exporter: must be one of {', '.join(EXPORTERS)}, got {exporter!r}")
    with _LOCK:
        if _configured is not None:
            return _configured
        provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
        if exporter == "otlp":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

            endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint, insecure=True)))
        elif exporter == "console":
            provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
        elif exporter == "memory":
            _memory = InMemorySpanExporter()
            provider.add_span_processor(SimpleSpanProcessor(_memory))
        trace.set_tracer_provider(provider)
        _configured = exporter
        return exporter


def memory_exporter() -> InMemorySpanExporter:
    if _memory is None:
        raise RuntimeError("tracing is not configured with the memory exporter")
    return _memory


def tracer() -> trace.Tracer:
    return trace.get_tracer("seedance")


def inject() -> dict[str, str]:
    """The current trace context as a carrier dict (traceparent, tracestate)."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier


def extract(carrier: Mapping[str, str] | None) -> otel_context.Context | None:
    return _PROPAGATOR.extract(dict(carrier)) if carrier else None


def from_metadata(metadata: Any) -> dict[str, str]:
    """The W3C headers among gRPC invocation metadata ((key, value) pairs)."""
    return {k: v for k, v in (metadata or ()) if k in ("traceparent", "tracestate")}


@contextlib.contextmanager
def span(name: str, carrier: Mapping[str, str] | None = None, **attributes: Any) -> Iterator[trace.Span]:
    """A span named `name`, child of `carrier`'s context when given, else of the current span."""
    attrs = {f"seedance.{k}": v for k, v in attributes.items() if v not in (None, "")}
    with tracer().start_as_current_span(name, context=extract(carrier), attributes=attrs) as s:
        yield s
