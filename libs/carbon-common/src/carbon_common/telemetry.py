"""OpenTelemetry setup from the standard OTEL_* variables.

Traces propagate over gRPC (W3C trace context in metadata) through the
instrumentation interceptors, so one REST quote is one trace across services.
Without OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_TRACES_EXPORTER nothing is exported.
"""

from __future__ import annotations

import os
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

_configured = False


def configure(service: str, extra_processors: list[SpanProcessor] | None = None) -> None:
    global _configured
    if _configured:
        return
    _configured = True
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", service)})
    provider = TracerProvider(resource=resource)
    exporter_kind = os.environ.get("OTEL_TRACES_EXPORTER", "otlp" if _otlp_endpoint() else "none")
    if exporter_kind == "otlp":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    for processor in extra_processors or []:
        provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)

    readers: list[Any] = []
    if os.environ.get("OTEL_METRICS_EXPORTER", "otlp" if _otlp_endpoint() else "none") == "otlp":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

        readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
    metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=readers))


def _otlp_endpoint() -> str:
    return os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")


def server_interceptors() -> list[Any]:
    from opentelemetry.instrumentation.grpc import server_interceptor

    return [server_interceptor()]


def client_interceptors() -> list[Any]:
    from opentelemetry.instrumentation.grpc import client_interceptor

    return [client_interceptor()]
