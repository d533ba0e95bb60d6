"""Real processes for the pricing end-to-end tests and the benchmark:
redis-server, consent, accounting, rating and loan-pricing, wired together,
plus seeding through the consent service's real gRPC API."""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import httpx
import redis
from carbon.v1 import consent_pb2, consent_pb2_grpc
from carbon_common import catalog, events, hashchain
from carbon_common.redis_server import free_port
from carbon_common.redis_server import start as start_redis
from carbon_consent.access_audit import GROUP as ACCESS_AUDIT_GROUP
from carbon_consent.access_audit import KIND as ACCESS_DECIDED
from carbon_consent.audit import CHAIN as AUDIT_CHAIN
from google.type import interval_pb2

from tests.support.platform import GENEROUS_RATE_LIMITS
from tests.support.processes import ServiceProcess, start_service
from tests.support.seed import register_enterprise

SERVICE_SECRET = "pricing-e2e-service-secret"
CONSENT_ADMIN = "consent-admin-e2e"
PRICING_ADMIN = "pricing-admin-e2e"
PEERS = ("consent", "accounting", "rating")


@dataclass
class Stack:
    root: Path
    redis_url: str
    processes: dict[str, ServiceProcess] = field(default_factory=dict)
    redis_process: Any = None

    @property
    def pricing(self) -> ServiceProcess:
        return self.processes["loan-pricing"]

    def env(self) -> dict[str, str]:
        env = {
            "CARBON_REDIS_URL": self.redis_url,
            "CARBON_SERVICE_SECRET": SERVICE_SECRET,
            "CARBON_ADMIN_TOKEN": CONSENT_ADMIN,
            "CARBON_PRICING_ADMIN_TOKEN": PRICING_ADMIN,
            "CARBON_DATA_DIR": str(self.root / "data"),
            "CARBON_LOG_LEVEL": "WARNING",
            # Quotes here come from one bank and one address, faster than a bank's default budget.
            "CARBON_RATE_LIMITS": GENEROUS_RATE_LIMITS,
        }
        for name, proc in self.processes.items():
            var = catalog.service(name).target_variable
            env[var] = proc.target
        return env

    def stop(self) -> None:
        for proc in reversed(list(self.processes.values())):
            proc.stop()
        if self.redis_process is not None:
            self.redis_process.terminate()
            self.redis_process.wait(10)


def start_stack(
    root: Path,
    *,
    extra_env: dict[str, str] | None = None,
    peers: tuple[str, ...] = PEERS,
    bundle_dir: Path | None = None,
    appendfsync: str = "everysec",
    before_pricing: Callable[[Stack], None] | None = None,
) -> Stack:
    """`appendfsync="always"`: every acknowledged write survives a kill -9 of redis-server.
    `before_pricing(stack)` seeds what loan-pricing's projections should find at start."""
    port = free_port()
    redis_process = start_redis(root / "redis", port, appendfsync=appendfsync)
    stack = Stack(root, f"redis://127.0.0.1:{port}/0", redis_process=redis_process)
    try:
        for name in peers:
            stack.processes[name] = start_service(name, {**stack.env(), **(extra_env or {})}, root / "logs")
        if before_pricing is not None:
            before_pricing(stack)
        env = {**stack.env(), **(extra_env or {})}
        if bundle_dir is not None:
            env["CARBON_BUNDLE_DIR"] = str(bundle_dir)
        # One worker process per core (the default): each warms up its own projections and policy
        # engine, which takes a while on a loaded two-core machine.
        stack.processes["loan-pricing"] = start_service("loan-pricing", env, root / "logs", wait=180)
        wait_http(stack.pricing)
    except BaseException:
        stack.stop()
        raise
    return stack


def wait_http(proc: ServiceProcess, timeout: float = 20.0) -> None:
    """gRPC health turns SERVING before uvicorn has bound its port: wait for /healthz."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{proc.http_base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{proc.name}: HTTP edge not up after {timeout}s:\n{proc.logs()}")


def copy_bundle(target: Path) -> Path:
    source = Path(__file__).resolve().parents[2] / "policies" / "products"
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("*_test.rego"))
    return target


class ConsentClient:
    """Seeds and operates the consent service through its real gRPC API."""

    def __init__(self, target: str) -> None:
        self.channel = grpc.insecure_channel(target)
        self.banks = consent_pb2_grpc.BankServiceStub(self.channel)
        self.consents = consent_pb2_grpc.ConsentServiceStub(self.channel)
        from carbon.v1 import enterprise_pb2_grpc

        self.enterprises = enterprise_pb2_grpc.EnterpriseServiceStub(self.channel)
        self.admin = (("authorization", f"Bearer {CONSENT_ADMIN}"),)

    def create_bank(self, bank_id: str) -> str:
        response = self.banks.CreateBank(
            consent_pb2.CreateBankRequest(bank_id=bank_id, bank=consent_pb2.Bank(display_name=bank_id)),
            metadata=self.admin,
        )
        return response.api_key

    def create_enterprise(
        self, uscc: str, industry: str = "C3011", province: str = "330000", region: str = "330800"
    ) -> None:
        register_enterprise(self.enterprises, self.admin, uscc, industry, province, region)

    def grant(
        self,
        uscc: str,
        bank_id: str,
        api_key: str,
        *,
        authorize: bool = True,
        scopes: tuple[int, ...] = (consent_pb2.CONSENT_SCOPE_RATING,),
    ) -> str:
        """The bank requests an access consent; the enterprise (admin acting for it) authorises it."""
        now = datetime.now(UTC)
        consent = consent_pb2.Consent(
            grantee=f"banks/{bank_id}",
            scopes=list(scopes),
            purpose=consent_pb2.CONSENT_PURPOSE_CREDIT_ASSESSMENT,
        )
        window = interval_pb2.Interval()
        window.start_time.FromDatetime(now - timedelta(days=3 * 365))
        window.end_time.FromDatetime(now + timedelta(days=30))
        consent.data_window.CopyFrom(window)
        consent.expire_time.FromDatetime(now + timedelta(days=90))
        created = self.consents.CreateConsent(
            consent_pb2.CreateConsentRequest(
                parent=f"enterprises/{uscc}", consent=consent, request_id=uuid.uuid4().hex
            ),
            metadata=(("authorization", f"Bearer {api_key}"),),
        )
        if authorize:
            self.consents.AuthorizeConsent(consent_pb2.AuthorizeConsentRequest(name=created.name), metadata=self.admin)
        return created.name

    def revoke(self, name: str) -> None:
        self.consents.RevokeConsent(consent_pb2.RevokeConsentRequest(name=name, reason="test"), metadata=self.admin)


def access_audited(redis_url: str, timeout: float = 60.0) -> list[dict[str, Any]]:
    """Once consent's access-audit consumer has read and acknowledged everything on carbon:events:access
    (the point of the call): the bodies of consent's ACCESS_DECIDED audit entries, oldest first."""
    client = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + timeout
    while True:
        groups = {g["name"].decode(): g for g in client.xinfo_groups(events.ACCESS.name)}
        group = groups.get(ACCESS_AUDIT_GROUP)
        last = client.xrevrange(events.ACCESS.name, count=1)
        if group and group["pending"] == 0 and last and group["last-delivered-id"] == last[0][0]:
            break
        assert time.monotonic() < deadline, "consent did not consume the access stream"
        time.sleep(0.1)
    return [entry.body for entry in hashchain.read_entries(client, AUDIT_CHAIN) if entry.kind == ACCESS_DECIDED]
