"""RPC and business metrics, log/trace correlation, the exporters the OTEL_* and
CARBON_TELEMETRY_SPAN_FILE variables select."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from concurrent import futures
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from carbon.v1 import enterprise_pb2, enterprise_pb2_grpc
from carbon_common import metrics, telemetry
from carbon_common.channels import plain_channel
from carbon_common.errors import invalid_argument
from carbon_common.logging import JsonFormatter
from carbon_common.server import Running
from carbon_devkit.ports import free_port
from opentelemetry import trace
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from .conftest import Otel

METHOD = "GetEnterprise"


class Enterprises(enterprise_pb2_grpc.EnterpriseServiceServicer):
    def __init__(self) -> None:
        self.log = logging.getLogger("tests.telemetry.handler")

    def GetEnterprise(self, request: enterprise_pb2.GetEnterpriseRequest, context: grpc.ServicerContext) -> Any:
        self.log.info("handling", extra={"resource": request.name})
        if request.name == "bad":
            raise invalid_argument("name", "is bad")
        if request.name == "crash":
            raise RuntimeError("a bug")
        return enterprise_pb2.Enterprise(name=request.name)


def register(servicer: Enterprises) -> Callable[[grpc.Server], list[str]]:
    def _register(server: grpc.Server) -> list[str]:
        enterprise_pb2_grpc.add_EnterpriseServiceServicer_to_server(servicer, server)
        return ["carbon.v1.EnterpriseService"]

    return _register


def _histogram_by_status(otel: Otel, name: str, method: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for point in otel.metric_points(name):
        attributes = dict(point.attributes)
        if attributes.get("rpc.method") == method and attributes.get("rpc.service") == "carbon.v1.EnterpriseService":
            counts[attributes["status"]] = counts.get(attributes["status"], 0) + point.count
            assert attributes["rpc.system"] == "grpc"
            assert attributes["rpc.grpc.status_code"] == grpc.StatusCode[attributes["status"]].value[0]
            assert point.sum >= 0
    return counts


# ---------------------------------------------------------------- RPC metrics


def test_rpc_server_duration_per_method_and_status(otel: Otel, grpc_servers: Callable[..., Running]) -> None:
    before = _histogram_by_status(otel, "rpc.server.duration", METHOD)
    server = grpc_servers("metrics", register(Enterprises()))
    stub = enterprise_pb2_grpc.EnterpriseServiceStub(plain_channel(f"127.0.0.1:{server.grpc_port}"))
    for _ in range(3):
        stub.GetEnterprise(enterprise_pb2.GetEnterpriseRequest(name="ok"), timeout=5)
    with pytest.raises(grpc.RpcError):
        stub.GetEnterprise(enterprise_pb2.GetEnterpriseRequest(name="bad"), timeout=5)

    after = _histogram_by_status(otel, "rpc.server.duration", METHOD)
    assert after.get("OK", 0) - before.get("OK", 0) == 3
    assert after.get("INVALID_ARGUMENT", 0) - before.get("INVALID_ARGUMENT", 0) == 1
    client = _histogram_by_status(otel, "rpc.client.duration", METHOD)
    assert client.get("OK", 0) >= 3 and client.get("INVALID_ARGUMENT", 0) >= 1
    unit = {
        m.name: m.unit
        for rm in otel.metrics.get_metrics_data().resource_metrics  # type: ignore[union-attr]
        for sm in rm.scope_metrics
        for m in sm.metrics
    }
    assert unit["rpc.server.duration"] == "ms"


def test_a_refused_call_is_an_error_span_without_a_formatted_traceback(
    otel: Otel, grpc_servers: Callable[..., Running]
) -> None:
    """A refusal (context.abort raises) marks the server span ERROR without an exception event (its
    traceback formatting cost more than the refusal); a crash is INTERNAL, its traceback in the log."""
    server = grpc_servers("refusals", register(Enterprises()))
    stub = enterprise_pb2_grpc.EnterpriseServiceStub(plain_channel(f"127.0.0.1:{server.grpc_port}"))
    for name in ("bad", "crash"):
        with pytest.raises(grpc.RpcError):
            stub.GetEnterprise(enterprise_pb2.GetEnterpriseRequest(name=name), timeout=5)
    servers = [s for s in otel.spans.get_finished_spans() if s.kind == trace.SpanKind.SERVER]
    refused, crashed = servers[-2:]
    assert refused.status.status_code == trace.StatusCode.ERROR
    assert refused.attributes is not None and refused.attributes["rpc.grpc.status_code"] == 3  # INVALID_ARGUMENT
    assert not [e for e in refused.events if e.name == "exception"]
    assert crashed.status.status_code == trace.StatusCode.ERROR
    assert crashed.attributes is not None and crashed.attributes["rpc.grpc.status_code"] == 13  # INTERNAL


# ---------------------------------------------------------------- HTTP edges


def _http_counts(otel: Otel) -> dict[tuple[str, int, str | None], int]:
    counts: dict[tuple[str, int, str | None], int] = {}
    for point in otel.metric_points("http.server.duration"):
        attributes = dict(point.attributes)
        assert set(attributes) <= {"http.method", "http.status_code", "http.target"}, attributes
        key = (attributes["http.method"], attributes["http.status_code"], attributes.get("http.target"))
        counts[key] = counts.get(key, 0) + point.count
    return counts


def test_http_edge_span_and_duration_by_route_and_status(otel: Otel) -> None:
    """One SERVER span per request (FastAPI's own telemetry does not add a second), named by the route;
    `http.server.duration` by method, status and route template (the alert rules' labels); a crash is a
    500 and an ERROR span; the health path is neither traced nor measured."""
    from carbon_common.http import install_error_handlers
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    app = FastAPI()
    install_error_handlers(app)

    @app.post("/v1/things/{thing}")
    def create(thing: str) -> dict[str, str]:
        if thing == "crash":
            raise RuntimeError("a bug")
        return {"name": thing}

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    telemetry.instrument_fastapi(app)
    before = _http_counts(otel)
    with TestClient(app, raise_server_exceptions=False) as http:
        assert http.post("/v1/things/a").status_code == 200
        assert http.post("/v1/things/b").status_code == 200
        assert http.post("/v1/things/crash").status_code == 500
        assert http.get("/v1/nothing").status_code == 404
        assert http.get("/healthz").status_code == 200
    after = _http_counts(otel)
    grown = {key: after[key] - before.get(key, 0) for key in after if after[key] != before.get(key, 0)}
    assert grown == {
        ("POST", 200, "/v1/things/{thing}"): 2,
        ("POST", 500, "/v1/things/{thing}"): 1,
        ("GET", 404, None): 1,
    }
    servers = [s for s in otel.spans.get_finished_spans() if s.kind == trace.SpanKind.SERVER]
    assert [s.name for s in servers] == ["POST /v1/things/{thing}"] * 3 + ["GET"]
    ok, _, crashed, missing = servers
    assert ok.attributes is not None and ok.attributes["http.status_code"] == 200
    assert ok.attributes["http.route"] == "/v1/things/{thing}" and ok.attributes["http.target"] == "/v1/things/a"
    assert ok.status.status_code == trace.StatusCode.UNSET
    assert crashed.status.status_code == trace.StatusCode.ERROR
    assert missing.status.status_code == trace.StatusCode.UNSET  # a client's mistake is not a server error
    assert not [s for s in otel.spans.get_finished_spans() if s.kind != trace.SpanKind.SERVER]


# ---------------------------------------------------------------- business metrics


def _sum(otel: Otel, name: str, **attributes: str) -> float:
    total = 0.0
    for point in otel.metric_points(name):
        if dict(point.attributes) == attributes:
            total += point.value if hasattr(point, "value") else point.count
    return total


def test_business_metric_helpers(otel: Otel) -> None:
    quotes = _sum(otel, "carbon.quotes", decision="DECISION_APPROVE")
    ratings = _sum(otel, "carbon.ratings", scheme="national", grade="AA")
    readings = _sum(otel, "carbon.ingestion.readings", source="energy")
    lags = _sum(otel, "carbon.ingestion.lag_seconds", source="energy")

    metrics.quote_decided("DECISION_APPROVE")
    metrics.quote_decided("DECISION_APPROVE")
    metrics.quote_decided("DECISION_REFER")
    metrics.rating_issued(scheme="national", grade="AA")
    metrics.ingestion_readings(96, source="energy")
    metrics.ingestion_readings(0, source="energy")
    metrics.ingestion_lag(metrics.lag_from(datetime.now(UTC) - timedelta(minutes=15)), source="energy")
    metrics.ingestion_lag(-3, source="energy")  # clock skew: clamped to 0

    assert _sum(otel, "carbon.quotes", decision="DECISION_APPROVE") - quotes == 2
    assert _sum(otel, "carbon.quotes", decision="DECISION_REFER") >= 1
    assert _sum(otel, "carbon.ratings", scheme="national", grade="AA") - ratings == 1
    assert _sum(otel, "carbon.ingestion.readings", source="energy") - readings == 96
    assert _sum(otel, "carbon.ingestion.lag_seconds", source="energy") - lags == 2  # histogram count
    lag = next(
        p for p in otel.metric_points("carbon.ingestion.lag_seconds") if dict(p.attributes) == {"source": "energy"}
    )
    assert lag.min == 0 and 890 <= lag.max <= 960
    with pytest.raises(ValueError):
        metrics.ingestion_readings(-1, source="energy")


def test_audit_lag_and_integrity_checks_in_the_prometheus_exposition(otel: Otel) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    metrics.audit_lag(0.02, log="consent")
    metrics.integrity_checked("decision_log", ok=True)
    metrics.integrity_checked("decision_log", ok=False)
    body, content_type = telemetry.prometheus_exposition()
    assert content_type.startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    checks = {(s.labels["log"], s.labels["result"]): s.value for s in families["carbon_integrity_checks"].samples}
    assert checks[("decision_log", "ok")] >= 1 and checks[("decision_log", "failed")] >= 1
    lag = families["carbon_audit_lag_seconds"]
    assert lag.type == "histogram"
    buckets = {s.labels["le"]: s.value for s in lag.samples if s.name.endswith("_bucket")}
    # explicit lag buckets (ms to days), not the SDK's 0..10000 defaults
    assert buckets["0.01"] < buckets["0.025"] and "86400.0" in buckets


def test_lag_from_accepts_naive_utc_and_epoch() -> None:
    now = datetime(2025, 1, 1, 12, 0, tzinfo=UTC).timestamp()
    assert metrics.lag_from(datetime(2025, 1, 1, 11, 59), now=now) == 60
    assert metrics.lag_from(now - 5, now=now) == 5
    assert metrics.lag_from(now + 5, now=now) == 0


# ---------------------------------------------------------------- logs


@pytest.fixture
def json_log() -> Iterator[list[str]]:
    lines: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Capture()
    handler.setFormatter(JsonFormatter("tests"))
    logger = logging.getLogger("tests.telemetry")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield lines
    logger.removeHandler(handler)


def test_logs_carry_the_current_trace_and_span(otel: Otel, json_log: list[str]) -> None:
    log = logging.getLogger("tests.telemetry")
    log.info("outside")
    with trace.get_tracer("tests").start_as_current_span("work") as span:
        log.info("inside", extra={"quote": "q-1"})
    outside, inside = (json.loads(line) for line in json_log)
    assert "trace_id" not in outside and "span_id" not in outside
    assert inside["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert inside["span_id"] == format(span.get_span_context().span_id, "016x")
    assert inside["quote"] == "q-1" and inside["service"] == "tests"


def test_handler_logs_carry_the_server_span(
    otel: Otel, json_log: list[str], grpc_servers: Callable[..., Running]
) -> None:
    server = grpc_servers("logs", register(Enterprises()))
    stub = enterprise_pb2_grpc.EnterpriseServiceStub(plain_channel(f"127.0.0.1:{server.grpc_port}"))
    with trace.get_tracer("tests").start_as_current_span("caller") as caller:
        stub.GetEnterprise(enterprise_pb2.GetEnterpriseRequest(name="ok"), timeout=5)
    entry = json.loads(json_log[-1])
    assert entry["message"] == "handling"
    server_span = next(s for s in otel.spans.get_finished_spans() if s.kind == trace.SpanKind.SERVER)
    assert entry["trace_id"] == format(caller.get_span_context().trace_id, "032x")
    assert entry["span_id"] == format(server_span.context.span_id, "016x")


# ---------------------------------------------------------------- exporters (fresh processes)


def _run_configured(code: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run `code` after telemetry.configure('svc') in a fresh interpreter (providers are per process)."""
    script = textwrap.dedent(
        """
        from opentelemetry import trace, metrics as otel_metrics
        from carbon_common import telemetry, metrics
        assert telemetry.configure("svc")
        tracer = trace.get_tracer("t")
        """
    ) + textwrap.dedent(code)
    import os

    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "CARBON_TELEMETRY"))}
    result = subprocess.run(
        [sys.executable, "-c", script], env={**clean, **env}, capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    return result


def test_span_file_exporter_writes_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "spans" / "svc.jsonl"
    _run_configured(
        """
        with tracer.start_as_current_span("parent"):
            with tracer.start_as_current_span("child"):
                pass
        """,
        {"CARBON_TELEMETRY_SPAN_FILE": str(path), "OTEL_SERVICE_NAME": "renamed"},
        tmp_path,
    )
    child, parent = telemetry.read_span_file(path)
    assert (child["name"], parent["name"]) == ("child", "parent")
    assert child["trace_id"] == parent["trace_id"] and len(child["trace_id"]) == 32
    assert child["parent_span_id"] == parent["span_id"] and len(parent["span_id"]) == 16
    assert parent["parent_span_id"] is None
    assert child["service.name"] == parent["service.name"] == "renamed"  # OTEL_SERVICE_NAME wins


def test_no_exporter_without_otel_variables(tmp_path: Path) -> None:
    result = _run_configured(
        """
        provider = trace.get_tracer_provider()
        print(len(provider._active_span_processor._span_processors))
        print(",".join(type(r).__name__ for r in otel_metrics.get_meter_provider()._all_metric_readers))
        """,
        {},
        tmp_path,
    )
    # Only the pull-based Prometheus reader behind GET /metrics.
    assert result.stdout.split() == ["0", "PrometheusMetricReader"]


@pytest.mark.parametrize(
    ("env", "span_exporter", "metric_exporter"),
    [
        ({}, "grpc", "grpc"),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "grpc", "grpc"),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, "http", "http"),
        (
            {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "http/protobuf"},
            "grpc",
            "http",
        ),
    ],
)
def test_otlp_protocol_selects_the_exporter(
    tmp_path: Path, env: dict[str, str], span_exporter: str, metric_exporter: str
) -> None:
    result = _run_configured(
        """
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        processor = trace.get_tracer_provider()._active_span_processor._span_processors[0]
        print(type(processor.span_exporter).__module__)
        (reader,) = [r for r in otel_metrics.get_meter_provider()._all_metric_readers
                     if isinstance(r, PeriodicExportingMetricReader)]
        print(type(reader._exporter).__module__)
        """,
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", **env},
        tmp_path,
    )
    spans, metrics_module = result.stdout.split()
    assert spans == f"opentelemetry.exporter.otlp.proto.{span_exporter}.trace_exporter"
    assert metrics_module == f"opentelemetry.exporter.otlp.proto.{metric_exporter}.metric_exporter"


