"""OpenTelemetry for every service: traces, RPC metrics, exporters.

Traces: one REST quote is one trace across services. The server side is
`GrpcServerTelemetry` below (it extracts the W3C `traceparent`/`tracestate`
from the incoming gRPC metadata and makes the server span current, and records
the RPC metrics); the client side is `CarbonClientTelemetry` below, a native
`grpc.*ClientInterceptor` (the instrumentation's own client interceptor is a
`grpcext` interceptor that `grpc.intercept_channel` refuses) that starts a
CLIENT span and injects the current context into the outgoing metadata with
the globally configured propagator (W3C trace context + baggage by default,
`OTEL_PROPAGATORS` to change). FastAPI edges call `instrument_fastapi(app)` so
a REST request's span is the parent of the gRPC calls its handler makes.

Metrics per RPC (server side, every method including health):
  `rpc.server.duration` histogram, unit ms, attributes `rpc.system`,
  `rpc.service`, `rpc.method`, `rpc.grpc.status_code` (int) and `status`
  (the status code name, e.g. "OK", "PERMISSION_DENIED"). Its count is the
  request rate, `status != "OK"` the errors. The client side records
  `rpc.client.duration` with the same attributes.
Business metrics: see `carbon_common.metrics`.

REST edges: `HttpServerTelemetry` (installed by `instrument_fastapi`) records
`http.server.duration` (ms, `http.method`, `http.target` = the route template,
`http.status_code`) for every request.

Prometheus: every metric above is also served in the Prometheus text format
at `GET /metrics` on the service's HTTP port (`serve_metrics(app)`, mounted by
`carbon_common.server` on every HTTP edge), through OpenTelemetry's Prometheus
exporter reading into `PROMETHEUS_REGISTRY`, next to the process metrics
(`process_cpu_seconds_total`, `process_resident_memory_bytes`, ...). Dots
become underscores and the unit is a suffix: `rpc_server_duration_milliseconds`,
`http_server_duration_milliseconds`, `carbon_quotes_total`, ... (the chart's
PrometheusRule, charts/carbon-platform/files/prometheus-rules.yaml, uses these).

Exporters come from the standard variables: `OTEL_TRACES_EXPORTER` /
`OTEL_METRICS_EXPORTER` (`otlp`, `console`, `none`, and `prometheus` for
metrics, which is always on; comma-separated lists allowed; default `otlp` when
`OTEL_EXPORTER_OTLP_ENDPOINT` (or the signal's own endpoint variable) is set,
else `none`), `OTEL_EXPORTER_OTLP_PROTOCOL` (or `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`
/ `OTEL_EXPORTER_OTLP_METRICS_PROTOCOL`): `grpc` (default, port 4317) or
`http/protobuf` (port 4318); anything else fails at start. `OTEL_EXPORTER_OTLP_*`
configure the exporter, `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
`OTEL_METRIC_EXPORT_INTERVAL`, `OTEL_SDK_DISABLED=true` to switch all of it off
(then /metrics answers with an empty exposition).

Test exporter: with `CARBON_TELEMETRY_SPAN_FILE=/path`, every finished span is
appended to that file as one JSON line (`trace_id`, `span_id`,
`parent_span_id`, `name`, `kind`, `service.name`, `attributes`), written
synchronously when the span ends, so a test can follow a trace across
separate processes.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import grpc
from opentelemetry import context as otel_context
from opentelemetry import metrics, propagate, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, MetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import CollectorRegistry, ProcessCollector

from carbon_common.identity import CallDetails

log = logging.getLogger(__name__)

SPAN_FILE_ENV = "CARBON_TELEMETRY_SPAN_FILE"
INSTRUMENTATION_NAME = "carbon_common.telemetry"

_lock = threading.Lock()
_configured = False

# What GET /metrics serves: the OpenTelemetry metrics of this process (filled by
# the Prometheus reader that configure() installs) and the process collector.
PROMETHEUS_REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=PROMETHEUS_REGISTRY)
OTLP_PROTOCOLS = ("grpc", "http/protobuf")


def configure(
    service: str,
    extra_processors: Sequence[SpanProcessor] | None = None,
    metric_readers: Sequence[MetricReader] | None = None,
) -> bool:
    """Install the global tracer and meter providers once per process.

    Returns True when this call installed them, False when telemetry was
    already configured (the second call changes nothing except adding
    `extra_processors` to the existing SDK tracer provider).
    """
    global _configured
    with _lock:
        if _configured:
            for processor in extra_processors or []:
                add_span_processor(processor)
            return False
        _configured = True
    disabled = os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME") or service})

    provider = TracerProvider(resource=resource)
    if not disabled:
        for kind in _exporters("OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
            if kind == "otlp":
                provider.add_span_processor(BatchSpanProcessor(otlp_span_exporter()))
            elif kind == "console":
                from opentelemetry.sdk.trace.export import ConsoleSpanExporter

                provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
            else:
                log.warning("unsupported OTEL_TRACES_EXPORTER", extra={"exporter": kind})
    span_file = os.environ.get(SPAN_FILE_ENV)
    if span_file:
        provider.add_span_processor(JsonLinesSpanProcessor(span_file))
    for processor in extra_processors or []:
        provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)

    readers: list[MetricReader] = list(metric_readers or [])
    if not disabled:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader

        # Pull-based: costs nothing until /metrics is scraped.
        readers.append(PrometheusMetricReader(scope_info_enabled=False, registry=PROMETHEUS_REGISTRY))
        for kind in _exporters("OTEL_METRICS_EXPORTER", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"):
            from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

            if kind == "prometheus":
                continue
            if kind == "otlp":
                readers.append(PeriodicExportingMetricReader(otlp_metric_exporter()))
            elif kind == "console":
                from opentelemetry.sdk.metrics.export import ConsoleMetricExporter

                readers.append(PeriodicExportingMetricReader(ConsoleMetricExporter()))
            else:
                log.warning("unsupported OTEL_METRICS_EXPORTER", extra={"exporter": kind})
    metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=readers))
    return True


def is_configured() -> bool:
    return _configured


def otlp_protocol(signal: str) -> str:
    """OTEL_EXPORTER_OTLP_<SIGNAL>_PROTOCOL, else OTEL_EXPORTER_OTLP_PROTOCOL, else grpc."""
    value = (
        os.environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "grpc"
    ).strip()
    if value not in OTLP_PROTOCOLS:
        raise ValueError(f"OTLP protocol {value!r} is not supported: use one of {', '.join(OTLP_PROTOCOLS)}")
    return value


def otlp_span_exporter() -> SpanExporter:
    """The OTLP span exporter of the configured protocol (endpoint etc. from OTEL_EXPORTER_OTLP_*)."""
    if otlp_protocol("traces") == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter

        return HttpSpanExporter()
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter

    return GrpcSpanExporter()


def otlp_metric_exporter() -> MetricExporter:
    """The OTLP metric exporter of the configured protocol."""
    if otlp_protocol("metrics") == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter

        return HttpMetricExporter()
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetricExporter

    return GrpcMetricExporter()


def prometheus_exposition() -> tuple[bytes, str]:
    """The Prometheus text exposition of this process and its content type."""
    from prometheus_client import generate_latest
    from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

    # Text format 0.0.4: what every Prometheus (2.x and 3.x) and agent parses.
    return generate_latest(PROMETHEUS_REGISTRY), CONTENT_TYPE_PLAIN_0_0_4


def serve_metrics(app: Any, path: str = "/metrics") -> Any:
    """Serve the Prometheus exposition at GET `path` of a FastAPI/Starlette app (idempotent).

    Unauthenticated like the health probes: the NetworkPolicies open the HTTP
    port only to the ingress controller and Prometheus, and the Ingress routes
    of the services do not need it (docs/runbook.md, "Metrics").
    """
    from starlette.requests import Request
    from starlette.responses import Response

    if any(getattr(route, "path", None) == path for route in app.router.routes):
        return app

    def metrics_endpoint(_request: Request) -> Response:
        body, content_type = prometheus_exposition()
        return Response(body, media_type=content_type)

    app.add_route(path, metrics_endpoint, methods=["GET"], include_in_schema=False)
    return app


def add_span_processor(processor: SpanProcessor) -> None:
    """Attach a span processor to the global SDK tracer provider (tests, extra exporters)."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        raise RuntimeError("telemetry.configure() has not installed an SDK tracer provider")
    provider.add_span_processor(processor)


