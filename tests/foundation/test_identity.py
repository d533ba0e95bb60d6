"""Service identity: one rule per test, against a real redis-server (the replay record).

A token names a catalog principal, is addressed to the called service, lives
TOKEN_LIFETIME_SECONDS (≤ 60 s) with CLOCK_SKEW_SECONDS (≤ 5 s) of tolerance
for a caller's clock running ahead, and is accepted once on every replica.
"""

from __future__ import annotations

from concurrent import futures

import grpc
import pytest
import redis
from carbon.v1 import enterprise_pb2, enterprise_pb2_grpc
from carbon_common import identity
from carbon_common.channels import service_channel
from carbon_common.errors import ServiceError, from_rpc_error
from carbon_common.identity import RETRY_MAX_ATTEMPTS, RequireServiceInterceptor, ServiceVerifier, sign_service_token
from carbon_devkit.ports import free_port

SECRET = "identity-test-secret"
NOW = 1_900_000_000.0


@pytest.fixture
def client(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


def verifier(client: redis.Redis, audience: str = "accounting") -> ServiceVerifier:
    return ServiceVerifier(audience, SECRET, client, clock=lambda: NOW)


def refused(check: ServiceVerifier, service: str, token: str, *, attempt: int = 0, now: float = NOW) -> str:
    with pytest.raises(ServiceError) as caught:
        check.verify(service, token, attempt, now=now)
    assert caught.value.code == grpc.StatusCode.UNAUTHENTICATED
    assert caught.value.reason == "UNAUTHENTICATED_SERVICE"
    assert not token or token not in caught.value.message  # the rule is named, the token is not echoed
    return caught.value.message


def test_limits_are_within_the_contract() -> None:
    assert identity.TOKEN_LIFETIME_SECONDS <= 60
    assert identity.CLOCK_SKEW_SECONDS <= 5


def test_a_fresh_token_of_a_catalog_service_for_this_service_is_accepted(client: redis.Redis) -> None:
    token = sign_service_token("rating", "accounting", SECRET, now=NOW)
    assert verifier(client).verify("rating", token).principal == "services/rating"


def test_a_name_outside_the_catalog_is_refused(client: redis.Redis) -> None:
    token = sign_service_token("intruder", "accounting", SECRET, now=NOW)
    assert "not in the service catalog" in refused(verifier(client), "intruder", token)


def test_a_token_names_its_service(client: redis.Redis) -> None:
    token = sign_service_token("rating", "accounting", SECRET, now=NOW)
    assert "signature" in refused(verifier(client), "loan-pricing", token)  # another catalog name, same token


def test_a_token_for_another_service_is_refused(client: redis.Redis) -> None:
    token = sign_service_token("loan-pricing", "rating", SECRET, now=NOW)
    assert "another service" in refused(verifier(client, "accounting"), "loan-pricing", token)
    # and the audience cannot be rewritten without breaking the signature
    forged = token.replace(".rating.", ".accounting.", 1)
    assert "signature" in refused(verifier(client, "accounting"), "loan-pricing", forged)


def test_lifetime_and_clock_skew(client: redis.Redis) -> None:
    check = verifier(client)
    lifetime, skew = identity.TOKEN_LIFETIME_SECONDS, identity.CLOCK_SKEW_SECONDS
    assert check.verify("rating", sign_service_token("rating", "accounting", SECRET, now=NOW - lifetime), now=NOW)
    assert check.verify("rating", sign_service_token("rating", "accounting", SECRET, now=NOW + skew), now=NOW)
    expired = sign_service_token("rating", "accounting", SECRET, now=NOW - lifetime - 1)
    assert "expired" in refused(check, "rating", expired)
    future = sign_service_token("rating", "accounting", SECRET, now=NOW + skew + 1)
    assert "future" in refused(check, "rating", future)


def test_a_seen_token_is_refused_on_every_replica(client: redis.Redis) -> None:
    token = sign_service_token("rating", "accounting", SECRET, now=NOW)
    assert verifier(client).verify("rating", token)
    assert "already used" in refused(verifier(client), "rating", token)  # another replica, same Redis
    assert "already used" in refused(verifier(client), "rating", token)


def test_the_replay_record_lasts_as_long_as_the_token_could_be_accepted(client: redis.Redis) -> None:
    token = sign_service_token("rating", "accounting", SECRET, now=NOW)
    verifier(client).verify("rating", token)
    (key,) = client.keys("carbon:accounting:seen-token:*")
    assert 0 < client.ttl(key) <= identity.TOKEN_LIFETIME_SECONDS + identity.CLOCK_SKEW_SECONDS


def test_grpc_retry_attempts_are_accepted_once_each_and_bounded(client: redis.Redis) -> None:
    check = verifier(client)
    token = sign_service_token("rating", "accounting", SECRET, now=NOW)
    for attempt in range(RETRY_MAX_ATTEMPTS):
        assert check.verify("rating", token, attempt)
        assert "already used" in refused(check, "rating", token, attempt=attempt)
    assert "too many attempts" in refused(check, "rating", token, attempt=RETRY_MAX_ATTEMPTS)
    assert identity.attempt_number("") == 0 and identity.attempt_number("2") == 2
    assert identity.attempt_number("x") < 0 and identity.attempt_number("²") < 0


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t[:-1] + ("0" if t[-1] != "0" else "1"),  # MAC
        lambda t: t.replace(t.split(".")[2], str(int(t.split(".")[2]) + 1)),  # issue time
        lambda t: t.replace(t.split(".")[3], "A" * len(t.split(".")[3])),  # nonce
        lambda t: "v1" + t[2:],  # version
        lambda t: t.rsplit(".", 1)[0],  # truncated
        lambda t: t + "." + "0" * 300,  # oversized
        lambda _t: "",
    ],
)
def test_a_tampered_token_is_refused(client: redis.Redis, tamper: object) -> None:
    token = sign_service_token("rating", "accounting", SECRET, now=NOW)
    bad = tamper(token)  # type: ignore[operator]
    assert bad != token
    refused(verifier(client), "rating", bad)
    assert verifier(client).verify("rating", token)  # nothing recorded for the bad ones


