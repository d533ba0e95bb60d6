"""Rate limits on public edges: Redis token buckets, 429 + Retry-After on REST, RESOURCE_EXHAUSTED + RetryInfo on gRPC.

Deterministic on a loaded machine: buckets refill at 1 token per 1000 s, so a
drained bucket stays drained for the test; recovery is shown by ageing the
bucket's stored timestamp in Redis by the wait the refusal announced (what
passing time does), never by sleeping.
"""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import httpx
import pytest
import redis
from carbon.v1 import accounting_pb2, accounting_pb2_grpc
from carbon_common.channels import service_channel
from carbon_common.ratelimit import KEY_PREFIX, RateLimiter, bucket_key, peer_address
from carbon_common.settings import Rate
from carbon_devkit.ports import free_port
from carbon_devkit.processes import start_service
from carbon_devkit.redis_server import start as start_redis
from google.rpc import error_details_pb2
from grpc_status import rpc_status

SLOW = {"rate": 0.001, "burst": 2}  # two requests, then one more per 1000 s
ADMIN = "ratelimit-admin-token"
SECRET = "ratelimit-service-secret"


def age(client: redis.Redis, key: str, seconds: float) -> None:
    """Move a bucket's last refill back in time, as if `seconds` had passed."""
    stamp = float(client.hget(key, "ts") or 0)
    client.hset(key, "ts", f"{stamp - seconds:.6f}")


def only_bucket(client: redis.Redis, service: str, kind: str) -> str:
    keys = [k.decode() for k in client.scan_iter(f"{KEY_PREFIX}:{service}:{kind}:*")]
    assert len(keys) == 1, keys
    return keys[0]


