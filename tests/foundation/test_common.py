"""The shared layer over a real gRPC server: errors, health, reflection, identity."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import grpc
import pytest
from carbon.v1 import enterprise_pb2, enterprise_pb2_grpc
from carbon_common import events, names, redis_conn
from carbon_common.erasure import handle_erasure
from carbon_common.errors import ServiceError, from_rpc_error, invalid_argument
from carbon_common.server import Running, Service
from carbon_common.settings import BaseServiceSettings
from carbon_devkit.ports import free_port
from carbon_synth import make_uscc
from fastapi import FastAPI
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from pydantic import ValidationError


class Enterprises(enterprise_pb2_grpc.EnterpriseServiceServicer):
    def GetEnterprise(
        self, request: enterprise_pb2.GetEnterpriseRequest, context: grpc.ServicerContext
    ) -> enterprise_pb2.Enterprise:
        uscc = names.parse_enterprise(request.name)
        if uscc.startswith("92"):
            raise RuntimeError("boom: secret internals")
        return enterprise_pb2.Enterprise(name=request.name, uscc=uscc)


@pytest.fixture
def server() -> Iterator[str]:
    settings = BaseServiceSettings(grpc_port=free_port())

    def register(server: grpc.Server) -> list[str]:
        enterprise_pb2_grpc.add_EnterpriseServiceServicer_to_server(Enterprises(), server)
        return ["carbon.v1.EnterpriseService"]

    running = Running(Service("test", settings, register))
    running.start()
    yield f"127.0.0.1:{running.grpc_port}"
    running.stop()


def test_client_mistake_is_invalid_argument_with_field_violation(server: str) -> None:
    stub = enterprise_pb2_grpc.EnterpriseServiceStub(grpc.insecure_channel(server))
    with pytest.raises(grpc.RpcError) as caught:
        stub.GetEnterprise(enterprise_pb2.GetEnterpriseRequest(name="enterprises/NOT-A-USCC"))
    error = from_rpc_error(caught.value)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.reason == "INVALID_ARGUMENT"
    assert error.field_violations and error.field_violations[0][0] == "name"
    assert "unified social credit code" in error.field_violations[0][1]


def test_unexpected_error_is_internal_and_hides_details(server: str) -> None:
    stub = enterprise_pb2_grpc.EnterpriseServiceStub(grpc.insecure_channel(server))
    uscc = "92" + make_uscc("330800", 1, 1)[2:17]
    uscc += names.uscc_check_char(uscc)
    with pytest.raises(grpc.RpcError) as caught:
        stub.GetEnterprise(enterprise_pb2.GetEnterpriseRequest(name=f"enterprises/{uscc}"))
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert "secret" not in (caught.value.details() or "")


def test_health_and_reflection_are_served(server: str) -> None:
    channel = grpc.insecure_channel(server)
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "carbon.v1.EnterpriseService"):
        status = health.Check(health_pb2.HealthCheckRequest(service=service)).status
        assert status == health_pb2.HealthCheckResponse.SERVING
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    responses = reflection.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    listed = {s.name for r in responses for s in r.list_services_response.service}
    assert {"carbon.v1.EnterpriseService", "grpc.health.v1.Health"} <= listed


def test_uscc_check_digit() -> None:
    code = make_uscc("330800", 42, 7)
    assert names.is_valid_uscc(code)
    wrong = code[:17] + ("0" if code[17] != "0" else "1")
    assert not names.is_valid_uscc(wrong)
    with pytest.raises(ServiceError) as caught:
        names.parse_enterprise(f"enterprises/{wrong}")
    assert caught.value.field_violations[0][0] == "name"


def test_settings_are_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARBON_GRPC_PORT", "70000")
    with pytest.raises(ValidationError, match="grpc_port"):
        BaseServiceSettings()
    monkeypatch.setenv("CARBON_GRPC_PORT", "1")
    monkeypatch.setenv("CARBON_REDIS_URL", "http://nope")
    with pytest.raises(ValidationError, match="redis_url"):
        BaseServiceSettings()


def test_production_requires_a_service_secret() -> None:
    with pytest.raises(ValueError, match="CARBON_SERVICE_SECRET"):
        BaseServiceSettings(dev_mode=False, service_secret="").effective_service_secret()


def test_invalid_argument_json_shape() -> None:
    body = invalid_argument("quote.amount_cny", "must be positive").to_json()
    assert body["error"]["code"] == 400
    assert body["error"]["details"][1]["fieldViolations"] == [
        {"field": "quote.amount_cny", "description": "must be positive"}
    ]


def test_health_is_not_serving_before_start() -> None:
    settings = BaseServiceSettings(grpc_port=free_port())
    running = Running(Service("test", settings, lambda server: []))
    running.grpc_server.start()  # the port is open, start() has not finished
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{running.grpc_port}")
        status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service="")).status
        assert status == health_pb2.HealthCheckResponse.NOT_SERVING
    finally:
        running.grpc_server.stop(0).wait()


def test_a_starting_service_never_answers_not_serving() -> None:
    """Several processes may share one port (SO_REUSEPORT): one still starting must not fail a health
    probe meant for the service. Its HTTP edge is held in startup here; a probe meanwhile waits (its
    connection sits in the backlog) and, once the edge is up, gets SERVING — never NOT_SERVING."""
    edge_may_start = threading.Event()

    @asynccontextmanager
    async def held(_app: FastAPI) -> AsyncIterator[None]:
        await asyncio.get_running_loop().run_in_executor(None, edge_may_start.wait)
        yield

    settings = BaseServiceSettings(grpc_port=free_port(), http_port=free_port(), shutdown_grace_seconds=0.5)
    running = Running(Service("test", settings, lambda server: [], http_app=FastAPI(lifespan=held)))
    starting = threading.Thread(target=running.start)
    starting.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{running.grpc_port}")
    health = health_pb2_grpc.HealthStub(channel)
    try:
        with pytest.raises(grpc.RpcError) as caught:
            health.Check(health_pb2.HealthCheckRequest(service=""), timeout=1.0)
        assert caught.value.code() in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE)
        edge_may_start.set()
        status = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=30, wait_for_ready=True).status
        assert status == health_pb2.HealthCheckResponse.SERVING
    finally:
        edge_may_start.set()
        starting.join(30)
        running.stop()


def test_group_entries_reads_one_stream_as_bytes(redis_url: str) -> None:
    client = redis_conn.connect(redis_url)
    client.xgroup_create("test:stream", "g", id="0", mkstream=True)
    assert redis_conn.group_entries(client.xreadgroup("g", "c", {"test:stream": ">"}, count=5, block=10)) == []
    first = client.xadd("test:stream", {"k": "v"})
    second = client.xadd("test:stream", {"k": "w"})
    entries = redis_conn.group_entries(client.xreadgroup("g", "c", {"test:stream": ">"}, count=5))
    assert entries == [(first, {b"k": b"v"}), (second, {b"k": b"w"})]
    client.xdel("test:stream", first)  # still pending: read again, it has no fields (empty or None)
    pending = redis_conn.group_entries(client.xreadgroup("g", "c", {"test:stream": "0"}, count=5))
    assert [entry_id for entry_id, _ in pending] == [first, second]
    assert not pending[0][1] and pending[1][1] == {b"k": b"w"}


def test_members_reads_a_sorted_set_range_as_text(redis_url: str) -> None:
    client = redis_conn.connect(redis_url)
    client.zadd("test:zset", {"b": 2, "a": 1})
    assert redis_conn.members(client.zrange("test:zset", 0, -1)) == ["a", "b"]
    assert redis_conn.members(client.zrangebyscore("test:zset", 2, "+inf")) == ["b"]
    with pytest.raises(TypeError, match="scores"):
        redis_conn.members(client.zrange("test:zset", 0, -1, withscores=True))


def test_an_erasure_waits_for_the_services_it_derives_from(redis_url: str) -> None:
    """A service erasing `after` others neither erases nor reports nor acknowledges a request until they
    have reported it; then it does all three."""
    client = redis_conn.connect(redis_url)
    events.ERASURE.ensure_group(client, "rating")
    events.ERASURE.add(client, events.ErasureRequested.create(uscc=make_uscc("330800", 7, 7), request_id="r-1"))
    erased: list[str] = []

    def erase(uscc: str) -> dict[str, int]:
        erased.append(uscc)
        return {"rows_deleted": 1}

    def pending() -> int:
        return int(client.xpending(events.ERASURE.name, "rating")["pending"])

    [(entry_id, fields)] = redis_conn.group_entries(client.xreadgroup("rating", "rating-1", {events.ERASURE.name: ">"}))
    assert handle_erasure(client, "rating", erase, entry_id, fields, after=("accounting",)) is False
    assert erased == [] and not client.hexists("carbon:erasure:r-1", "rating") and pending() == 1
    client.hset("carbon:erasure:r-1", "accounting", "{}")
    assert handle_erasure(client, "rating", erase, entry_id, fields, after=("accounting",)) is True
    assert erased == [make_uscc("330800", 7, 7)] and client.hexists("carbon:erasure:r-1", "rating")
    assert pending() == 0
