"""Helpers and fixtures of the consent service tests: in-process core with a movable clock,
and the real `python -m carbon_consent` process."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from carbon.v1 import consent_pb2, consent_pb2_grpc, enterprise_pb2_grpc
from carbon_common.identity import SERVICE_HEADER, TOKEN_HEADER, sign_service_token
from carbon_common.names import USCC_ALPHABET, uscc_check_char
from carbon_consent.app import build
from carbon_consent.auth import Principal
from carbon_consent.settings import ConsentSettings
from carbon_devkit.processes import ServiceProcess, start_service, wait_http
from carbon_devkit.seed import register_enterprise
from hypothesis import HealthCheck, settings

SERVICE_SECRET = "test-service-secret"
ADMIN_TOKEN = "test-admin-token"
LINK_SECRET = "test-link-secret"

ADMIN = Principal("admin", "admin")

# State machines driving the real store on Redis: fewer, shorter runs than the pure domain's.
REDIS_MACHINE_SETTINGS = settings(
    max_examples=25,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
SERVICE = Principal("service", "tester")


def make_uscc(rng: random.Random | None = None) -> str:
    rng = rng or random.Random()
    body = "91" + "330802" + "".join(rng.choice(USCC_ALPHABET) for _ in range(9))
    return body + uscc_check_char(body)


class MovableClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


def build_components(redis_url: str, clock: MovableClock):  # type: ignore[no-untyped-def]
    settings = ConsentSettings(
        redis_url=redis_url,
        dev_mode=False,
        service_secret=SERVICE_SECRET,
        admin_token=ADMIN_TOKEN,
        link_secret=LINK_SECRET,
        http_port=8081,
    )
    return build(settings, clock=clock)


@pytest.fixture
def components(redis_url: str, clock: MovableClock):  # type: ignore[no-untyped-def]
    return build_components(redis_url, clock)


# ---------------------------------------------------------------- the real process


@dataclass
class Edge:
    process: ServiceProcess
    channel: grpc.Channel

    @property
    def consents(self) -> consent_pb2_grpc.ConsentServiceStub:
        return consent_pb2_grpc.ConsentServiceStub(self.channel)

    @property
    def banks(self) -> consent_pb2_grpc.BankServiceStub:
        return consent_pb2_grpc.BankServiceStub(self.channel)

    @property
    def enterprises(self) -> enterprise_pb2_grpc.EnterpriseServiceStub:
        return enterprise_pb2_grpc.EnterpriseServiceStub(self.channel)


def service_md(name: str = "operator", audience: str = "consent") -> list[tuple[str, str]]:
    """A fresh (one-use) service identity of catalog principal `name` calling `audience`."""
    return [(SERVICE_HEADER, name), (TOKEN_HEADER, sign_service_token(name, audience, SERVICE_SECRET))]


def admin_md() -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {ADMIN_TOKEN}")]


def bank_md(key: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {key}")]


@pytest.fixture(scope="module")
def consent_process(redis_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    log_dir: Path = tmp_path_factory.mktemp("consent-logs")
    process = start_service(
        "consent",
        {
            "CARBON_REDIS_URL": f"{redis_server}/0",
            "CARBON_SERVICE_SECRET": SERVICE_SECRET,
            "CARBON_ADMIN_TOKEN": ADMIN_TOKEN,
            "CARBON_LINK_SECRET": LINK_SECRET,
            "CARBON_SWEEP_INTERVAL_SECONDS": "0.5",
        },
        log_dir,
    )
    try:
        wait_http(process)
    except Exception:
        process.stop()
        raise
    channel = grpc.insecure_channel(process.target)
    try:
        yield Edge(process, channel)
    finally:
        channel.close()
        code = process.stop()
        assert code == 0, process.logs()


def seed(edge: Edge, rng: random.Random | None = None) -> dict[str, str]:
    """An enterprise and two banks (a, b) with their API keys."""
    uscc = make_uscc(rng)
    register_enterprise(edge.enterprises, admin_md(), uscc, region="330800", display_name="衢州示例化工有限公司")
    out = {"uscc": uscc}
    suffix = uscc[-6:].lower()
    for tag in ("a", "b"):
        response = edge.banks.CreateBank(
            consent_pb2.CreateBankRequest(
                bank_id=f"bank-{tag}-{suffix}", bank=consent_pb2.Bank(display_name=f"示例银行{tag.upper()} Bank {tag}")
            ),
            metadata=admin_md(),
        )
        out[f"bank_{tag}"] = response.bank.name
        out[f"key_{tag}"] = response.api_key
    return out


def access_consent(grantee: str, days: int = 30, scopes: tuple[int, ...] = (consent_pb2.CONSENT_SCOPE_RATING,)):  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    consent = consent_pb2.Consent(
        grantee=grantee, scopes=list(scopes), purpose=consent_pb2.CONSENT_PURPOSE_CREDIT_ASSESSMENT
    )
    consent.data_window.start_time.FromDatetime(now - timedelta(days=3 * 365))
    consent.data_window.end_time.FromDatetime(now + timedelta(days=days))
    consent.expire_time.FromDatetime(now + timedelta(days=days))
    return consent