def test_unknown_otlp_protocol_fails_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
    with pytest.raises(ValueError, match="'http/json' is not supported: use one of grpc, http/protobuf"):
        telemetry.otlp_span_exporter()


def test_prometheus_exporter_variable_is_accepted(tmp_path: Path) -> None:
    result = _run_configured(
        """
        print(",".join(type(r).__name__ for r in otel_metrics.get_meter_provider()._all_metric_readers))
        """,
        {"OTEL_METRICS_EXPORTER": "prometheus"},
        tmp_path,
    )
    assert result.stdout.split() == ["PrometheusMetricReader"]
    assert "unsupported" not in result.stderr


class Collector(trace_service_pb2_grpc.TraceServiceServicer, metrics_service_pb2_grpc.MetricsServiceServicer):
    """A real OTLP/gRPC receiver."""

    def __init__(self) -> None:
        self.traces: list[trace_service_pb2.ExportTraceServiceRequest] = []
        self.metrics: list[metrics_service_pb2.ExportMetricsServiceRequest] = []
        self.lock = threading.Lock()

    def Export(self, request: Any, context: grpc.ServicerContext) -> Any:
        with self.lock:
            if isinstance(request, trace_service_pb2.ExportTraceServiceRequest):
                self.traces.append(request)
                return trace_service_pb2.ExportTraceServiceResponse()
            self.metrics.append(request)
            return metrics_service_pb2.ExportMetricsServiceResponse()


