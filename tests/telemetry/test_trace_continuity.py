"""One trace across every hop.

In-process: real gRPC servers (the shared bootstrap, so the real interceptors)
and real channels from carbon_common.channels; the in-memory exporter shows the
parent chain and the W3C `traceparent` the downstream server received.

Across processes: real service processes (carbon_devkit.processes) with
CARBON_TELEMETRY_SPAN_FILE set per process; the downstream process's spans
must carry the upstream trace id and descend from the upstream span.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import grpc
import pytest
import redis
from carbon.v1 import enterprise_pb2, enterprise_pb2_grpc, ingest_energy_pb2, ingest_energy_pb2_grpc
from carbon_common import events, telemetry
from carbon_common.channels import plain_channel, service_channel
from carbon_common.errors import permission_denied
from carbon_common.server import Running
from carbon_common.settings import DEV_SERVICE_SECRET
from carbon_devkit.checkout import REPO
from carbon_devkit.credentials import ADMIN_TOKEN as CONSENT_ADMIN
from carbon_devkit.processes import ServiceProcess, start_service
from carbon_devkit.seed import ConsentClient
from carbon_synth import make_uscc
from google.type import decimal_pb2
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind

from .conftest import Otel

TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")
USCC = make_uscc("330800", 1, 1)


class Downstream(enterprise_pb2_grpc.EnterpriseServiceServicer):
    """Records what each call saw: the incoming metadata and the current span."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    def GetEnterprise(self, request: enterprise_pb2.GetEnterpriseRequest, context: grpc.ServicerContext) -> Any:
        current = trace.get_current_span().get_span_context()
        self.seen.append(
            {
                "metadata": dict(context.invocation_metadata()),
                "trace_id": current.trace_id,
                "span_id": current.span_id,
            }
        )
        if request.name.endswith("/denied"):
            raise permission_denied("CONSENT_REQUIRED", "no consent")
        return enterprise_pb2.Enterprise(name=request.name)


class Upstream(enterprise_pb2_grpc.EnterpriseServiceServicer):
    """Calls the downstream server through a real service channel."""

    def __init__(self, target: str) -> None:
        self.stub = enterprise_pb2_grpc.EnterpriseServiceStub(service_channel(target, "upstream", DEV_SERVICE_SECRET))

    def GetEnterprise(self, request: enterprise_pb2.GetEnterpriseRequest, context: grpc.ServicerContext) -> Any:
        return self.stub.GetEnterprise(request, timeout=5)


class Readings(ingest_energy_pb2_grpc.EnergyIngestionServiceServicer):
    """Client-streaming hop that forwards one unary call downstream."""

    def __init__(self, target: str) -> None:
        self.stub = enterprise_pb2_grpc.EnterpriseServiceStub(service_channel(target, "readings", DEV_SERVICE_SECRET))

    def StreamReadings(self, request_iterator: Iterable[ingest_energy_pb2.ReadingBatch], context: Any) -> Any:
        batches = list(request_iterator)
        self.stub.GetEnterprise(enterprise_pb2.GetEnterpriseRequest(name=f"enterprises/{USCC}"), timeout=5)
        return ingest_energy_pb2.StreamReadingsResponse(readings_stored=sum(len(b.values) for b in batches))


def enterprise_register(servicer: enterprise_pb2_grpc.EnterpriseServiceServicer) -> Callable[[grpc.Server], list[str]]:
    def register(server: grpc.Server) -> list[str]:
        enterprise_pb2_grpc.add_EnterpriseServiceServicer_to_server(servicer, server)
        return ["carbon.v1.EnterpriseService"]

    return register


def by_kind(spans: Iterable[ReadableSpan], kind: SpanKind) -> list[ReadableSpan]:
    return [s for s in spans if s.kind == kind]


def ancestors(span_id: int, spans: dict[int, ReadableSpan]) -> list[int]:
    chain = []
    current = spans.get(span_id)
    while current is not None and current.parent is not None:
        chain.append(current.parent.span_id)
        current = spans.get(current.parent.span_id)
    return chain


def wait_for_spans(otel: Otel, count: int) -> tuple[ReadableSpan, ...]:
    # Client spans end in a done-callback; give the callback thread a moment.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        spans = otel.spans.get_finished_spans()
        if len(spans) >= count:
            return spans
        time.sleep(0.01)
    return otel.spans.get_finished_spans()