def test_a_token_signed_with_another_secret_is_refused(client: redis.Redis) -> None:
    token = sign_service_token("rating", "accounting", "other-secret", now=NOW)
    assert "signature" in refused(verifier(client), "rating", token)


class _Enterprises(enterprise_pb2_grpc.EnterpriseServiceServicer):
    def __init__(self, check: ServiceVerifier) -> None:
        self.check = check
        self.calls = 0

    def GetEnterprise(self, request: enterprise_pb2.GetEnterpriseRequest, context: grpc.ServicerContext) -> object:
        self.calls += 1
        caller = self.check.from_metadata(context.invocation_metadata())
        if self.calls == 1:  # the first attempt fails transiently: the channel retries with the same token
            context.abort(grpc.StatusCode.UNAVAILABLE, "try again")
        return enterprise_pb2.Enterprise(name=caller.principal if caller else "anonymous")


def test_the_channel_signs_each_call_for_its_audience_and_retries_pass(redis_url: str) -> None:
    """A real channel: a fresh token per call addressed to consent (EnterpriseService), gRPC retries accepted."""
    check = ServiceVerifier("consent", SECRET, redis.Redis.from_url(redis_url))
    servicer = _Enterprises(check)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    enterprise_pb2_grpc.add_EnterpriseServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with service_channel(f"127.0.0.1:{port}", "loan-pricing", SECRET) as channel:
            stub = enterprise_pb2_grpc.EnterpriseServiceStub(channel)
            request = enterprise_pb2.GetEnterpriseRequest(name="enterprises/x")
            assert stub.GetEnterprise(request, timeout=10).name == "services/loan-pricing"
            assert servicer.calls == 2
            assert stub.GetEnterprise(request, timeout=10).name == "services/loan-pricing"  # a new token
    finally:
        server.stop(None)


class _Plain(enterprise_pb2_grpc.EnterpriseServiceServicer):
    def GetEnterprise(self, request: enterprise_pb2.GetEnterpriseRequest, context: grpc.ServicerContext) -> object:
        return enterprise_pb2.Enterprise(name=request.name)


def test_the_server_interceptor_refuses_retryably_when_the_replay_record_is_down() -> None:
    """Redis unreachable: UNAVAILABLE/STORE_UNAVAILABLE (retryable), never UNKNOWN, never let through."""
    down = redis.Redis(port=free_port(), socket_connect_timeout=0.5, socket_timeout=0.5)
    interceptor = RequireServiceInterceptor(ServiceVerifier("consent", SECRET, down), {"carbon.v1.EnterpriseService"})
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), interceptors=[interceptor])
    enterprise_pb2_grpc.add_EnterpriseServiceServicer_to_server(_Plain(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = enterprise_pb2_grpc.EnterpriseServiceStub(channel)
            token = sign_service_token("loan-pricing", "consent", SECRET)
            metadata = [(identity.SERVICE_HEADER, "loan-pricing"), (identity.TOKEN_HEADER, token)]
            with pytest.raises(grpc.RpcError) as caught:
                stub.GetEnterprise(enterprise_pb2.GetEnterpriseRequest(name="x"), metadata=metadata, timeout=10)
            error = from_rpc_error(caught.value)
            assert (error.code, error.reason) == (grpc.StatusCode.UNAVAILABLE, "STORE_UNAVAILABLE")
    finally:
        server.stop(None)
