"""Domain objects <-> carbon.v1 protobuf messages (also the REST JSON, via json_format)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from carbon.v1 import consent_pb2, enterprise_pb2
from carbon_common import limits
from carbon_common.errors import clip, invalid_argument
from google.protobuf import json_format, timestamp_pb2
from google.protobuf.message import Message
from pydantic import JsonValue

from carbon_consent import domain
from carbon_consent.core import ConsentRequest
from carbon_consent.domain import Consent, DataPeriod, Purpose, Scope, State
from carbon_consent.store import Bank, Enterprise


def ts(value: datetime) -> timestamp_pb2.Timestamp:
    out = timestamp_pb2.Timestamp()
    out.FromDatetime(value)
    return out


def from_ts(value: timestamp_pb2.Timestamp, field: str) -> datetime:
    """A client Timestamp, range-checked (1970..2200, valid nanos) before conversion."""
    return domain.utc(limits.check_timestamp(value, field))


def data_period(
    start: datetime | None, end: datetime | None, instant: datetime | None, field: str = "data_period"
) -> DataPeriod | None:
    """CheckAccess's data: a period [start, end), one instant, or neither (the instant now)."""
    if instant is not None:
        if start is not None or end is not None:
            raise invalid_argument(field, "set either data_time or data_period, not both")
        try:
            return DataPeriod.instant(instant)
        except OverflowError:
            raise invalid_argument("data_time", "is out of range") from None
    if start is None and end is None:
        return None
    if start is None or end is None:
        raise invalid_argument(field, "needs both start_time and end_time")
    if end <= start:
        raise invalid_argument(field, "end_time must be after start_time")
    return DataPeriod(domain.utc(start), domain.utc(end))


def _instant(message: Any, name: str, field: str) -> datetime | None:
    if not message.HasField(name):
        return None
    return from_ts(getattr(message, name), field)


def check_access_period(request: consent_pb2.CheckAccessRequest) -> DataPeriod | None:
    return data_period(
        _instant(request.data_period, "start_time", "data_period.start_time"),
        _instant(request.data_period, "end_time", "data_period.end_time"),
        _instant(request, "data_time", "data_time"),
    )


def rfc3339(value: str | None, field: str) -> datetime | None:
    """An RFC 3339 timestamp from JSON (None when absent or empty); naive values are UTC."""
    if value is None or value == "":
        return None
    text = value[:64]
    try:
        parsed = domain.utc(datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00")))
    except (ValueError, OverflowError):
        raise invalid_argument(field, "must be an RFC 3339 timestamp like 2024-01-01T00:00:00+08:00") from None
    return limits.check_datetime(parsed, field)


def check_access_period_rest(data_time: str | None, start: str | None, end: str | None) -> DataPeriod | None:
    """REST checkAccess: `dataPeriod: {startTime, endTime}` and/or `dataTime` (RFC 3339 text)."""
    instant = rfc3339(data_time, "dataTime")
    return data_period(
        rfc3339(start, "dataPeriod.startTime"), rfc3339(end, "dataPeriod.endTime"), instant, "dataPeriod"
    )


def consent_to_proto(c: Consent, authorization_uri: str = "") -> consent_pb2.Consent:
    msg = consent_pb2.Consent(
        name=c.name,
        grantee=c.grantee,
        scopes=[int(s) for s in c.scopes],
        purpose=int(c.purpose),
        expire_time=ts(c.expire_time),
        state=int(c.state),
        create_time=ts(c.create_time),
        update_time=ts(c.update_time),
        authorization_uri=authorization_uri,
    )
    msg.data_window.start_time.CopyFrom(ts(c.data_start))
    msg.data_window.end_time.CopyFrom(ts(c.data_end))
    for t in c.history:
        msg.history.add(
            from_state=int(t.from_state) if t.from_state else 0,
            to_state=int(t.to_state),
            actor=t.actor,
            time=ts(t.time),
            reason=t.reason,
        )
    return msg


def consent_request_from_proto(msg: consent_pb2.Consent, reason: str = "") -> ConsentRequest:
    scopes: list[Scope] = []
    for value in msg.scopes:
        if value not in Scope._value2member_map_:
            raise invalid_argument("consent.scopes", f"unknown or unspecified scope {value}")
        scopes.append(Scope(value))
    purpose = Purpose(msg.purpose) if msg.purpose in Purpose._value2member_map_ else None
    window = msg.data_window
    return ConsentRequest(
        grantee=msg.grantee,
        scopes=scopes,
        purpose=purpose,
        data_start=from_ts(window.start_time, "consent.data_window.start_time")
        if window.HasField("start_time")
        else None,
        data_end=from_ts(window.end_time, "consent.data_window.end_time") if window.HasField("end_time") else None,
        expire_time=from_ts(msg.expire_time, "consent.expire_time") if msg.HasField("expire_time") else None,
        reason=reason,
    )


def state_filter(value: int) -> State | None:
    if value == 0:
        return None
    if value not in State._value2member_map_:
        raise invalid_argument("state", f"unknown state {value}")
    return State(value)


def enterprise_to_proto(e: Enterprise) -> enterprise_pb2.Enterprise:
    return enterprise_pb2.Enterprise(
        name=f"enterprises/{e.uscc}",
        uscc=e.uscc,
        display_name=e.display_name,
        industry_code=e.industry_code,
        province_code=e.province_code,
        region_code=e.region_code,
        create_time=ts(e.create_time),
    )


def bank_to_proto(b: Bank) -> consent_pb2.Bank:
    return consent_pb2.Bank(name=b.name, display_name=b.display_name, create_time=ts(b.create_time))


def to_json(message: Message) -> dict[str, JsonValue]:
    """A message as the REST edge's proto JSON (camelCase)."""
    document: dict[str, JsonValue] = json_format.MessageToDict(message, preserving_proto_field_name=False)
    return document


_ENUM_PREFIX = {"scopes": "CONSENT_SCOPE_", "purpose": "CONSENT_PURPOSE_", "state": "STATE_"}


def consent_from_json(body: Mapping[str, JsonValue]) -> consent_pb2.Consent:
    """REST body -> Consent; enum values may be short ("RATING") or full ("CONSENT_SCOPE_RATING")."""
    data = dict(body)
    if isinstance(scopes := data.get("scopes"), list):
        data["scopes"] = [_full("scopes", v) for v in scopes]
    if isinstance(purpose := data.get("purpose"), str):
        data["purpose"] = _full("purpose", purpose)
    for window_key in ("data_window", "dataWindow"):
        if isinstance(given := data.get(window_key), dict):
            window = dict(given)
            for short, full in (("start", "startTime"), ("end", "endTime")):
                if short in window:
                    window[full] = window.pop(short)
            data[window_key] = window
    message = consent_pb2.Consent()
    try:
        json_format.ParseDict(data, message, ignore_unknown_fields=False)
    except json_format.ParseError as error:
        # The parser's message may quote the offending value: keep only its start.
        raise invalid_argument("consent", clip(str(error), 160)) from None
    return message


def _full(kind: str, value: JsonValue) -> JsonValue:
    if isinstance(value, str) and not value.startswith(_ENUM_PREFIX[kind]):
        return _ENUM_PREFIX[kind] + value.upper()
    return value
