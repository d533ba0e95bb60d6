"""The limits module: bounds checked before work, errors that quote only a prefix."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
import time
from collections.abc import Iterator
from decimal import Decimal

import grpc
import pytest
from carbon.v1 import consent_pb2, enterprise_pb2, enterprise_pb2_grpc, ingest_energy_pb2
from carbon_common import limits, names
from carbon_common.errors import from_rpc_error, invalid_argument, quote
from carbon_common.limits import LimitError, LimitSettings
from carbon_common.logging import JsonFormatter
from carbon_common.server import Running, Service
from carbon_common.settings import BaseServiceSettings
from carbon_devkit.ports import free_port
from google.protobuf import timestamp_pb2
from grpc_status import rpc_status

SMALL = LimitSettings(period_min_year=2000, period_max_year=2030, max_repeated_items=10, max_string_chars=100)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("12.5", Decimal("12.5")), ("-3", Decimal(-3)), (".5", Decimal("0.5")), ("1E+3", Decimal(1000)), (" 7 ", 7)],
)
def test_decimals_in_range_parse_exactly(text: str, expected: Decimal) -> None:
    assert limits.parse_decimal(text, "amount") == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("1e999999999", "OUT_OF_RANGE"),
        ("-1E+999999999", "OUT_OF_RANGE"),
        ("1e-999999999", "OUT_OF_RANGE"),
        ("0e999999999", "OUT_OF_RANGE"),
        ("1" * 21, "OUT_OF_RANGE"),
        ("9" * 65, "VALUE_TOO_LONG"),
        ("NaN", "INVALID_ARGUMENT"),
        ("Infinity", "INVALID_ARGUMENT"),
        ("1_000", "INVALID_ARGUMENT"),
        ("", "INVALID_ARGUMENT"),
        (".", "INVALID_ARGUMENT"),
    ],
)
def test_hostile_decimals_are_refused_by_shape_not_arithmetic(text: str, reason: str) -> None:
    started = time.process_time()
    with pytest.raises(LimitError) as caught:
        limits.parse_decimal(text, "rows[3].amount")
    assert caught.value.reason == reason
    assert caught.value.field_violations[0][0] == "rows[3].amount"
    # Cheap: the refusal must not scale with the value's magnitude (1e999999999 used to take seconds).
    assert time.process_time() - started < 0.5


def test_timestamps_outside_1970_2200_and_bad_nanos_are_invalid_argument() -> None:
    ok = timestamp_pb2.Timestamp(seconds=1_700_000_000, nanos=5)
    assert limits.check_timestamp(ok, "t").year == 2023
    for bad, field in [
        (timestamp_pb2.Timestamp(seconds=253_402_300_800), "t"),
        (timestamp_pb2.Timestamp(seconds=-1), "t"),
        (timestamp_pb2.Timestamp(seconds=limits.MAX_TIMESTAMP_SECONDS), "t"),
        (timestamp_pb2.Timestamp(seconds=10, nanos=-1), "t.nanos"),
        (timestamp_pb2.Timestamp(seconds=10, nanos=1_000_000_000), "t.nanos"),
    ]:
        with pytest.raises(LimitError) as caught:
            limits.check_timestamp(bad, "t")
        assert caught.value.field_violations[0][0] == field
    with pytest.raises(LimitError):
        limits.check_epoch_seconds(2**40, "timestamps[0]")


@pytest.mark.parametrize("text", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "1969-12-31T23:59:59Z"])
def test_datetimes_at_the_calendar_edges_are_out_of_range_not_overflow(text: str) -> None:
    with pytest.raises(LimitError) as caught:
        limits.check_datetime(dt.datetime.fromisoformat(text), "dataTime")
    assert caught.value.reason == "OUT_OF_RANGE"
    assert limits.check_datetime(dt.datetime.fromisoformat("2024-01-01T00:00:00+08:00"), "t").year == 2024


def test_periods_within_the_configured_years() -> None:
    assert limits.check_period("2024-02", "period", SMALL) == "2024-02"
    for bad in ["0000", "9999", "1999", "2031-01", "2024-13", "24", "x" * 1_000_000]:
        with pytest.raises(LimitError) as caught:
            limits.check_period(bad, "period", SMALL)
        assert len(caught.value.message) < 200


def test_period_years_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARBON_LIMIT_PERIOD_MAX_YEAR", "2025")
    assert LimitSettings().period_max_year == 2025
    monkeypatch.setenv("CARBON_LIMIT_PERIOD_MIN_YEAR", "2026")
    with pytest.raises(ValueError, match="period_min_year"):
        LimitSettings()


def test_time_zone_is_bounded_before_the_zone_database() -> None:
    assert str(limits.check_time_zone("Asia/Shanghai", "meter.time_zone")) == "Asia/Shanghai"
    for bad in ["A" * 1_048_576, "../../etc/passwd", "Mars/Olympus", ""]:
        with pytest.raises(LimitError) as caught:
            limits.check_time_zone(bad, "meter.time_zone")
        assert caught.value.to_status().ByteSize() < 512


def test_error_text_quotes_only_a_prefix() -> None:
    huge = "enterprises/" + "9" * 1_048_576
    assert len(quote(huge)) < 64
    assert quote("short") == "'short'"
    # Even a handler that forgot to quote cannot put a 1 MiB message on the wire.
    status = invalid_argument("name", f"{huge} is not valid").to_status()
    assert status.ByteSize() < 4096
    assert len(invalid_argument("name", huge).to_json()["error"]["message"]) < 2048


def test_whole_request_messages_are_bounded() -> None:
    limits.check_message(consent_pb2.GetConsentRequest(name="consents/x"), SMALL)
    cases = [
        (consent_pb2.GetConsentRequest(name="x" * 101), "name", "VALUE_TOO_LONG"),
        (ingest_energy_pb2.ReadingBatch(meter="m", timestamps=list(range(11))), "timestamps", "TOO_MANY_ITEMS"),
        (
            ingest_energy_pb2.CreateMeterRequest(meter=ingest_energy_pb2.Meter(energy_type=99)),
            "meter.energy_type",
            "UNKNOWN_ENUM_VALUE",
        ),
        (
            consent_pb2.CheckAccessRequest(data_time=timestamp_pb2.Timestamp(seconds=253_402_300_800)),
            "data_time",
            "OUT_OF_RANGE",
        ),
    ]
    for message, field, reason in cases:
        with pytest.raises(LimitError) as caught:
            limits.check_message(message, SMALL)
        assert (caught.value.field_violations[0][0], caught.value.reason) == (field, reason)


# --- over a real gRPC server --------------------------------------------------


class _Enterprises(enterprise_pb2_grpc.EnterpriseServiceServicer):
    def GetEnterprise(
        self, request: enterprise_pb2.GetEnterpriseRequest, context: grpc.ServicerContext
    ) -> enterprise_pb2.Enterprise:
        uscc = names.parse_enterprise(request.name)
        if uscc.startswith("92"):
            raise ValueError(f"boom while handling {request.name}")
        return enterprise_pb2.Enterprise(name=request.name, uscc=uscc)


@pytest.fixture
def enterprises() -> Iterator[enterprise_pb2_grpc.EnterpriseServiceStub]:
    settings = BaseServiceSettings(grpc_port=free_port())

    def register(server: grpc.Server) -> list[str]:
        enterprise_pb2_grpc.add_EnterpriseServiceServicer_to_server(_Enterprises(), server)
        return ["carbon.v1.EnterpriseService"]

    running = Running(Service("test", settings, register))
    running.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{running.grpc_port}")
    yield enterprise_pb2_grpc.EnterpriseServiceStub(channel)
    channel.close()
    running.stop()


@pytest.mark.parametrize("length", [300, 5000, 1 << 20])
def test_huge_resource_name_is_a_normal_invalid_argument(
    enterprises: enterprise_pb2_grpc.EnterpriseServiceStub, length: int
) -> None:
    name = "enterprises/" + "9" * length
    with pytest.raises(grpc.RpcError) as caught:
        enterprises.GetEnterprise(enterprise_pb2.GetEnterpriseRequest(name=name), timeout=30)
    error = caught.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(error)
    assert status is not None and status.ByteSize() < 1024
    assert sum(len(k) + len(v) for k, v in error.trailing_metadata()) < 2048
    assert from_rpc_error(error).reason == "VALUE_TOO_LONG"


def test_log_lines_never_carry_whole_inputs() -> None:
    huge = "x" * (1 << 20)
    record = logging.makeLogRecord({"msg": "bad input %s", "args": (huge,), "levelname": "WARNING", "field": huge})
    try:
        raise ValueError(huge)
    except ValueError:
        record.exc_info = sys.exc_info()
    line = JsonFormatter("test").format(record)
    assert len(line) < 16_384
    entry = json.loads(line)
    assert entry["message"].startswith("bad input xxx") and "chars)" in entry["message"]
