"""GET /metrics on every service of a running stack (six processes), parsed by
prometheus_client's own exposition parser: RPC and REST duration histograms
by method and status, process metrics, and a business metric produced by a
service's own worker (loan-pricing's decision-log verification), and the business metrics of an ingested
year of invoices (ingest-tax, consent's audit, accounting's event consumer)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from tests.support.platform import ADMIN_TOKEN, ORDER, SERVICE_SECRET, Platform, start_platform
from tests.support.seed import Seeder, make_uscc, year_invoices


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    running = start_platform(
        tmp_path_factory.mktemp("metrics-stack"),
        {
            # loan-pricing verifies its decision log every 0.2 s here (900 s by default).
            "CARBON_DECISION_LOG_VERIFY_SECONDS": "0.2",
            # One loan-pricing worker: with several, each process keeps its own metrics and a scrape of
            # the shared port reads whichever worker accepted it (their series differ by
            # service.instance.id; docs/architecture.md, "Operating the workers").
            "CARBON_PRICING_WORKERS": "1",
        },
    )
    yield running
    running.stop()


def scrape(platform: Platform, name: str) -> dict[str, Any]:
    response = httpx.get(f"{platform.http(name)}/metrics", timeout=10)
    assert response.status_code == 200, f"{name}: {response.status_code} {response.text[:200]}"
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {family.name: family for family in text_string_to_metric_families(response.text)}


def samples(family: Any, suffix: str, **labels: str) -> list[Any]:
    return [
        s
        for s in family.samples
        if s.name == family.name + suffix and all(s.labels.get(k) == v for k, v in labels.items())
    ]


def test_every_service_exposes_rpc_and_rest_histograms(stack: Platform) -> None:
    for name in ORDER:
        with grpc.insecure_channel(stack.services[name].target) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            assert health.Check(health_pb2.HealthCheckRequest(), timeout=5).status == 1
            with pytest.raises(grpc.RpcError) as error:
                health.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=5)
            assert error.value.code() is grpc.StatusCode.NOT_FOUND
        assert httpx.get(f"{stack.http(name)}/no-such-path", timeout=10).status_code == 404

    for name in ORDER:
        families = scrape(stack, name)
        rpc = families["rpc_server_duration_milliseconds"]
        assert rpc.type == "histogram"
        ok = samples(rpc, "_count", rpc_service="grpc.health.v1.Health", rpc_method="Check", status="OK")
        failed = samples(rpc, "_count", rpc_service="grpc.health.v1.Health", rpc_method="Check", status="NOT_FOUND")
        assert ok and ok[0].value >= 1, name
        assert failed and failed[0].value >= 1 and failed[0].labels["rpc_grpc_status_code"] == "5", name
        buckets = samples(rpc, "_bucket", rpc_method="Check", status="OK")
        assert {b.labels["le"] for b in buckets} >= {"+Inf", "100.0", "1000.0"}, name
        assert max(b.value for b in buckets) == ok[0].value  # cumulative: +Inf bucket = count

        http = families["http_server_duration_milliseconds"]
        assert http.type == "histogram"
        assert samples(http, "_count", http_status_code="404", http_method="GET"), name
        assert families["process_cpu_seconds"].type == "counter"
        assert families["target_info"].samples[0].labels["service_name"] == name


def test_business_metric_from_a_service_worker(stack: Platform) -> None:
    deadline = time.monotonic() + 30
    while True:
        checks = scrape(stack, "loan-pricing").get("carbon_integrity_checks")
        found = samples(checks, "_total", log="decision_log", result="ok") if checks else []
        if found and found[0].value >= 1:
            break
        assert time.monotonic() < deadline, "loan-pricing never reported a decision-log verification"
        time.sleep(0.2)
    assert checks is not None and checks.type == "counter"
    assert not samples(checks, "_total", log="decision_log", result="failed")


def wait_for_sample(platform: Platform, service: str, family: str, suffix: str, **labels: str) -> float:
    """The value of a sample once the service exports it with a value >= 1 (30 s at most)."""
    deadline = time.monotonic() + 30
    while True:
        found = scrape(platform, service).get(family)
        values = [s.value for s in samples(found, suffix, **labels)] if found else []
        if values and values[0] >= 1:
            return float(values[0])
        assert time.monotonic() < deadline, f"{service} never exported {family}{suffix} {labels}"
        time.sleep(0.2)


def test_business_metrics_follow_an_ingested_year(stack: Platform) -> None:
    """Invoices through ingest-tax (consent checked, audited) reach accounting's event consumer."""
    seeder = Seeder.for_services(stack.services, admin_token=ADMIN_TOKEN, service_secret=SERVICE_SECRET)
    try:
        uscc = make_uscc(4242)
        seeder.enterprise(uscc)
        invoices = year_invoices(
            uscc, 2024, kwh=Decimal("150000"), sales=Decimal("2000000"), purchases=Decimal("900000")
        )
        response = seeder.ingest(uscc, invoices)
    finally:
        seeder.close()
    accepted = response.energy_lines + response.revenue_lines
    assert accepted >= 2
    assert wait_for_sample(stack, "ingest-tax", "carbon_ingestion_readings", "_total", source="tax") == accepted
    assert wait_for_sample(stack, "ingest-tax", "carbon_ingestion_lag_seconds", "_count", source="tax") >= 1
    assert wait_for_sample(stack, "accounting", "carbon_ingestion_lag_seconds", "_count", source="accounting") >= 1
    # the consumer's micro-batches and the accounts they recomputed (the year and its months)
    assert wait_for_sample(stack, "accounting", "carbon_microbatch_events", "_count", consumer="accounting") >= 1
    assert wait_for_sample(stack, "accounting", "carbon_accounting_recomputes", "_total", period="year") >= 1
    assert wait_for_sample(stack, "accounting", "carbon_accounting_recomputes", "_total", period="month") >= 1
    assert wait_for_sample(stack, "consent", "carbon_audit_lag_seconds", "_count", log="consent") >= 1


def test_metrics_are_not_in_the_openapi_documents(stack: Platform) -> None:
    for name in ORDER:
        response = httpx.get(f"{stack.http(name)}/openapi.json", timeout=10)
        if response.status_code == 200:
            assert "/metrics" not in response.json().get("paths", {}), name
