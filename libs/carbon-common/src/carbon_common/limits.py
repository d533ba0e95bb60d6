"""Bounds on everything a client sends, checked before any work is done.

One home for the limits of every edge (gRPC interceptor, servicers, REST
dependencies, upload parsers): lengths of names, ids and free strings, batch
sizes, upload bytes and rows, decimal digits and exponent, the timestamp
range, the period year range, non-negative readings. Every check is a pure
function that either returns the parsed value or raises `LimitError`, a
`ServiceError` mapped to INVALID_ARGUMENT with a BadRequest field violation
and an ErrorInfo — and whose text quotes at most a short prefix of the input.

Settings come from the environment (prefix CARBON_LIMIT_); `current()` reads
them once per process.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import grpc
from google.protobuf import timestamp_pb2
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from carbon_common.errors import ServiceError, quote

__all__ = [
    "MAX_TIMESTAMP_SECONDS",
    "MIN_TIMESTAMP_SECONDS",
    "PERIOD_RE",
    "LimitError",
    "LimitSettings",
    "check_count",
    "check_date",
    "check_datetime",
    "check_epoch_seconds",
    "check_id",
    "check_length",
    "check_message",
    "check_name",
    "check_non_negative",
    "check_period",
    "check_sizes",
    "check_text",
    "check_time_zone",
    "check_timestamp",
    "current",
    "parse_decimal",
    "quote",
]

# Timestamps the platform accepts anywhere: 1970-01-01T00:00:00Z <= t < 2200-01-01T00:00:00Z.
MIN_TIMESTAMP_SECONDS = 0
MAX_TIMESTAMP_SECONDS = 7_258_118_400
MIN_DATETIME = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
MAX_DATETIME = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)
_NANOS_PER_SECOND = 1_000_000_000

PERIOD_RE = re.compile(r"^(\d{4})(?:-(0[1-9]|1[0-2]))?$")
ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
# A plain decimal: sign, digits with an optional point, optional exponent. No
# NaN/Infinity, no underscores, no whitespace inside.
_DECIMAL_RE = re.compile(r"^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$")


class LimitSettings(BaseSettings):
    """Limits of client input; defaults suit the platform, environment overrides them."""

    model_config = SettingsConfigDict(env_prefix="CARBON_LIMIT_", extra="ignore", frozen=True)

    # AIP resource names, e.g. enterprises/{uscc}/meters/{meter}.
    max_name_chars: int = Field(default=256, ge=16, le=4096)
    # Resource ids / request ids (AIP-122 ids are <= 63; request ids may be UUIDs or longer keys).
    max_id_chars: int = Field(default=128, ge=8, le=1024)
    # Any other string field of a request (descriptions, comments, page tokens).
    max_string_chars: int = Field(default=4096, ge=64, le=1_048_576)
    # Bytes fields of a request.
    max_bytes_field: int = Field(default=16 * 1024 * 1024, ge=1024)
    max_time_zone_chars: int = Field(default=64, ge=16, le=256)
    # Items of any repeated field of one request message (packed readings included).
    max_repeated_items: int = Field(default=100_000, ge=1)
    # Nesting depth of request messages (guards recursive structures).
    max_message_depth: int = Field(default=16, ge=2, le=64)
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    max_upload_rows: int = Field(default=100_000, ge=1)
    # Decimal text: total characters, integer digits (magnitude < 10**max_integer_digits)
    # and fraction digits after applying the exponent.
    max_decimal_chars: int = Field(default=64, ge=8, le=256)
    max_integer_digits: int = Field(default=20, ge=1, le=60)
    max_fraction_digits: int = Field(default=18, ge=0, le=60)
    # Accounting periods (YYYY, YYYY-MM) the platform accepts.
    period_min_year: int = Field(default=1990, ge=1970, le=2199)
    period_max_year: int = Field(default=2100, ge=1970, le=2199)

    @model_validator(mode="after")
    def _ordered_years(self) -> LimitSettings:
        if self.period_min_year > self.period_max_year:
            raise ValueError("period_min_year must not exceed period_max_year")
        return self


@lru_cache(maxsize=1)
def current() -> LimitSettings:
    """The process's limits (read from the environment once; tests may cache_clear())."""
    return LimitSettings()


class LimitError(ServiceError):
    """A client value outside the platform's bounds: INVALID_ARGUMENT naming the field."""

    def __init__(self, field_path: str, description: str, reason: str = "INVALID_ARGUMENT", **metadata: str) -> None:
        super().__init__(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"{field_path}: {description}",
            reason=reason,
            metadata={"field": field_path, **metadata},
            field_violations=[(field_path, description)],
        )


