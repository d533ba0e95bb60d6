"""Real processes for the ingestion process tests and the benchmark:
redis-server, the consent service (with an authorised platform consent),
and an ingestion service."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
from carbon.v1 import consent_pb2, consent_pb2_grpc, enterprise_pb2, enterprise_pb2_grpc
from carbon_common import redis_server
from carbon_common.redis_server import free_port

from tests.support.processes import ServiceProcess, start_service

ADMIN_TOKEN = "ingest-test-admin-token"
SECRET = "ingest-test-service-secret"
# How long a (re)started process may take to report SERVING: a safety bound only (the wait
# ends on SERVING); generous because the kill tests restart services on a loaded machine.
START_SECONDS = 180.0


@dataclass
class Redis:
    data_dir: Path
    port: int
    appendfsync: str
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = redis_server.start(self.data_dir, self.port, appendfsync=self.appendfsync)

    def kill9(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


@dataclass
class Stack:
    root: Path
    redis: Redis
    data_root: str = ""  # CARBON_DATA_DIR: root/data unless set (e.g. s3://bucket/prefix)
    storage_env: dict[str, str] = field(default_factory=dict)  # AWS_* of an object-storage data root
    consent: ServiceProcess | None = None
    services: dict[str, ServiceProcess] = field(default_factory=dict)
    ports: dict[str, tuple[int, int]] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        env = {
            "CARBON_REDIS_URL": self.redis.url,
            "CARBON_DATA_DIR": self.data_root or str(self.root / "data"),
            "CARBON_SERVICE_SECRET": SECRET,
            "CARBON_ADMIN_TOKEN": ADMIN_TOKEN,
            "CARBON_LOG_LEVEL": "WARNING",
            **self.storage_env,
        }
        if self.consent is not None:
            env["CARBON_CONSENT_TARGET"] = self.consent.target
        return env

    def start(self, name: str, extra: dict[str, str] | None = None) -> ServiceProcess:
        ports = self.ports.setdefault(name, (free_port(), free_port()))
        process = start_service(
            name, {**self.env(), **(extra or {})}, self.root / "logs", ports=ports, wait=START_SECONDS
        )
        self.services[name] = process
        return process

    def kill9(self, name: str) -> None:
        process = self.services[name].process
        process.kill()
        process.wait()

    def kill9_and_restart(self, victim: str, while_down: Callable[[], None]) -> None:
        """SIGKILL `victim` ("redis" or a started service), run `while_down` (it returns once
        the caller has observed what it needs of the outage), then start the victim again on
        the same ports, data dir and environment."""
        if victim == "redis":
            self.redis.kill9()
            while_down()
            self.redis.start()
        else:
            env = self.services[victim].env
            self.kill9(victim)
            while_down()
            self.start(victim, env)

    def stop(self) -> None:
        for service in self.services.values():
            service.stop()
        if self.consent is not None:
            self.consent.stop()
        self.redis.stop()

    def grant(self, uscc: str, scopes: list[int]) -> None:
        """CreateEnterprise, CreateConsent (grantee platform), AuthorizeConsent as admin."""
        assert self.consent is not None
        metadata = (("authorization", f"Bearer {ADMIN_TOKEN}"),)
        with grpc.insecure_channel(self.consent.target) as channel:
            enterprises = enterprise_pb2_grpc.EnterpriseServiceStub(channel)
            try:
                enterprises.CreateEnterprise(
                    enterprise_pb2.CreateEnterpriseRequest(
                        enterprise=enterprise_pb2.Enterprise(
                            uscc=uscc,
                            display_name="测试工厂",
                            industry_code="C2611",
                            province_code="330000",
                            region_code="330800",
                        )
                    ),
                    metadata=metadata,
                )
            except grpc.RpcError as error:
                if error.code() != grpc.StatusCode.ALREADY_EXISTS:
                    raise
            consents = consent_pb2_grpc.ConsentServiceStub(channel)
            now = datetime.now(UTC)
            consent = consent_pb2.Consent(
                grantee="platform", scopes=scopes, purpose=consent_pb2.CONSENT_PURPOSE_CARBON_ACCOUNTING
            )
            consent.data_window.start_time.FromDatetime(now - timedelta(days=2000))
            consent.data_window.end_time.FromDatetime(now + timedelta(days=180))
            consent.expire_time.FromDatetime(now + timedelta(days=1000))
            created = consents.CreateConsent(
                consent_pb2.CreateConsentRequest(parent=f"enterprises/{uscc}", consent=consent), metadata=metadata
            )
            consents.AuthorizeConsent(consent_pb2.AuthorizeConsentRequest(name=created.name), metadata=metadata)


def start_stack(
    root: Path, appendfsync: str = "everysec", *, data_root: str = "", storage_env: dict[str, str] | None = None
) -> Stack:
    redis = Redis(root / "redis", free_port(), appendfsync)
    redis.start()
    stack = Stack(root, redis, data_root, dict(storage_env or {}))
    stack.consent = start_service("consent", stack.env(), root / "logs", wait=START_SECONDS)
    return stack


def wait_until(predicate, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")
