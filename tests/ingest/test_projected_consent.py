"""Ingestion decides collection consent from consent's projection (carbon_consent.projected.ProjectedGate),
with no call per batch: the consent rule's answer, every decision in consent's hash-chained audit under
the ingesting service's name, a revocation refused within 1 s, and fail closed (UNAVAILABLE) while the
consent service is down, resumed when it is back. A real consent process on real Redis; ingest-energy
and ingest-tax built as their processes build them, serving real gRPC."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import grpc
import pytest
import redis
from carbon.v1 import consent_pb2, consent_pb2_grpc, enterprise_pb2_grpc
from carbon.v1 import ingest_energy_pb2 as pb
from carbon.v1 import ingest_energy_pb2_grpc as pb_grpc
from carbon.v1 import ingest_tax_pb2 as tax_pb
from carbon.v1 import ingest_tax_pb2_grpc as tax_grpc
from carbon_common import events, hashchain
from carbon_common.channels import service_channel
from carbon_common.errors import from_rpc_error
from carbon_devkit.credentials import ADMIN_TOKEN, LINK_SECRET, SERVICE_SECRET
from carbon_devkit.processes import ServiceProcess, start_service, wait_http
from carbon_devkit.seed import authorise_platform, register_enterprise
from carbon_ingest_energy.app import build as build_energy
from carbon_ingest_energy.settings import EnergySettings
from carbon_ingest_tax.app import build as build_tax
from carbon_ingest_tax.settings import TaxSettings

from tests.ingest.helpers import make_uscc, rpc_error, running

USCC = make_uscc(881)
ADMIN = (("authorization", f"Bearer {ADMIN_TOKEN}"),)
AUDIT_CHAIN = "consent:audit"
Q = 900


def start_consent(redis_url: str, logs: Path) -> ServiceProcess:
    process = start_service(
        "consent",
        {
            "CARBON_REDIS_URL": redis_url,
            "CARBON_SERVICE_SECRET": SERVICE_SECRET,
            "CARBON_ADMIN_TOKEN": ADMIN_TOKEN,
            "CARBON_LINK_SECRET": LINK_SECRET,
        },
        logs,
    )
    try:
        wait_http(process)
    except Exception:
        process.stop()
        raise
    return process


def collection_consent(consent: ServiceProcess) -> str:
    """USCC registered and the platform's collection consent authorised; the consent's name."""
    with grpc.insecure_channel(consent.target) as channel:
        register_enterprise(enterprise_pb2_grpc.EnterpriseServiceStub(channel), ADMIN, USCC)
        return authorise_platform(consent_pb2_grpc.ConsentServiceStub(channel), ADMIN, USCC)


def service_settings(redis_url: str, tmp_path: Path) -> dict[str, Any]:
    """An ingestion service's settings as its process would read them, on free ports."""
    return {
        "redis_url": redis_url,
        "data_dir": tmp_path / "data",
        "grpc_port": 0,
        "http_port": 0,
        "service_secret": SERVICE_SECRET,
        "projection_warm_up_seconds": 30,
    }


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


@dataclass
class World:
    redis_url: str
    logs: Path
    consent: ServiceProcess
    consent_name: str
    meters: pb_grpc.EnergyIngestionServiceStub
    meter: str = ""
    sent: int = 0

    @property
    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_url)

    def stream(self, ts: int) -> pb.StreamReadingsResponse:
        self.sent += 1
        batch = pb.ReadingBatch(meter=self.meter, request_id=f"b{self.sent}", timestamps=[ts], values=[1000])
        response: pb.StreamReadingsResponse = self.meters.StreamReadings(iter([batch]), timeout=10)
        return response

    def outcome(self, ts: int) -> str:
        """OK, or the refusal's reason."""
        try:
            self.stream(ts)
        except grpc.RpcError as error:
            return from_rpc_error(error).reason
        return "OK"

    def decisions(self) -> list[events.AccessDecided]:
        return [events.ACCESS.decode(fields) for _, fields in self.client.xrange(events.ACCESS.name)]

    def audited(self) -> list[hashchain.Entry]:
        return hashchain.read_entries(self.client, AUDIT_CHAIN)


@pytest.fixture
def world(redis_url: str, tmp_path: Path) -> Iterator[World]:
    logs = tmp_path / "logs"
    consent = start_consent(redis_url, logs)
    w = None
    try:
        name = collection_consent(consent)
        settings = EnergySettings(**service_settings(redis_url, tmp_path))
        with running(build_energy(settings)) as target, service_channel(target, "meter-feed", SERVICE_SECRET) as feed:
            w = World(redis_url, logs, consent, name, pb_grpc.EnergyIngestionServiceStub(feed))
            w.meter = w.meters.CreateMeter(
                pb.CreateMeterRequest(
                    parent=f"enterprises/{USCC}", meter_id="m1", meter=pb.Meter(energy_type=1, reading_kind=1)
                ),
                timeout=10,
            ).name
            yield w
    finally:
        (w.consent if w is not None else consent).stop()


def now_slot() -> int:
    return int(time.time()) // Q * Q - Q