# --- strings -----------------------------------------------------------------


def check_length(value: str, field: str, max_chars: int) -> str:
    if len(value) > max_chars:
        raise LimitError(field, f"longer than {max_chars} characters", "VALUE_TOO_LONG", limit=str(max_chars))
    return value


def check_name(value: str, field: str, limits: LimitSettings | None = None) -> str:
    return check_length(value, field, (limits or current()).max_name_chars)


def check_text(value: str, field: str, limits: LimitSettings | None = None) -> str:
    return check_length(value, field, (limits or current()).max_string_chars)


def check_id(value: str, field: str, limits: LimitSettings | None = None) -> str:
    """An AIP-122 resource id: 1-63 of a-z, 0-9, '-', '_', starting alphanumeric."""
    check_length(value, field, (limits or current()).max_id_chars)
    if not ID_RE.match(value):
        raise LimitError(field, "must be 1-63 characters of a-z, 0-9, '-' or '_', starting alphanumeric")
    return value


def check_time_zone(value: str, field: str, limits: LimitSettings | None = None) -> ZoneInfo:
    """An IANA zone name, bounded before the zone database is consulted."""
    check_length(value, field, (limits or current()).max_time_zone_chars)
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise LimitError(field, f"{quote(value)} is not an IANA time zone") from None


def check_count(count: int, field: str, max_items: int) -> int:
    if count > max_items:
        raise LimitError(field, f"more than {max_items} items", "TOO_MANY_ITEMS", limit=str(max_items))
    return count


# --- numbers -----------------------------------------------------------------


def parse_decimal(text: str, field: str, limits: LimitSettings | None = None) -> Decimal:
    """Parse a decimal whose size is bounded before Decimal sees it.

    `1e999999999` is refused from its exponent alone: no arithmetic, no
    formatting, no allocation proportional to the value's magnitude.
    """
    lim = limits or current()
    text = text.strip()
    if len(text) > lim.max_decimal_chars:
        raise LimitError(field, f"longer than {lim.max_decimal_chars} characters", "VALUE_TOO_LONG")
    match = _DECIMAL_RE.match(text)
    if match is None or not (match.group(2) or match.group(3)):
        raise LimitError(field, f"{quote(text)} is not a decimal number")
    integer, fraction = match.group(2) or "", match.group(3) or ""
    exponent_text = match.group(4) or "0"
    # The exponent is at most max_decimal_chars long; a plain int() of it is cheap.
    exponent = int(exponent_text)
    digits = (integer + fraction).lstrip("0")
    if digits:
        # Position of the most significant digit relative to the point.
        leading = len(integer.lstrip("0")) if integer.lstrip("0") else -(len(fraction) - len(fraction.lstrip("0")))
        magnitude = leading + exponent
        if magnitude > lim.max_integer_digits:
            limit = lim.max_integer_digits
            raise LimitError(field, f"more than {limit} integer digits", "OUT_OF_RANGE", limit=str(limit))
        scale = len(fraction.rstrip("0")) - exponent
        if scale > lim.max_fraction_digits:
            limit = lim.max_fraction_digits
            raise LimitError(field, f"more than {limit} fraction digits", "OUT_OF_RANGE", limit=str(limit))
    elif abs(exponent) > lim.max_integer_digits + lim.max_fraction_digits:
        raise LimitError(field, "exponent out of range", "OUT_OF_RANGE")
    return Decimal(text)


def check_non_negative(value: int | Decimal, field: str) -> int | Decimal:
    if value < 0:
        raise LimitError(field, "must not be negative", "OUT_OF_RANGE")
    return value


# --- time --------------------------------------------------------------------


def check_epoch_seconds(seconds: int, field: str) -> int:
    """Unix seconds within 1970-01-01 .. 2200-01-01 (exclusive)."""
    if not MIN_TIMESTAMP_SECONDS <= seconds < MAX_TIMESTAMP_SECONDS:
        raise LimitError(field, "must lie between 1970-01-01 and 2200-01-01", "OUT_OF_RANGE")
    return seconds


def check_timestamp(value: timestamp_pb2.Timestamp, field: str) -> dt.datetime:
    """A google.protobuf.Timestamp in range, as an aware UTC datetime.

    Seconds and nanos are checked before ToDatetime, which raises on values
    outside year 1..9999 and accepts negative nanos.
    """
    if not 0 <= value.nanos < _NANOS_PER_SECOND:
        raise LimitError(f"{field}.nanos", "must lie in 0..999999999", "OUT_OF_RANGE")
    check_epoch_seconds(value.seconds, field)
    when: dt.datetime = value.ToDatetime(tzinfo=dt.UTC)
    return when