def _exporters(variable: str, signal_endpoint: str) -> list[str]:
    default = "otlp" if (os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get(signal_endpoint)) else "none"
    kinds = [k.strip().lower() for k in os.environ.get(variable, default).split(",")]
    return [k for k in kinds if k and k != "none"]


class JsonLinesSpanProcessor(SpanProcessor):
    """Appends every finished span to a file as one JSON line (test exporter).

    One `write` per line on an O_APPEND descriptor, under a lock, so lines
    never interleave even with several processes sharing the file.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._write_lock = threading.Lock()

    def on_end(self, span: ReadableSpan) -> None:
        context = span.get_span_context()
        if context is None:
            return
        parent = span.parent
        record = {
            "trace_id": format(context.trace_id, "032x"),
            "span_id": format(context.span_id, "016x"),
            "parent_span_id": format(parent.span_id, "016x") if parent is not None else None,
            "name": span.name,
            "kind": span.kind.name,
            "service.name": span.resource.attributes.get("service.name"),
            "status": span.status.status_code.name,
            "attributes": dict(span.attributes or {}),
            "start_time_unix_nano": span.start_time,
            "end_time_unix_nano": span.end_time,
        }
        line = (json.dumps(record, default=str, ensure_ascii=False) + "\n").encode()
        with self._write_lock:
            if self._fd >= 0:
                os.write(self._fd, line)

    def shutdown(self) -> None:
        with self._write_lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def read_span_file(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The spans a JsonLinesSpanProcessor wrote (missing file: none yet)."""
    file = Path(path)
    if not file.exists():
        return []
    return [json.loads(line) for line in file.read_text().splitlines() if line.strip()]


