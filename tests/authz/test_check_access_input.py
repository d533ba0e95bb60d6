"""CheckAccess's data period on both edges: a period, one instant (ingestion's data_time),
or neither (now); malformed periods are INVALID_ARGUMENT naming the field, never INTERNAL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import httpx
import pytest
from carbon.v1 import consent_pb2
from carbon_common.channels import service_channel
from carbon_common.consent_gate import ConsentGate, period_span
from carbon_consent.domain import Scope, State
from carbon_devkit.credentials import SERVICE_SECRET
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from tests.authz.world import BANK, ENTERPRISE, World

pytestmark = [pytest.mark.e2e]

Y2024 = period_span("2024")


def field_of(error: grpc.RpcError) -> str:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            return bad.field_violations[0].field
    return ""


def request(**times: datetime) -> consent_pb2.CheckAccessRequest:
    message = consent_pb2.CheckAccessRequest(
        enterprise=f"enterprises/{ENTERPRISE}", grantee=f"banks/{BANK}", scope=consent_pb2.CONSENT_SCOPE_RATING
    )
    for key, value in times.items():
        target = message.data_time if key == "data_time" else getattr(message.data_period, key)
        target.FromDatetime(value)
    return message


def test_instant_period_and_now(world: World) -> None:
    grant = world.grant(frozenset({Scope.RATING}), *Y2024, State.AUTHORIZED, timedelta(days=30))
    try:
        check = world.consent.consents.CheckAccess
        md = world.bank_metadata(BANK)
        inside, last_instant = Y2024[0] + timedelta(days=40), Y2024[1] - timedelta(microseconds=1)
        assert check(request(data_time=inside), metadata=md).allowed
        assert check(request(data_time=last_instant), metadata=md).allowed
        assert not check(request(data_time=Y2024[1]), metadata=md).allowed  # the end is the first instant after
        assert check(request(start_time=Y2024[0], end_time=Y2024[1]), metadata=md).allowed
        assert check(request(), metadata=md).reason == "CONSENT_DATA_WINDOW"  # now is not in 2024
        base = world.stack.processes["consent"].http_base
        body = {"enterprise": f"enterprises/{ENTERPRISE}", "grantee": f"banks/{BANK}", "scope": "RATING"}
        rest = httpx.post(
            f"{base}/v1/consents:checkAccess",
            headers=world.bank_headers(BANK),
            json={**body, "dataTime": "2024-12-31T23:59:59.999999+08:00"},
        )
        assert rest.status_code == 200 and rest.json()["allowed"] and rest.json()["consent"] == grant.name
        rest = httpx.post(
            f"{base}/v1/consents:checkAccess",
            headers=world.bank_headers(BANK),
            json={**body, "dataPeriod": {"start": "2024-01-01T00:00:00+08:00", "end": "2025-01-01T00:00:00+08:00"}},
        )
        assert rest.status_code == 200 and rest.json()["allowed"]
    finally:
        world.close(grant)


@pytest.mark.parametrize(
    ("times", "field"),
    [
        ({"start_time": Y2024[0]}, "data_period"),
        ({"end_time": Y2024[1]}, "data_period"),
        ({"start_time": Y2024[1], "end_time": Y2024[0]}, "data_period"),
        ({"start_time": Y2024[0], "end_time": Y2024[0]}, "data_period"),
        ({"start_time": Y2024[0], "end_time": Y2024[1], "data_time": Y2024[0]}, "data_period"),
        ({"data_time": datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)}, "data_time"),
    ],
)
def test_malformed_periods_are_invalid_argument(world: World, times: dict[str, datetime], field: str) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        world.consent.consents.CheckAccess(request(**times), metadata=world.bank_metadata(BANK), timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_of(caught.value) == field


@pytest.mark.parametrize(
    "extra",
    [
        {"dataPeriod": {"startTime": "2024-01-01T00:00:00Z"}},
        {"dataPeriod": {"startTime": "2025-01-01T00:00:00Z", "endTime": "2024-01-01T00:00:00Z"}},
        {"dataPeriod": "2024"},
        {"dataPeriod": {"startTime": "2024-01-01T00:00:00Z", "endTime": "not a time"}},
        {"dataTime": "9999-12-31T23:59:59-14:00"},
        {"dataTime": "2024-06-01T00:00:00Z", "dataPeriod": {"start": "2024-01-01T00:00:00Z", "end": "2025-01-01Z"}},
    ],
)
def test_malformed_rest_periods_are_400(world: World, extra: dict[str, object]) -> None:
    body = {"enterprise": f"enterprises/{ENTERPRISE}", "grantee": f"banks/{BANK}", "scope": "RATING", **extra}
    response = httpx.post(
        f"{world.stack.processes['consent'].http_base}/v1/consents:checkAccess",
        headers=world.bank_headers(BANK),
        json=body,
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_the_gate_cache_keeps_periods_and_instants_apart(world: World) -> None:
    """ConsentGate's short cache is keyed by the exact period: two instants of the same day on either
    side of the window's end, and two periods, never share an answer."""
    grant = world.grant(frozenset({Scope.RATING}), *Y2024, State.AUTHORIZED, timedelta(days=30))
    channel = service_channel(world.stack.processes["consent"].target, "loan-pricing", SERVICE_SECRET)
    try:
        gate = ConsentGate(channel, cache_seconds=60.0)
        grantee, scope = f"banks/{BANK}", consent_pb2.CONSENT_SCOPE_RATING
        last = Y2024[1] - timedelta(microseconds=1)
        assert gate.check(ENTERPRISE, grantee, scope, last).allowed
        assert not gate.check(ENTERPRISE, grantee, scope, Y2024[1]).allowed
        assert gate.check(ENTERPRISE, grantee, scope, Y2024).allowed
        assert not gate.check(ENTERPRISE, grantee, scope, (Y2024[0], Y2024[1] + timedelta(days=1))).allowed
        assert gate.require_period(ENTERPRISE, grantee, scope, "2024-06") == grant.name
        assert gate.allows_period(ENTERPRISE, grantee, scope, "2023").reason == "CONSENT_DATA_WINDOW"
    finally:
        channel.close()
        world.close(grant)