@pytest.fixture
def collector() -> Iterator[tuple[str, Collector]]:
    receiver = Collector()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(receiver, server)
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(receiver, server)
    port = server.add_insecure_port(f"127.0.0.1:{free_port()}")
    server.start()
    yield f"http://127.0.0.1:{port}", receiver
    server.stop(0)


def test_otlp_exporter_from_standard_variables(tmp_path: Path, collector: tuple[str, Collector]) -> None:
    endpoint, receiver = collector
    _run_configured(
        """
        with tracer.start_as_current_span("exported-span"):
            metrics.quote_decided("DECISION_REFER")
        trace.get_tracer_provider().shutdown()
        otel_metrics.get_meter_provider().shutdown()
        """,
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_EXPORTER_OTLP_INSECURE": "true",
            "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=test",
        },
        tmp_path,
    )
    spans = [
        (span.name, {a.key: a.value.string_value for a in rs.resource.attributes})
        for request in receiver.traces
        for rs in request.resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
    ]
    assert spans, "no spans reached the OTLP receiver"
    name, resource = spans[0]
    assert name == "exported-span"
    assert resource["service.name"] == "svc" and resource["deployment.environment"] == "test"
    exported = {
        metric.name
        for request in receiver.metrics
        for rm in request.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
    }
    assert "carbon.quotes" in exported