def check_datetime(value: dt.datetime, field: str) -> dt.datetime:
    """An aware datetime (naive means UTC) within the timestamp range."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    try:
        inside = MIN_DATETIME <= aware < MAX_DATETIME
    except OverflowError:  # offset arithmetic at year 1 / 9999
        inside = False
    if not inside:
        raise LimitError(field, "must lie between 1970-01-01 and 2200-01-01", "OUT_OF_RANGE")
    return aware


def check_date(value: dt.date, field: str) -> dt.date:
    if not MIN_DATETIME.date() <= value < MAX_DATETIME.date():
        raise LimitError(field, "must lie between 1970-01-01 and 2200-01-01", "OUT_OF_RANGE")
    return value


def check_period(value: str, field: str, limits: LimitSettings | None = None) -> str:
    """An accounting period YYYY or YYYY-MM within the configured year range."""
    lim = limits or current()
    match = PERIOD_RE.match(value) if len(value) <= 7 else None
    if match is None:
        raise LimitError(field, f"{quote(value)} must be YYYY or YYYY-MM")
    if not lim.period_min_year <= int(match.group(1)) <= lim.period_max_year:
        raise LimitError(
            field,
            f"year must lie in {lim.period_min_year}..{lim.period_max_year}",
            "OUT_OF_RANGE",
            min_year=str(lim.period_min_year),
            max_year=str(lim.period_max_year),
        )
    return value


# --- whole messages ----------------------------------------------------------

_TIMESTAMP = timestamp_pb2.Timestamp.DESCRIPTOR.full_name


def check_message(message: Message, limits: LimitSettings | None = None) -> None:
    """Generic bounds on a request message: sizes (see check_sizes), plus every
    enum a known value and every Timestamp in range. Call it after
    authentication; services add field-specific checks on top."""
    _check(message, "", limits or current(), 0, True)


def check_sizes(message: Message, limits: LimitSettings | None = None) -> None:
    """Size bounds only, the same for every field (the server interceptor runs it
    before any handler): strings <= max_string_chars, bytes <= max_bytes_field,
    repeated fields and maps <= max_repeated_items, nesting <= max_message_depth.
    Reveals no field rule, so it may run before authentication."""
    _check(message, "", limits or current(), 0, False)


def _check(message: Message, prefix: str, lim: LimitSettings, depth: int, values: bool) -> None:
    if depth > lim.max_message_depth:
        raise LimitError(prefix.rstrip(".") or "request", "nested too deeply", "TOO_DEEP")
    if values and message.DESCRIPTOR.full_name == _TIMESTAMP:
        check_timestamp(message, prefix.rstrip("."))
        return
    for fd, value in message.ListFields():
        path = f"{prefix}{fd.name}"
        if fd.is_repeated:
            check_count(len(value), path, lim.max_repeated_items)
            if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
                key_fd, value_fd = fd.message_type.fields_by_name["key"], fd.message_type.fields_by_name["value"]
                for key, item in value.items():
                    _check_scalar(key_fd, key, f"{path}.key", lim, values)
                    if value_fd.message_type is not None:
                        _check(item, f"{path}[{quote(str(key), 16)}].", lim, depth + 1, values)
                    else:
                        _check_scalar(value_fd, item, f"{path}.value", lim, values)
            elif fd.message_type is not None:
                for index, item in enumerate(value):
                    _check(item, f"{path}[{index}].", lim, depth + 1, values)
            elif fd.type in _SIZED or (values and fd.type == FieldDescriptor.TYPE_ENUM):
                for index, item in enumerate(value):
                    _check_scalar(fd, item, f"{path}[{index}]", lim, values)
        elif fd.message_type is not None:
            _check(value, f"{path}.", lim, depth + 1, values)
        else:
            _check_scalar(fd, value, path, lim, values)


_SIZED = (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES)


def _check_scalar(fd: FieldDescriptor, value: Any, path: str, lim: LimitSettings, values: bool) -> None:
    if fd.type == FieldDescriptor.TYPE_STRING:
        check_length(value, path, lim.max_string_chars)
    elif fd.type == FieldDescriptor.TYPE_BYTES:
        if len(value) > lim.max_bytes_field:
            raise LimitError(path, f"longer than {lim.max_bytes_field} bytes", "VALUE_TOO_LONG")
    elif values and fd.type == FieldDescriptor.TYPE_ENUM and fd.enum_type.values_by_number.get(value) is None:
        raise LimitError(path, "is not a known enum value", "UNKNOWN_ENUM_VALUE")
