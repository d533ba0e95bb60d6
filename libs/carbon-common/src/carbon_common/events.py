"""Event contracts: every Redis stream `carbon:events:*` and the messages on it, defined once.

Producers build a message model and `Stream.add` / `Stream.encode` it; consumers `Stream.decode` the
field map they read. A message is a frozen pydantic model with a `version`; on the wire it is a flat
map of text fields:
  - strings as they are, numbers and Decimals as their text, booleans "true"/"false", times ISO 8601,
    lists and objects as canonical JSON (a comma-joined list where a field says so: activity months,
    as the producers wrote them before these contracts), absent optional fields left out;
  - "version": the schema version the producer wrote (messages from before these contracts have none
    and read as version 1); a consumer refuses versions newer than it knows;
  - "type": which message it is, on streams that carry several (the consent stream).
Unknown extra fields are ignored, so adding an optional field is not a new version; removing or
changing the meaning of one is.

`STREAMS` lists every stream; tests/foundation/test_events.py fails when code uses a stream name, XADD
or stream read that does not go through this module, or when a message does not round-trip.
"""

from __future__ import annotations

import functools
import json
import time as _time
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Generic, Self, TypeVar

import redis
from carbon.v1 import accounting_pb2, common_pb2
from google.type import decimal_pb2
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    PlainSerializer,
    ValidationError,
    model_validator,
)

from carbon_common.hashchain import canonical_json


class EventDecodeError(ValueError):
    """A stream entry that is not a valid message of its stream (malformed, or a newer version)."""


def _split_commas(value: Any) -> Any:
    if isinstance(value, str) and not value.startswith("["):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if isinstance(value, str):
        return json.loads(value)
    return value


# A list of plain tokens carried comma-joined on the wire (the activity stream's months, as before).
CommaList = Annotated[
    tuple[str, ...],
    BeforeValidator(_split_commas),
    PlainSerializer(lambda items: ",".join(items), return_type=str),
]
# Exact numbers travel as text (never binary floats).
DecimalText = Annotated[Decimal, PlainSerializer(lambda d: str(d), return_type=str)]