# ---------------------------------------------------------------- gRPC server


def server_interceptors() -> list[grpc.ServerInterceptor]:
    """Outermost: the trace span and RPC metrics (`GrpcServerTelemetry`).

    It wraps the error interceptor, so the span and the metrics see the final status code of a
    ServiceError turned into google.rpc.Status.
    """
    return [GrpcServerTelemetry()]


def _split_method(full_method: str) -> tuple[str, str]:
    service, _, method = full_method.lstrip("/").partition("/")
    return service, method


def _rpc_attributes(full_method: str, code: grpc.StatusCode) -> dict[str, Any]:
    service, method = _split_method(full_method)
    return {
        "rpc.system": "grpc",
        "rpc.service": service,
        "rpc.method": method,
        "rpc.grpc.status_code": code.value[0],
        "status": code.name,
    }


_instruments: dict[str, Any] = {}


def _histogram(name: str, description: str) -> Any:
    # Created once from the global meter (a proxy until configure() runs, then real).
    with _lock:
        if name not in _instruments:
            meter = metrics.get_meter(INSTRUMENTATION_NAME)
            _instruments[name] = meter.create_histogram(name, unit="ms", description=description)
        return _instruments[name]


def _status_of(context: grpc.ServicerContext, error: BaseException | None) -> grpc.StatusCode:
    code = None
    with contextlib.suppress(AttributeError, RuntimeError):
        code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code
    return grpc.StatusCode.OK if error is None else grpc.StatusCode.UNKNOWN


HEALTH_SERVICE_PREFIX = "/grpc.health.v1.Health/"