# ---------------------------------------------------------------- in process


def test_context_propagates_over_grpc_metadata_across_two_hops(
    otel: Otel, grpc_servers: Callable[[str, Any], Running]
) -> None:
    downstream = Downstream()
    b = grpc_servers("b", enterprise_register(downstream))
    a = grpc_servers("a", enterprise_register(Upstream(f"127.0.0.1:{b.grpc_port}")))
    tracer = trace.get_tracer("tests")

    with tracer.start_as_current_span("test-root") as root:
        stub = enterprise_pb2_grpc.EnterpriseServiceStub(plain_channel(f"127.0.0.1:{a.grpc_port}"))
        reply = stub.GetEnterprise(enterprise_pb2.GetEnterpriseRequest(name=f"enterprises/{USCC}"), timeout=5)
    assert reply.name == f"enterprises/{USCC}"
    trace_id = root.get_span_context().trace_id

    # test-root, test client, A server, A client, B server
    spans = wait_for_spans(otel, 5)
    method = "/carbon.v1.EnterpriseService/GetEnterprise"
    assert {s.context.trace_id for s in spans} == {trace_id}
    servers = by_kind(spans, SpanKind.SERVER)
    clients = by_kind(spans, SpanKind.CLIENT)
    assert [s.name for s in servers] == [method, method]
    assert [s.name for s in clients] == [method, method]
    index = {s.context.span_id: s for s in spans}
    b_server = next(s for s in servers if s.context.span_id == downstream.seen[0]["span_id"])
    a_server = next(s for s in servers if s is not b_server)
    a_client = index[b_server.parent.span_id]  # type: ignore[union-attr]
    assert a_client.kind == SpanKind.CLIENT
    assert a_client.parent is not None and a_client.parent.span_id == a_server.context.span_id
    test_client = index[a_server.parent.span_id]  # type: ignore[union-attr]
    assert test_client.kind == SpanKind.CLIENT and test_client.parent.span_id == root.get_span_context().span_id  # type: ignore[union-attr]
    assert root.get_span_context().span_id in ancestors(b_server.context.span_id, index)

    # On the wire: W3C trace context, naming A's client span as parent.
    seen = downstream.seen[0]
    assert seen["trace_id"] == trace_id
    match = TRACEPARENT.match(seen["metadata"]["traceparent"])
    assert match, repr(seen["metadata"]["traceparent"])
    assert match.group(1) == format(trace_id, "032x")
    assert match.group(2) == format(a_client.context.span_id, "016x")
    # Identity metadata still travels next to it.
    assert seen["metadata"]["x-carbon-service"] == "upstream"


def test_client_streaming_call_propagates(otel: Otel, grpc_servers: Callable[[str, Any], Running]) -> None:
    downstream = Downstream()
    b = grpc_servers("b", enterprise_register(downstream))

    def register(server: grpc.Server) -> list[str]:
        ingest_energy_pb2_grpc.add_EnergyIngestionServiceServicer_to_server(
            Readings(f"127.0.0.1:{b.grpc_port}"), server
        )
        return ["carbon.v1.EnergyIngestionService"]

    a = grpc_servers("a", register)
    stub = ingest_energy_pb2_grpc.EnergyIngestionServiceStub(
        service_channel(f"127.0.0.1:{a.grpc_port}", "test", DEV_SERVICE_SECRET)
    )
    batches = [ingest_energy_pb2.ReadingBatch(meter="m", request_id=str(i), values=[1, 2]) for i in range(3)]
    with trace.get_tracer("tests").start_as_current_span("stream-root") as root:
        reply = stub.StreamReadings(iter(batches), timeout=5)
    assert reply.readings_stored == 6
    assert downstream.seen[0]["trace_id"] == root.get_span_context().trace_id
    spans = wait_for_spans(otel, 5)
    index = {s.context.span_id: s for s in spans}
    assert root.get_span_context().span_id in ancestors(downstream.seen[0]["span_id"], index)