class Event(BaseModel):
    """Base of every stream message."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    VERSION: ClassVar[int] = 1
    TYPE: ClassVar[str] = ""  # on streams with several message types, the "type" field's value

    version: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _known_version(self) -> Self:
        if self.version > self.VERSION:
            raise ValueError(f"version {self.version} is newer than this consumer knows ({self.VERSION})")
        return self

    @classmethod
    def create(cls, **values: Any) -> Self:
        """A message of the current version."""
        return cls(version=cls.VERSION, **values)

    def fields(self) -> dict[str, str]:
        """The message as a stream field map."""
        out: dict[str, str] = {}
        for name, value in self.model_dump(mode="json", exclude_none=True).items():
            if isinstance(value, str):
                out[name] = value
            elif isinstance(value, bool):
                out[name] = "true" if value else "false"
            elif isinstance(value, int | float):
                out[name] = str(value)
            else:
                out[name] = canonical_json(value).decode()
        return out

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> Self:
        values: dict[str, JsonValue] = {}  # the stream fields, structured ones parsed
        structured = _structured_fields(cls)
        for name, text in fields.items():
            if name in structured and text[:1] in ("[", "{"):
                try:
                    values[name] = json.loads(text)
                except ValueError:
                    raise EventDecodeError(f"{cls.__name__}.{name}: not JSON") from None
            else:
                values[name] = text
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            problems = "; ".join(
                ".".join(map(str, e["loc"])) + (": " if e["loc"] else "") + e["msg"] for e in error.errors()[:5]
            )
            raise EventDecodeError(f"{cls.__name__}: {problems}") from None


@functools.cache  # per message class; decoding is on every consumer's hot path
def _structured_fields(cls: type[Event]) -> frozenset[str]:
    """Fields carried as JSON on the wire: lists, tuples, dicts (not comma lists)."""
    names = set()
    for name, info in cls.model_fields.items():
        if any(isinstance(m, BeforeValidator) and m.func is _split_commas for m in info.metadata):
            continue
        annotation = info.annotation
        for candidate in (annotation, *typing.get_args(annotation)):
            if typing.get_origin(candidate) in (list, tuple, dict) or candidate in (list, tuple, dict):
                names.add(name)
    return frozenset(names)


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value


E = TypeVar("E", bound=Event)


@dataclass(frozen=True)
class Stream(Generic[E]):
    """A Redis stream and the message types it carries."""

    name: str
    messages: tuple[type[E], ...]
    maxlen: int | None = None  # approximate MAXLEN trim on every add; None = never trimmed
    description: str = ""

    def __post_init__(self) -> None:
        if len(self.messages) > 1 and any(not m.TYPE for m in self.messages):
            raise ValueError(f"{self.name}: every message type on a shared stream needs a TYPE")

    def encode(self, event: E) -> dict[str, str]:
        if type(event) not in self.messages:
            raise TypeError(f"{type(event).__name__} is not a message of {self.name}")
        fields = event.fields()
        if len(self.messages) > 1:
            fields["type"] = event.TYPE
        return fields

    def decode(self, fields: Mapping[bytes, bytes] | Mapping[str, str]) -> E:
        """The message of a stream entry; raises EventDecodeError when it is not one."""
        text = {_text(k): _text(v) for k, v in fields.items()}
        if len(self.messages) == 1:
            return self.messages[0].from_fields(text)
        kind = text.pop("type", "")
        for message in self.messages:
            if kind == message.TYPE:
                return message.from_fields(text)
        raise EventDecodeError(f"{self.name}: unknown message type {kind[:40]!r}")

    def ensure_group(self, client: redis.Redis, group: str) -> None:
        """Create consumer `group` (reading from the stream's start; the stream too if absent) unless it exists."""
        try:
            client.xgroup_create(self.name, group, id="0", mkstream=True)
        except redis.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    def add(self, client: Any, event: E) -> Any:
        """XADD the event (on a client or inside a pipeline/transaction)."""
        if self.maxlen is None:
            return client.xadd(self.name, self.encode(event))
        return client.xadd(self.name, self.encode(event), maxlen=self.maxlen, approximate=True)


def now_ms() -> int:
    return int(_time.time() * 1000)


# ---------------------------------------------------------------- activity (ingestion -> accounting)


class ActivityRecorded(Event):
    """An ingestion batch stored raw activity data of an enterprise for these months."""

    uscc: str = Field(min_length=1, max_length=64)
    source: str = Field(min_length=1, max_length=64)  # "invoices", "readings", ...
    months: CommaList  # "YYYY-MM", sorted, unique
    batch: str = Field(default="", max_length=512)
    time: int = 0  # producer's clock, ms since epoch

    @classmethod
    def now(cls, uscc: str, source: str, months: list[str] | tuple[str, ...], batch: str) -> ActivityRecorded:
        return cls.create(uscc=uscc, source=source, months=tuple(sorted(set(months))), batch=batch, time=now_ms())


ACTIVITY: Stream[ActivityRecorded] = Stream(
    "carbon:events:activity",
    (ActivityRecorded,),
    maxlen=1_000_000,
    description="ingest-tax, ingest-energy -> accounting (consumer group accounting)",
)


# ---------------------------------------------------------------- erasure (consent -> ingestion, accounting, rating)


class ErasureRequested(Event):
    """Erase every stored datum of an enterprise; each consumer reports to carbon:erasure:{request_id}."""

    uscc: str = Field(min_length=1, max_length=64)
    request_id: str = Field(min_length=1, max_length=128)


ERASURE: Stream[ErasureRequested] = Stream(
    "carbon:events:erasure",
    (ErasureRequested,),
    maxlen=None,  # an erasure must never be trimmed away before every service has done it
    description="consent -> ingest-tax, ingest-energy, accounting, rating (one consumer group per service)",
)


# ---------------------------------------------------------------- accounts (accounting -> rating)


class AccountStored(Event):
    """Accounting stored (or replaced) an account, announced in the transaction that stored it, with
    the figures its consumers read (event-carried state: rating's population row, pricing's book
    facts), so they need no GetAccount per change. The figures are the stored account's own (exact
    decimal text; absent where the account leaves the field unset); `compute_time` present says they
    are carried — messages of earlier producers name the account only (fetch it with GetAccount).
    Accounting stays the authority: `input_digest` is the stored account's, ComputeAccount
    recomputes it. `AccountStored.of` is the one mapping from an Account to its message."""

    uscc: str = Field(min_length=1, max_length=64)
    period: str = Field(min_length=1, max_length=16)
    input_digest: str = Field(default="", max_length=128)
    compute_time: datetime | None = None
    industry_code: str = Field(default="", max_length=64)
    province_code: str = Field(default="", max_length=16)
    region_code: str = Field(default="", max_length=16)
    factor_set_version: str = Field(default="", max_length=128)
    total_tco2: DecimalText | None = None
    energy_tce: DecimalText | None = None
    revenue_cny: DecimalText | None = None
    value_added_cny: DecimalText | None = None
    tax_cny: DecimalText | None = None
    intensity_revenue: DecimalText | None = None
    intensity_value_added: DecimalText | None = None
    intensity_tax: DecimalText | None = None
    # share of green electricity in the energy structure (tce basis); absent without an energy structure
    green_electricity_share: DecimalText | None = None
    quality_score: DecimalText | None = None
    reduction_rate: DecimalText | None = None
    reduction_tco2: DecimalText | None = None

    @property
    def account(self) -> str:
        return f"enterprises/{self.uscc}/accounts/{self.period}"

    @property
    def carries_figures(self) -> bool:
        return self.compute_time is not None

    @classmethod
    def of(cls, account: accounting_pb2.Account) -> AccountStored:
        """The announcement of a stored account (its name enterprises/{uscc}/accounts/{period})."""

        def exact(message: decimal_pb2.Decimal, present: bool = True) -> Decimal | None:
            return Decimal(message.value) if present and message.value else None

        green = None
        if account.energy_structure:
            green = sum(
                (
                    Decimal(share.share.value or "0")
                    for share in account.energy_structure
                    if share.energy_type == common_pb2.ENERGY_TYPE_GREEN_ELECTRICITY
                ),
                Decimal(0),
            )
        parts = account.name.split("/")
        if len(parts) != 4 or parts[0] != "enterprises" or parts[2] != "accounts":
            raise ValueError("an account is named enterprises/{uscc}/accounts/{period}")
        return cls.create(
            uscc=parts[1],
            period=account.period or parts[3],
            input_digest=account.input_digest,
            compute_time=account.compute_time.ToDatetime(tzinfo=UTC),
            industry_code=account.industry_code,
            province_code=account.province_code,
            region_code=account.region_code,
            factor_set_version=account.factor_set_version,
            total_tco2=exact(account.total_tco2, account.HasField("total_tco2")),
            energy_tce=exact(account.energy_tce, account.HasField("energy_tce")),
            revenue_cny=exact(account.revenue_cny, account.HasField("revenue_cny")),
            value_added_cny=exact(account.value_added_cny, account.HasField("value_added_cny")),
            tax_cny=exact(account.tax_cny, account.HasField("tax_cny")),
            intensity_revenue=exact(account.intensity_revenue, account.HasField("intensity_revenue")),
            intensity_value_added=exact(account.intensity_value_added, account.HasField("intensity_value_added")),
            intensity_tax=exact(account.intensity_tax, account.HasField("intensity_tax")),
            green_electricity_share=green,
            quality_score=exact(account.quality.score, account.HasField("quality")),
            reduction_rate=exact(account.reduction_rate, account.HasField("reduction_rate")),
            reduction_tco2=exact(account.reduction_tco2, account.HasField("reduction_tco2")),
        )


ACCOUNTS: Stream[AccountStored] = Stream(
    "carbon:events:accounts",
    (AccountStored,),
    maxlen=1_000_000,
    description="accounting -> rating population (consumer group rating)",
)


# ---------------------------------------------------------------- consent changes (consent -> pricing projections)
# Schemas for the event-carried quote path (issue 14); consent publishes them in the transaction of the change.


class BankChanged(Event):
    TYPE: ClassVar[str] = "bank"

    bank: str  # banks/{id}
    change: str  # CREATED, UPDATED, DELETED
    display_name: str = ""
    time: datetime


class ApiKeyChanged(Event):
    """A bank's API key was added or revoked; only its SHA-256 ever leaves consent."""

    TYPE: ClassVar[str] = "api_key"

    bank: str
    key_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    change: str  # ADDED, REVOKED
    time: datetime


class ConsentChanged(Event):
    """A consent was created or changed state: everything the access decision reads."""

    TYPE: ClassVar[str] = "consent"

    consent: str  # enterprises/{uscc}/consents/{id}
    enterprise: str  # enterprises/{uscc}
    grantee: str  # banks/{id} or services/{name}
    scopes: tuple[str, ...]  # carbon.v1.ConsentScope names
    purpose: str
    state: str  # carbon.v1.Consent.State name after the change
    from_state: str | None = None
    data_start: datetime
    data_end: datetime
    expire_time: datetime
    create_time: datetime
    transition_time: datetime
    actor: str = ""
    reason: str = ""
    audit_seq: int | None = None  # the consent audit entry that recorded the change


class ConsentHeartbeat(Event):
    """Consent is alive and has published every change before `time` (projections fail closed without it)."""

    TYPE: ClassVar[str] = "heartbeat"

    time: datetime
    instance: str = ""


CONSENT: Stream[Event] = Stream(
    "carbon:events:consent",
    (BankChanged, ApiKeyChanged, ConsentChanged, ConsentHeartbeat),
    maxlen=1_000_000,
    description="consent -> pricing projections (read from a snapshot position, no consumer group)",
)


# ---------------------------------------------------------------- ratings (rating -> pricing projections)


class RatingChanged(Event):
    """A new or changed rating, with everything a pricing policy reads."""

    rating: str  # enterprises/{uscc}/ratings/{scheme}
    enterprise: str
    grade: str
    score: DecimalText | None = None
    scheme: str
    scheme_version: str
    account: str  # enterprises/{uscc}/accounts/{period}
    account_period: str
    input_digest: str
    factor_set_version: str = ""
    quality_score: DecimalText | None = None
    reduction_tco2: DecimalText | None = None
    rate_time: datetime
    account_digest: str = ""  # input digest of the account rated


RATINGS: Stream[RatingChanged] = Stream(
    "carbon:events:ratings",
    (RatingChanged,),
    maxlen=1_000_000,
    description="rating -> pricing projections",
)
# The latest RatingChanged of every rating (HASH rating name -> canonical JSON of the message's field
# map), written with each message: a projection's snapshot, whatever the stream has trimmed.
RATINGS_LATEST_KEY = "carbon:rating:published"


def publish_rating(pipe: Any, message: RatingChanged) -> None:
    """In the caller's transaction: the message on the stream and as its rating's latest (both are read
    by a projection: snapshot from the hash, then the stream's tail)."""
    RATINGS.add(pipe, message)
    pipe.hset(RATINGS_LATEST_KEY, message.rating, canonical_json(RATINGS.encode(message)))


# ---------------------------------------------------------------- access audit (pricing -> consent audit)


class AccessDecided(Event):
    """An access decision a service (pricing, ingestion) took from its consent projection; consent appends
    it to its audit chain (idempotently, by decision_id)."""

    decision_id: str = Field(min_length=1, max_length=128)
    bank: str
    enterprise: str
    scope: str
    data_start: datetime | None = None
    data_end: datetime | None = None
    consent: str = ""  # the consent that allowed it ("" when denied)
    allowed: bool
    reason: str
    quote: str = ""
    consent_position: str = ""  # stream id of the last consent event the projection had applied
    rating_position: str = ""
    time: datetime
    # W3C traceparent of the request that decided (telemetry.current_traceparent): consent's audit span
    # continues the quote's trace.
    traceparent: str | None = Field(default=None, max_length=128)
    # The deciding service (its audit entry's caller). Optional, so that version 1 stays readable:
    # before ingestion decided from its own projection, only loan-pricing wrote this stream.
    caller: str = Field(default="loan-pricing", min_length=1, max_length=64)


ACCESS: Stream[AccessDecided] = Stream(
    "carbon:events:access",
    (AccessDecided,),
    maxlen=None,  # consumed into the audit chain: never trimmed unread
    description="pricing, ingestion -> consent audit (consumer group consent)",
)


STREAMS: dict[str, Stream[Any]] = {s.name: s for s in (ACTIVITY, ERASURE, ACCOUNTS, CONSENT, RATINGS, ACCESS)}