class GrpcServerTelemetry(grpc.ServerInterceptor):
    """What the services' gRPC server telemetry is, in one interceptor:

    - a SERVER span per call except health checks, child of the W3C context (`traceparent`,
      `tracestate`, `baggage`, through the global propagator) the call's metadata carries, current
      while the handler runs (its logs and outgoing calls belong to it), named by the full method
      (`/carbon.v1.PricingService/CreateQuote`), attributes `rpc.system`, `rpc.service`, `rpc.method`,
      `rpc.grpc.status_code`; status ERROR for any other code than OK. No exception event: a refusal
      (`context.abort` raises) would format a traceback costing more than the refusal; an unexpected
      exception is logged with its traceback by ErrorInterceptor (and answered INTERNAL);
    - `rpc.server.duration` (ms) for every call, health included, by `rpc.system`, `rpc.service`,
      `rpc.method`, `rpc.grpc.status_code` and `status` (the code's name).

    It replaces opentelemetry-instrumentation-grpc's server interceptor (a wrapped servicer context,
    peer parsing and a metadata dict per call) and a second, metrics-only interceptor: together they
    cost about 0.3 ms of CPU per call, more than a gRPC call without them (issue 14).
    """

    def __init__(self) -> None:
        self._fields = frozenset(propagate.get_global_textmap().fields)
        self._duration = _histogram("rpc.server.duration", "Duration of inbound gRPC calls")

    def intercept_service(self, continuation: Callable[..., Any], handler_call_details: Any) -> Any:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method: str = handler_call_details.method
        service, name = _split_method(method)
        traced = not method.startswith(HEALTH_SERVICE_PREFIX)
        fields = self._fields
        duration = self._duration

        def begin(context: grpc.ServicerContext) -> tuple[Any, Any]:
            if not traced:
                return None, None
            carrier = {key: value for key, value in context.invocation_metadata() if key in fields}
            parent = propagate.extract(carrier) if carrier else otel_context.Context()
            span = _tracer().start_span(
                method,
                context=parent,
                kind=SpanKind.SERVER,
                attributes={"rpc.system": "grpc", "rpc.service": service, "rpc.method": name},
            )
            return span, otel_context.attach(trace.set_span_in_context(span, parent))

        def finish(
            start: float, context: grpc.ServicerContext, error: BaseException | None, span: Any, token: Any
        ) -> None:
            code = _status_of(context, error)
            duration.record((time.perf_counter() - start) * 1000.0, _rpc_attributes(method, code))
            if span is not None:
                otel_context.detach(token)
                span.set_attribute("rpc.grpc.status_code", code.value[0])
                if code is not grpc.StatusCode.OK:
                    span.set_status(Status(StatusCode.ERROR, code.name))
                span.end()

        def unary_response(behaviour: Callable[..., Any]) -> Callable[..., Any]:
            def observed(request: Any, context: grpc.ServicerContext) -> Any:
                start = time.perf_counter()
                span, token = begin(context)
                try:
                    response = behaviour(request, context)
                except BaseException as error:
                    finish(start, context, error, span, token)
                    raise
                finish(start, context, None, span, token)
                return response

            return observed

        def stream_response(behaviour: Callable[..., Any]) -> Callable[..., Any]:
            def observed(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                start = time.perf_counter()
                span, token = begin(context)
                try:
                    yield from behaviour(request, context)
                except BaseException as error:
                    finish(start, context, error, span, token)
                    raise
                finish(start, context, None, span, token)

            return observed

        serializers = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(unary_response(handler.unary_unary), **serializers)
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(unary_response(handler.stream_unary), **serializers)
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(stream_response(handler.unary_stream), **serializers)
        if handler.stream_stream:
            return grpc.stream_stream_rpc_method_handler(stream_response(handler.stream_stream), **serializers)
        return handler


# ---------------------------------------------------------------- gRPC client


def client_interceptors() -> list[Any]:
    """Interceptors for `grpc.intercept_channel`: client span + W3C context in metadata."""
    return [CarbonClientTelemetry()]


class _MetadataSetter:
    def set(self, carrier: list[tuple[str, str]], key: str, value: str) -> None:
        carrier.append((key.lower(), value))


class CarbonClientTelemetry(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """A CLIENT span per outgoing call; its context travels in the call's metadata."""

    _setter = _MetadataSetter()

    def _call(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        method = details.method if isinstance(details.method, str) else details.method.decode()
        service, name = _split_method(method)
        if method.startswith("/grpc.health.v1.Health/"):
            return continuation(details, request)
        span = _tracer().start_span(
            method,
            kind=SpanKind.CLIENT,
            attributes={"rpc.system": "grpc", "rpc.service": service, "rpc.method": name},
        )
        histogram = _histogram("rpc.client.duration", "Duration of outbound gRPC calls")
        start = time.perf_counter()
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            metadata: list[tuple[str, Any]] = [
                (k, v) for k, v in (details.metadata or []) if k not in ("traceparent", "tracestate", "baggage")
            ]
            propagate.inject(metadata, setter=self._setter)  # type: ignore[arg-type]  # our setter writes a gRPC metadata list, not the default dict carrier
            new_details = CallDetails(
                details.method,
                details.timeout,
                metadata,
                details.credentials,
                getattr(details, "wait_for_ready", None),
                getattr(details, "compression", None),
            )
            try:
                call = continuation(new_details, request)
            except BaseException as error:
                code = error.code() if isinstance(error, grpc.RpcError) and hasattr(error, "code") else None
                self._finish(span, histogram, start, method, code or grpc.StatusCode.UNKNOWN)
                raise
        finally:
            otel_context.detach(token)

        def done(future: Any) -> None:
            try:
                code = future.code()
            except Exception:
                code = grpc.StatusCode.CANCELLED
            self._finish(span, histogram, start, method, code or grpc.StatusCode.UNKNOWN)

        call.add_done_callback(done)
        return call

    @staticmethod
    def _finish(span: Any, histogram: Any, start: float, method: str, code: grpc.StatusCode) -> None:
        span.set_attribute("rpc.grpc.status_code", code.value[0])
        if code is not grpc.StatusCode.OK:
            span.set_status(Status(StatusCode.ERROR, code.name))
        span.end()
        histogram.record((time.perf_counter() - start) * 1000.0, _rpc_attributes(method, code))

    def intercept_unary_unary(self, continuation: Callable[..., Any], client_call_details: Any, request: Any) -> Any:
        return self._call(continuation, client_call_details, request)

    def intercept_unary_stream(self, continuation: Callable[..., Any], client_call_details: Any, request: Any) -> Any:
        return self._call(continuation, client_call_details, request)

    def intercept_stream_unary(
        self, continuation: Callable[..., Any], client_call_details: Any, request_iterator: Any
    ) -> Any:
        return self._call(continuation, client_call_details, request_iterator)

    def intercept_stream_stream(
        self, continuation: Callable[..., Any], client_call_details: Any, request_iterator: Any
    ) -> Any:
        return self._call(continuation, client_call_details, request_iterator)


# ---------------------------------------------------------------- events (asynchronous hops)


def current_traceparent() -> str | None:
    """The W3C `traceparent` of the current span, to carry in an event (None outside any trace), so
    the consumer's span continues the producer's trace across the stream."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


def consumer_span(name: str, traceparent: str | None, attributes: dict[str, Any] | None = None) -> Any:
    """A CONSUMER span (not made current) for handling one event, child of the producer's span named
    by the event's `traceparent` (a new trace without one). The caller ends it once the event is handled."""
    parent = propagate.extract({"traceparent": traceparent}) if traceparent else None
    return _tracer().start_span(name, context=parent, kind=SpanKind.CONSUMER, attributes=attributes)


@functools.cache
def _tracer() -> trace.Tracer:
    """This module's tracer, made once: get_tracer builds a new Tracer on every call (a measurable share
    of consent's audit CPU, one span per decision). Before configure() it is a proxy that follows the
    provider installed later."""
    return trace.get_tracer(INSTRUMENTATION_NAME)


# ---------------------------------------------------------------- FastAPI

# Paths (regular expressions searched in the request path, comma-separated) that get no span and no
# metric unless OTEL_PYTHON_FASTAPI_EXCLUDED_URLS / OTEL_PYTHON_EXCLUDED_URLS say otherwise.
DEFAULT_EXCLUDED_URLS = r"/healthz,/readyz,/livez,/metrics,/docs,/openapi.json,/static/"
_INSTRUMENTED = "_carbon_http_telemetry"


def instrument_fastapi(app: Any, excluded_urls: str | None = None) -> Any:
    """Trace a FastAPI app: a SERVER span per request (continuing an incoming
    `traceparent`), current while the handler runs, so the gRPC calls it makes
    are its children, and `http.server.duration` for every request (`HttpServerTelemetry`).
    Call it where the app is built, before it serves; a second call changes nothing.
    Health/docs paths are not traced unless OTEL_PYTHON_FASTAPI_EXCLUDED_URLS says otherwise.
    """
    if getattr(app, _INSTRUMENTED, False):
        return app
    if excluded_urls is None:
        excluded_urls = (
            os.environ.get("OTEL_PYTHON_FASTAPI_EXCLUDED_URLS")
            or os.environ.get("OTEL_PYTHON_EXCLUDED_URLS")
            or DEFAULT_EXCLUDED_URLS
        )
    build = app.build_middleware_stack

    def build_middleware_stack() -> Any:
        # Outside ServerErrorMiddleware, so a crash is seen as the 500 answer it becomes.
        return HttpServerTelemetry(build(), excluded_urls)

    app.build_middleware_stack = build_middleware_stack
    app.middleware_stack = None  # (re)built with the middleware on the next request
    native = getattr(app, "_telemetry", None)
    if isinstance(native, dict):
        # FastAPI's own telemetry would trace and measure every request a second time (other names).
        native.update(tracing=False, metrics=False, logs=False, operation_spans=False)
    setattr(app, _INSTRUMENTED, True)
    return app


class HttpServerTelemetry:
    """Pure ASGI middleware: what the services' HTTP telemetry is, and nothing more.

    - a SERVER span per request, child of the W3C `traceparent` (and `tracestate`/`baggage`, through
      the global propagator) the request carries, current while the app runs; named `METHOD route`
      (`METHOD` for an unrouted path), attributes `http.method`, `http.target` (the path), `http.route`,
      `http.status_code`; status ERROR for 5xx and crashes;
    - `http.server.duration` (ms) with `http.method`, `http.status_code` and `http.target` = the
      route template (absent for an unrouted path): the names and labels the alert rules and the runbook
      use (`http_server_duration_milliseconds{http_method, http_target, http_status_code}`).

    It replaces opentelemetry-instrumentation-fastapi/asgi, whose middleware cost about 0.3 ms of CPU
    per request (five measurements, a dozen span attributes, a route search before the request, a
    wrapped send) - half of a REST quote's edge (issue 14).
    """

    def __init__(self, app: Any, excluded_urls: str = DEFAULT_EXCLUDED_URLS) -> None:
        self.app = app
        patterns = [p.strip() for p in excluded_urls.split(",") if p.strip()]
        self._excluded = re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None
        # Header names (ASGI: lower-case bytes) the global propagator reads: traceparent, tracestate, baggage.
        self._fields = frozenset(name.lower().encode("latin-1") for name in propagate.get_global_textmap().fields)
        self._duration = _histogram("http.server.duration", "Duration of inbound HTTP requests")

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "http" or (self._excluded is not None and self._excluded.search(scope["path"])):
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        method: str = scope["method"]
        fields = self._fields
        carrier = {key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"] if key in fields}
        # No propagation header: a new trace (never the server loop's current context).
        parent = propagate.extract(carrier) if carrier else otel_context.Context()
        attributes = {"http.method": method, "http.target": scope["path"]}
        span = _tracer().start_span(method, context=parent, kind=SpanKind.SERVER, attributes=attributes)
        token = otel_context.attach(trace.set_span_in_context(span, parent))
        status = 0

        async def send_status(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        failure: BaseException | None = None
        try:
            await self.app(scope, receive, send_status)
        except BaseException as error:
            failure = error
            raise
        finally:
            otel_context.detach(token)
            if not status:
                status = 500  # crashed before answering (ServerErrorMiddleware answers 500)
            route = getattr(scope.get("route"), "path_format", None)
            labels: dict[str, Any] = {"http.method": method, "http.status_code": status}
            if route:
                labels["http.target"] = route
            self._duration.record((time.perf_counter() - start) * 1000.0, labels)
            if span.is_recording():
                if route:
                    span.update_name(f"{method} {route}")
                    span.set_attribute("http.route", route)
                span.set_attribute("http.status_code", status)
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR, type(failure).__name__ if failure else str(status)))
            span.end()