def test_error_status_is_on_the_spans(otel: Otel, grpc_servers: Callable[[str, Any], Running]) -> None:
    downstream = Downstream()
    b = grpc_servers("b", enterprise_register(downstream))
    stub = enterprise_pb2_grpc.EnterpriseServiceStub(plain_channel(f"127.0.0.1:{b.grpc_port}"))
    with pytest.raises(grpc.RpcError) as caught:
        stub.GetEnterprise(enterprise_pb2.GetEnterpriseRequest(name=f"enterprises/{USCC}/denied"), timeout=5)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    spans = wait_for_spans(otel, 2)
    for span in spans:
        assert span.status.status_code == trace.StatusCode.ERROR, span.name
        assert span.attributes["rpc.grpc.status_code"] == grpc.StatusCode.PERMISSION_DENIED.value[0]


def test_health_checks_are_not_traced(otel: Otel, grpc_servers: Callable[[str, Any], Running]) -> None:
    from carbon_common.healthcheck import check

    b = grpc_servers("b", enterprise_register(Downstream()))
    assert check(f"127.0.0.1:{b.grpc_port}") == "SERVING"
    time.sleep(0.05)
    assert [s.name for s in otel.spans.get_finished_spans()] == []


def test_rest_request_trace_continues_into_grpc(otel: Otel, grpc_servers: Callable[[str, Any], Running]) -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    downstream = Downstream()
    b = grpc_servers("b", enterprise_register(downstream))
    stub = enterprise_pb2_grpc.EnterpriseServiceStub(
        service_channel(f"127.0.0.1:{b.grpc_port}", "edge", DEV_SERVICE_SECRET)
    )
    app = FastAPI()

    @app.post("/v1/quotes")
    def quote() -> dict[str, str]:  # a sync handler, as the services write them (runs in a worker thread)
        return {"name": stub.GetEnterprise(enterprise_pb2.GetEnterpriseRequest(name=f"enterprises/{USCC}")).name}

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    assert telemetry.instrument_fastapi(app) is app
    telemetry.instrument_fastapi(app)  # idempotent

    # A caller that already has a trace (a bank's gateway) sends traceparent.
    caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    caller_span = "00f067aa0ba902b7"
    with TestClient(app) as http:
        response = http.post("/v1/quotes", headers={"traceparent": f"00-{caller_trace}-{caller_span}-01"})
        assert response.status_code == 200, response.text
        assert http.get("/healthz").status_code == 200
    spans = wait_for_spans(otel, 3)
    index = {s.context.span_id: s for s in spans}
    http_server = next(s for s in by_kind(spans, SpanKind.SERVER) if "quotes" in s.name)
    assert format(http_server.context.trace_id, "032x") == caller_trace
    assert http_server.parent is not None and format(http_server.parent.span_id, "016x") == caller_span
    seen = downstream.seen[0]
    assert format(seen["trace_id"], "032x") == caller_trace
    assert http_server.context.span_id in ancestors(seen["span_id"], index)
    assert not any("healthz" in s.name for s in spans)


# ---------------------------------------------------------------- across processes


def _span_env(tmp_path: Path, name: str, redis_url: str) -> dict[str, str]:
    return {
        "CARBON_TELEMETRY_SPAN_FILE": str(tmp_path / f"{name}.spans.jsonl"),
        "CARBON_REDIS_URL": redis_url,
        "CARBON_DATA_DIR": str(tmp_path / "data" / name),
        "CARBON_SERVICE_SECRET": "trace-test-secret",
        "OTEL_TRACES_EXPORTER": "none",
        "OTEL_METRICS_EXPORTER": "none",
    }


def _wait_for(path: Path, predicate: Callable[[list[dict[str, Any]]], bool]) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    spans = telemetry.read_span_file(path)
    while not predicate(spans) and time.monotonic() < deadline:
        time.sleep(0.05)
        spans = telemetry.read_span_file(path)
    return spans


def _available(*names: str) -> bool:
    packages = {
        "consent": "carbon_consent",
        "ingest-energy": "carbon_ingest_energy",
        "loan-pricing": "carbon_pricing",
        "ingest-tax": "carbon_ingest_tax",
        "rating": "carbon_rating",
        "accounting": "carbon_accounting",
    }
    return all((REPO / "services" / n / "src" / packages[n] / "__main__.py").exists() for n in names)


def _ancestry(span_id: str, spans: list[dict[str, Any]]) -> list[str]:
    index = {s["span_id"]: s for s in spans}
    chain = []
    current = index.get(span_id)
    while current is not None and current["parent_span_id"]:
        chain.append(current["parent_span_id"])
        current = index.get(current["parent_span_id"])
    return chain


def _stop(processes: list[ServiceProcess]) -> None:
    for process in reversed(processes):
        process.stop()