def test_bucket_admits_burst_then_refuses_until_refilled(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    limiter = RateLimiter(client, "svc", {"bank": Rate(rate=0.001, burst=2), "address": Rate(rate=0.001, burst=100)})
    buckets = [("bank", "ck_key"), ("address", "10.0.0.1")]
    assert [limiter.take(buckets).allowed for _ in range(2)] == [True, True]
    refused = limiter.take(buckets)
    assert not refused.allowed
    assert 999 < refused.retry_after <= 1000
    assert refused.retry_after_seconds == 1000
    # A refusal takes nothing from the other buckets (all or none, in one script).
    address = bucket_key("svc", "address", "10.0.0.1")
    before = client.hgetall(address)
    assert not limiter.take(buckets).allowed
    assert client.hgetall(address) == before
    assert float(before[b"tokens"]) == pytest.approx(98, abs=0.01)
    # Neither the key nor the address is stored in the clear.
    assert not [k for k in client.keys(f"{KEY_PREFIX}:*") if b"ck_key" in k or b"10.0.0.1" in k]
    age(client, bucket_key("svc", "bank", "ck_key"), refused.retry_after)
    assert limiter.take(buckets).allowed
    assert not limiter.take(buckets).allowed
    # Another key has its own bucket.
    assert limiter.take([("bank", "ck_other")]).allowed


def test_disabled_limiter_admits_everything(redis_url: str) -> None:
    limiter = RateLimiter(redis.Redis.from_url(redis_url), "svc", {"bank": Rate(rate=0.001, burst=1)}, enabled=False)
    assert all(limiter.take([("bank", "k")]).allowed for _ in range(5))


def test_peer_address() -> None:
    assert peer_address("ipv4:10.1.2.3:5555") == "10.1.2.3"
    assert peer_address("ipv6:[::1]:5555") == "::1"
    assert peer_address("unix:/tmp/s") == "unix:/tmp/s"


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    port = free_port()
    process = start_redis(tmp_path / "redis", port)
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(10)


def test_rest_answers_429_with_retry_after_then_recovers(store: str, tmp_path: Path) -> None:
    limits = {"bank": SLOW, "address": SLOW, "page": SLOW}
    consent = start_service(
        "consent",
        {
            "CARBON_REDIS_URL": store,
            "CARBON_ADMIN_TOKEN": ADMIN,
            "CARBON_SERVICE_SECRET": SECRET,
            "CARBON_RATE_LIMITS": json.dumps(limits),
        },
        tmp_path / "logs",
    )
    client = redis.Redis.from_url(store)
    try:
        with httpx.Client(base_url=consent.http_base, timeout=10) as http:
            admin = {"authorization": f"Bearer {ADMIN}"}
            assert [http.get("/v1/enterprises", headers=admin).status_code for _ in range(2)] == [200, 200]
            refused = http.get("/v1/enterprises", headers=admin)
            assert refused.status_code == 429
            assert refused.headers["retry-after"] == "1000"
            error = refused.json()["error"]
            assert (error["code"], error["status"]) == (429, "RESOURCE_EXHAUSTED")
            kinds = {d["@type"].rsplit(".", 1)[1]: d for d in error["details"]}
            assert kinds["ErrorInfo"]["reason"] == "RATE_LIMITED"
            assert kinds["RetryInfo"]["retryDelay"].endswith("s")
            assert 999 < float(kinds["RetryInfo"]["retryDelay"][:-1]) <= 1000
            # The OpenAPI document says so.
            declared = http.get("/openapi.json").json()["paths"]["/v1/enterprises"]["get"]["responses"]["429"]
            assert "Retry-After" in declared["headers"]
            # The one-click pages have their own per-address bucket.
            pages = [http.get("/consents/manage", params={"token": "lk_x"}).status_code for _ in range(3)]
            assert pages[:2] == [401, 401] and pages[2] == 429
            # Platform services are not limited.
            from carbon_common.identity import SERVICE_HEADER, TOKEN_HEADER, sign_service_token

            service = {SERVICE_HEADER: "operator", TOKEN_HEADER: sign_service_token("operator", "consent", SECRET)}
            assert http.get("/v1/enterprises", headers=service).status_code == 200
            # Time passes (the announced wait): the caller gets through again, once.
            for kind in ("bank", "address"):
                age(client, only_bucket(client, "consent", kind), 1000)
            assert http.get("/v1/enterprises", headers=admin).status_code == 200
            assert http.get("/v1/enterprises", headers=admin).status_code == 429
    finally:
        assert consent.stop() == 0


def test_grpc_answers_resource_exhausted_with_retry_info_then_recovers(store: str, tmp_path: Path) -> None:
    accounting = start_service(
        "accounting",
        {
            "CARBON_REDIS_URL": store,
            "CARBON_SERVICE_SECRET": SECRET,
            "CARBON_RATE_LIMITS": json.dumps({"bank": SLOW, "address": {"rate": 1000, "burst": 1000}}),
            # No consent service: a bank call that passes the limit fails closed (UNAVAILABLE), quickly.
            "CARBON_CONSENT_TARGET": f"127.0.0.1:{free_port()}",
            "CARBON_PEER_TIMEOUT_SECONDS": "1",
        },
        tmp_path / "logs",
    )
    client = redis.Redis.from_url(store)
    stub = accounting_pb2_grpc.AccountingServiceStub(grpc.insecure_channel(accounting.target))
    request = accounting_pb2.GetAccountRequest(name="enterprises/91330800MA2A0B1C2E/accounts/2024")
    bank = (("authorization", "Bearer ck_ratelimit"),)

    def code(metadata: tuple[tuple[str, str], ...]) -> tuple[grpc.StatusCode, grpc.RpcError | None]:
        try:
            stub.GetAccount(request, metadata=metadata, timeout=15)
        except grpc.RpcError as error:
            return error.code(), error
        return grpc.StatusCode.OK, None

    try:
        first, second = code(bank)[0], code(bank)[0]
        assert grpc.StatusCode.RESOURCE_EXHAUSTED not in (first, second)
        status, error = code(bank)
        assert status == grpc.StatusCode.RESOURCE_EXHAUSTED
        details = rpc_status.from_call(error)  # type: ignore[arg-type]
        assert details is not None
        retry, info = error_details_pb2.RetryInfo(), error_details_pb2.ErrorInfo()
        assert any(d.Unpack(retry) for d in details.details if d.Is(retry.DESCRIPTOR))
        assert any(d.Unpack(info) for d in details.details if d.Is(info.DESCRIPTOR))
        assert info.reason == "RATE_LIMITED"
        assert 999 < retry.retry_delay.seconds + retry.retry_delay.nanos / 1e9 <= 1000
        # Platform services (valid token) are not limited.
        platform = service_channel(accounting.target, "rating", SECRET)
        platform_stub = accounting_pb2_grpc.AccountingServiceStub(platform)
        try:
            platform_stub.GetAccount(request, timeout=15)
        except grpc.RpcError as other:
            assert other.code() != grpc.StatusCode.RESOURCE_EXHAUSTED
        # Time passes: admitted again, once.
        age(client, only_bucket(client, "accounting", "bank"), 1000)
        assert code(bank)[0] != grpc.StatusCode.RESOURCE_EXHAUSTED
        assert code(bank)[0] == grpc.StatusCode.RESOURCE_EXHAUSTED
    finally:
        assert accounting.stop() == 0