def test_batches_are_decided_from_the_projection_and_audited_by_consent(world: World) -> None:
    ts = now_slot()
    assert world.stream(ts).readings_stored == 1
    # Data older than the consent's data window (~6 years back): refused with the rule's reason.
    old = int((datetime.now(UTC) - timedelta(days=2300)).timestamp()) // Q * Q
    assert world.outcome(old) == "CONSENT_DATA_WINDOW"

    meter, stored, refused = world.decisions()
    for d in (meter, stored, refused):
        assert (d.caller, d.bank, d.enterprise, d.scope) == (
            "ingest-energy",
            "platform",
            f"enterprises/{USCC}",
            "ENERGY_METERING",
        )
        assert d.consent_position  # decided from the projection at a stream position
    assert meter.allowed and meter.data_start is None  # the meter's registration: the instant now
    assert stored.allowed and stored.consent == world.consent_name
    assert stored.data_start == datetime.fromtimestamp(ts, UTC)
    assert stored.data_end == datetime.fromtimestamp(ts, UTC) + timedelta(microseconds=1)
    assert not refused.allowed and refused.reason == "CONSENT_DATA_WINDOW" and refused.consent == ""

    # Consent appends every decision to its chain, under the ingesting service's name; no CheckAccess
    # was asked (its audit entries would be ACCESS_CHECKED).
    wanted = {d.decision_id for d in (meter, stored, refused)}
    wait_for(lambda: wanted <= {e.body.get("decision_id") for e in world.audited()})
    entries = [e for e in world.audited() if e.body.get("decision_id") in wanted]
    assert {(e.kind, e.body["caller"]) for e in entries} == {("ACCESS_DECIDED", "ingest-energy")}
    assert "ACCESS_CHECKED" not in {e.kind for e in world.audited()}
    assert hashchain.verify(world.client, AUDIT_CHAIN).ok


def test_revocation_is_refused_within_one_second(world: World) -> None:
    """Stream batches while revoking: none is acknowledged later than 1 s after the revocation
    committed, and the refusal is the revocation's own reason (not staleness)."""
    ts = now_slot()
    assert world.outcome(ts) == "OK"
    with grpc.insecure_channel(world.consent.target) as channel:
        consent_pb2_grpc.ConsentServiceStub(channel).RevokeConsent(
            consent_pb2.RevokeConsentRequest(name=world.consent_name, reason="test"), metadata=ADMIN, timeout=10
        )
    committed = time.time()
    acknowledged: list[float] = []
    while (reason := world.outcome(ts)) == "OK":
        acknowledged.append(time.time())
        assert time.time() - committed < 30, "never refused"
    assert reason == "CONSENT_REVOKED"
    assert all(t - committed < 1.0 for t in acknowledged), max(acknowledged) - committed


def test_consent_down_refuses_then_resumes(world: World) -> None:
    ts = now_slot()
    assert world.outcome(ts) == "OK"
    assert world.consent.stop() == 0
    stopped = time.time()
    wait_for(lambda: world.outcome(ts) == "CONSENT_PROJECTION_STALE")
    assert time.time() - stopped >= 1.0 - 0.25  # not before the heartbeat bound (one interval of slack)
    world.consent = start_consent(world.redis_url, world.logs)
    wait_for(lambda: world.outcome(ts) == "OK")


def test_ingest_tax_decides_from_the_projection_too(redis_url: str, tmp_path: Path) -> None:
    consent = start_consent(redis_url, tmp_path / "logs")
    try:
        collection_consent(consent)
        settings = TaxSettings(**service_settings(redis_url, tmp_path))
        other = make_uscc(882)
        with running(build_tax(settings)) as target, service_channel(target, "tax-feed", SERVICE_SECRET) as channel:
            stub = tax_grpc.TaxIngestionServiceStub(channel)
            assert stub.IngestInvoices(invoices(USCC, "1"), timeout=10).invoices == 1
            refused = rpc_error(lambda: stub.IngestInvoices(invoices(other, "2"), timeout=10))
            assert refused.code == grpc.StatusCode.PERMISSION_DENIED and refused.reason == "CONSENT_REQUIRED"
        client = redis.Redis.from_url(redis_url)
        decided = [events.ACCESS.decode(fields) for _, fields in client.xrange(events.ACCESS.name)]
        assert [(d.caller, d.enterprise, d.scope, d.allowed) for d in decided] == [
            ("ingest-tax", f"enterprises/{USCC}", "TAX_INVOICES", True),
            ("ingest-tax", f"enterprises/{other}", "TAX_INVOICES", False),
        ]
    finally:
        consent.stop()


def invoices(uscc: str, request_id: str) -> tax_pb.IngestInvoicesRequest:
    line = tax_pb.InvoiceLine(line_number=1, tax_code="1090000000000000000", item_name="*机械设备*泵", unit="台")
    line.quantity.value = "1"
    line.amount.value = f"{Decimal('1000.00'):.2f}"
    line.tax_amount.value = "130.00"
    invoice = tax_pb.Invoice(
        invoice_number=f"2433000000000000{request_id:0>4}",
        seller_uscc=uscc,
        buyer_uscc=make_uscc(883),
        kind=tax_pb.Invoice.KIND_NORMAL,
        lines=[line],
    )
    invoice.issue_time.FromDatetime(datetime.now(UTC) - timedelta(days=1))
    return tax_pb.IngestInvoicesRequest(parent=f"enterprises/{uscc}", invoices=[invoice], request_id=request_id)