@pytest.mark.e2e
def test_trace_crosses_processes_ingest_energy_to_consent_audit(otel: Otel, redis_url: str, tmp_path: Path) -> None:
    """test client -> ingest-energy CreateMeter (collection consent decided from its projection, refused)
    -> carbon:events:access -> consent's access-audit consumer, three processes."""
    assert _available("consent", "ingest-energy"), "consent and ingest-energy are needed"
    processes: list[ServiceProcess] = []
    try:
        consent = start_service("consent", _span_env(tmp_path, "consent", redis_url), tmp_path / "logs")
        processes.append(consent)
        energy = start_service("ingest-energy", _span_env(tmp_path, "ingest-energy", redis_url), tmp_path / "logs")
        processes.append(energy)

        stub = ingest_energy_pb2_grpc.EnergyIngestionServiceStub(
            service_channel(energy.target, "meter-feed", "trace-test-secret")
        )
        request = ingest_energy_pb2.CreateMeterRequest(
            parent=f"enterprises/{USCC}",
            meter_id="m-1",
            meter=ingest_energy_pb2.Meter(
                energy_type=1, reading_kind=ingest_energy_pb2.Meter.ReadingKind.READING_KIND_INTERVAL
            ),
        )
        with (
            trace.get_tracer("tests").start_as_current_span("e2e-root") as root,
            pytest.raises(grpc.RpcError) as caught,
        ):
            stub.CreateMeter(request, timeout=10)
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED  # no consent: refused, and audited
        trace_id = format(root.get_span_context().trace_id, "032x")
        test_client = next(s for s in wait_for_spans(otel, 2) if s.kind == SpanKind.CLIENT)
        test_client_id = format(test_client.context.span_id, "016x")
        server = _assert_audit_descends(tmp_path, trace_id, test_client_id, "ingest-energy")
    finally:
        _stop(processes)
    assert server["name"].endswith("/CreateMeter")
    assert server["parent_span_id"] == test_client_id


BANK = "trace-bank"
AUDIT_SPAN = f"{events.ACCESS.name} audit"


def _start_pricing_and_consent(tmp_path: Path, redis_url: str) -> tuple[list[ServiceProcess], str]:
    """consent, a bank, a published rating of USCC, then loan-pricing (whose projections snapshot them):
    a quote for USCC is decided in pricing and audited by consent through carbon:events:access."""
    assert _available("consent", "loan-pricing"), "consent and loan-pricing are needed"
    processes: list[ServiceProcess] = []
    try:
        consent_env = {**_span_env(tmp_path, "consent", redis_url), "CARBON_ADMIN_TOKEN": CONSENT_ADMIN}
        consent = start_service("consent", consent_env, tmp_path / "logs")
        processes.append(consent)
        client = ConsentClient(consent.target)
        key = client.create_bank(BANK)
        client.channel.close()
        with redis.Redis.from_url(redis_url).pipeline(transaction=True) as pipe:
            events.publish_rating(pipe, _rating(USCC))
            pipe.execute()
        env = {
            **_span_env(tmp_path, "loan-pricing", redis_url),
            "CARBON_PRICING_WORKERS": "1",
            # Nothing is asked of rating or accounting: the rating is projected from its event.
            "CARBON_RATING_TARGET": "127.0.0.1:1",
            "CARBON_ACCOUNTING_TARGET": "127.0.0.1:1",
        }
        processes.append(start_service("loan-pricing", env, tmp_path / "logs", wait=180))
    except BaseException:
        _stop(processes)
        raise
    return processes, key


def _rating(uscc: str) -> events.RatingChanged:
    return events.RatingChanged.create(
        rating=f"enterprises/{uscc}/ratings/quzhou-four-colour",
        enterprise=f"enterprises/{uscc}",
        grade="LIGHT_GREEN",
        scheme="quzhou-four-colour",
        scheme_version="2024.1",
        account=f"enterprises/{uscc}/accounts/2025",
        account_period="2025",
        input_digest="trace-digest",
        factor_set_version="cn-2024.1",
        quality_score=Decimal("0.95"),
        rate_time=datetime.now(UTC),
    )


def _assert_audit_descends(
    tmp_path: Path, trace_id: str, upstream_span_id: str, decider: str = "loan-pricing"
) -> dict[str, Any]:
    """Consent's audit of an access decision continues the deciding request's trace: its CONSUMER span is
    a child of the deciding service's server span, which descends from the caller's span."""
    consent_spans = _wait_for(
        tmp_path / "consent.spans.jsonl", lambda spans: any(s["name"] == AUDIT_SPAN for s in spans)
    )
    audit = next(s for s in consent_spans if s["name"] == AUDIT_SPAN)
    decider_spans = _wait_for(
        tmp_path / f"{decider}.spans.jsonl", lambda spans: any(s["span_id"] == audit["parent_span_id"] for s in spans)
    )
    assert (audit["service.name"], audit["kind"]) == ("consent", "CONSUMER")
    assert audit["trace_id"] == trace_id, (decider_spans, consent_spans)
    parent = next(s for s in decider_spans if s["span_id"] == audit["parent_span_id"])
    assert (parent["service.name"], parent["kind"]) == (decider, "SERVER")
    assert upstream_span_id in _ancestry(audit["span_id"], decider_spans + consent_spans)
    assert all(s["service.name"] == decider for s in decider_spans)
    # No call to consent on the decider's path: nothing in consent but the audit hop.
    assert not any(s["trace_id"] == trace_id and s is not audit for s in consent_spans)
    return parent


@pytest.mark.e2e
def test_trace_crosses_processes_grpc_quote_pricing_to_consent_audit(
    otel: Otel, redis_url: str, tmp_path: Path
) -> None:
    """test client -> loan-pricing CreateQuote (gRPC; consent decided from its projection, refused) ->
    carbon:events:access -> consent's access-audit consumer."""
    from carbon.v1 import pricing_pb2, pricing_pb2_grpc

    processes, key = _start_pricing_and_consent(tmp_path, redis_url)
    try:
        stub = pricing_pb2_grpc.PricingServiceStub(plain_channel(processes[1].target))
        request = pricing_pb2.CreateQuoteRequest(
            parent=f"banks/{BANK}",
            request_id="r-1",
            quote=pricing_pb2.Quote(
                product="quzhou_tanrongyi",
                enterprise=f"enterprises/{USCC}",
                amount_cny=decimal_pb2.Decimal(value="1000000.00"),
                tenor_months=12,
                reference_rate_pct=decimal_pb2.Decimal(value="3.45"),
            ),
        )
        with (
            trace.get_tracer("tests").start_as_current_span("quote-root") as root,
            pytest.raises(grpc.RpcError) as caught,
        ):
            stub.CreateQuote(request, metadata=[("authorization", f"Bearer {key}")], timeout=10)
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED  # no consent: refused, and audited
        trace_id = format(root.get_span_context().trace_id, "032x")
        test_client = next(s for s in wait_for_spans(otel, 2) if s.kind == SpanKind.CLIENT)
        server = _assert_audit_descends(tmp_path, trace_id, format(test_client.context.span_id, "016x"))
    finally:
        _stop(processes)
    assert server["name"] == "/carbon.v1.PricingService/CreateQuote"
    assert server["parent_span_id"] == format(test_client.context.span_id, "016x")
    assert server["status"] == "ERROR"


@pytest.mark.e2e
def test_trace_crosses_processes_rest_quote_pricing_to_consent_audit(redis_url: str, tmp_path: Path) -> None:
    """REST POST /v1/banks/{bank}/quotes (caller's traceparent) -> loan-pricing -> consent's audit."""
    import httpx

    processes, key = _start_pricing_and_consent(tmp_path, redis_url)
    caller_trace, caller_span = "5bf92f3577b34da6a3ce929d0e0e4736", "10f067aa0ba902b7"
    try:
        response = httpx.post(
            f"{processes[1].http_base}/v1/banks/{BANK}/quotes",
            json={
                "request_id": "r-1",
                "product": "quzhou_tanrongyi",
                "enterprise": f"enterprises/{USCC}",
                "amount_cny": "1000000.00",
                "tenor_months": 12,
                "reference_rate_pct": "3.45",
            },
            headers={"authorization": f"Bearer {key}", "traceparent": f"00-{caller_trace}-{caller_span}-01"},
            timeout=10,
        )
        assert response.status_code == 403, response.text
        server = _assert_audit_descends(tmp_path, caller_trace, caller_span)
    finally:
        _stop(processes)
    assert "quotes" in server["name"]
    assert server["parent_span_id"] == caller_span
