"""Consent domain as pure functions: no I/O, the clock is a parameter.

State machine (terminal states never change):

    REQUESTED  --authorize--> AUTHORIZED
    REQUESTED  --reject-----> REJECTED
    REQUESTED  --expire-----> EXPIRED      (a request nobody answered in time)
    AUTHORIZED --revoke-----> REVOKED      (by the enterprise)
    AUTHORIZED --terminate--> TERMINATED   (by the grantee)
    AUTHORIZED --expire-----> EXPIRED      (validity window over)

Expiry is a fact of the clock: `effective_state` reports EXPIRED as soon as
`now >= expire_time`, whatever the stored state says, and `decide` (the
CheckAccess decision) only ever looks at effective states.

Time spans (a consent's data window, the period of the data being read) are
half-open intervals [start, end) of instants on the microsecond grid, as
`google.type.Interval` defines them: `end` is the first instant *after* the
span. So the days 2024-01-01 .. 2024-12-31 (both inclusive, China time) are
[2024-01-01T00:00+08:00, 2025-01-01T00:00+08:00), and a window covers a
period when window.start <= period.start and period.end <= window.end —
inclusive at both boundaries: a period exactly equal to the window is covered,
one microsecond (let alone one day) more at either end is not. One instant t
is the period [t, t + 1 µs), so "t in the window" is start <= t < end.

`decide` is pure and free of I/O so that every enforcement point (the consent
service, and projections of its state in other services) runs the very same rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import IntEnum, StrEnum

PLATFORM = "platform"
SYSTEM = "system"


class State(IntEnum):  # values mirror carbon.v1.Consent.State
    REQUESTED = 1
    AUTHORIZED = 2
    REJECTED = 3
    REVOKED = 4
    TERMINATED = 5
    EXPIRED = 6


class Scope(IntEnum):  # values mirror carbon.v1.ConsentScope
    TAX_INVOICES = 1
    ENERGY_METERING = 2
    CARBON_ACCOUNT = 3
    RATING = 4
    REPORT = 5


class Purpose(IntEnum):  # values mirror carbon.v1.ConsentPurpose
    CARBON_ACCOUNTING = 1
    CREDIT_ASSESSMENT = 2


class Action(StrEnum):
    AUTHORIZE = "authorize"
    REJECT = "reject"
    REVOKE = "revoke"
    TERMINATE = "terminate"
    EXPIRE = "expire"


COLLECTION_SCOPES = frozenset({Scope.TAX_INVOICES, Scope.ENERGY_METERING})
ACCESS_SCOPES = frozenset({Scope.CARBON_ACCOUNT, Scope.RATING, Scope.REPORT})
TERMINAL = frozenset({State.REJECTED, State.REVOKED, State.TERMINATED, State.EXPIRED})
LIVE = frozenset({State.REQUESTED, State.AUTHORIZED})

TRANSITIONS: Mapping[tuple[State, Action], State] = {
    (State.REQUESTED, Action.AUTHORIZE): State.AUTHORIZED,
    (State.REQUESTED, Action.REJECT): State.REJECTED,
    (State.REQUESTED, Action.EXPIRE): State.EXPIRED,
    (State.AUTHORIZED, Action.REVOKE): State.REVOKED,
    (State.AUTHORIZED, Action.TERMINATE): State.TERMINATED,
    (State.AUTHORIZED, Action.EXPIRE): State.EXPIRED,
}

# Denial reasons (ErrorInfo reasons, UPPER_SNAKE_CASE).
CONSENT_REQUIRED = "CONSENT_REQUIRED"
CONSENT_REVOKED = "CONSENT_REVOKED"
CONSENT_EXPIRED = "CONSENT_EXPIRED"
CONSENT_REJECTED = "CONSENT_REJECTED"
CONSENT_SCOPE = "CONSENT_SCOPE"
CONSENT_DATA_WINDOW = "CONSENT_DATA_WINDOW"
CONSENT_STATE = "CONSENT_STATE"  # an action that the current state does not allow

DEFAULT_MAX_VALIDITY_DAYS: Mapping[str, int] = {
    "TAX_INVOICES": 1095,
    "ENERGY_METERING": 1095,
    "CARBON_ACCOUNT": 365,
    "RATING": 365,
    "REPORT": 365,
}
DEFAULT_MAX_DATA_WINDOW_DAYS: Mapping[str, int] = {
    "TAX_INVOICES": 3 * 366 + 1095,
    "ENERGY_METERING": 3 * 366 + 1095,
    "CARBON_ACCOUNT": 5 * 366 + 365,
    "RATING": 5 * 366 + 365,
    "REPORT": 5 * 366 + 365,
}


def utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


@dataclass(frozen=True)
class Limits:
    """Per-scope bounds: how long a consent may stay valid, how much data it may cover."""

    max_validity: Mapping[Scope, timedelta]
    max_data_window: Mapping[Scope, timedelta]

    @classmethod
    def from_days(cls, validity: Mapping[str, int], data_window: Mapping[str, int]) -> Limits:
        return cls(
            max_validity={Scope[k]: timedelta(days=v) for k, v in validity.items()},
            max_data_window={Scope[k]: timedelta(days=v) for k, v in data_window.items()},
        )

    @classmethod
    def default(cls) -> Limits:
        return cls.from_days(DEFAULT_MAX_VALIDITY_DAYS, DEFAULT_MAX_DATA_WINDOW_DAYS)

    def validity_for(self, scopes: Iterable[Scope]) -> timedelta:
        return min(self.max_validity.get(s, timedelta(days=365)) for s in scopes)

    def data_window_for(self, scopes: Iterable[Scope]) -> timedelta:
        return min(self.max_data_window.get(s, timedelta(days=366)) for s in scopes)


@dataclass(frozen=True)
class Transition:
    from_state: State | None  # None for the creation entry
    to_state: State
    actor: str
    time: datetime
    reason: str = ""


@dataclass(frozen=True)
class Consent:
    id: str
    enterprise: str  # USCC of the grantor
    grantee: str  # "platform" or "banks/{bank_id}"
    scopes: tuple[Scope, ...]
    purpose: Purpose
    data_start: datetime
    data_end: datetime
    expire_time: datetime
    state: State
    create_time: datetime
    update_time: datetime
    history: tuple[Transition, ...] = field(default_factory=tuple)

    @property
    def name(self) -> str:
        return f"enterprises/{self.enterprise}/consents/{self.id}"

    @property
    def requester(self) -> str:
        return self.history[0].actor if self.history else ""


RESOLUTION = timedelta(microseconds=1)  # datetime's grid: the length of a one-instant period


@dataclass(frozen=True)
class DataPeriod:
    """The span of data being read: instants start <= t < end (UTC-aware, end > start)."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("a data period needs time-zone-aware instants")
        if self.end <= self.start:
            raise ValueError("a data period must end after it starts")

    @classmethod
    def instant(cls, moment: datetime) -> DataPeriod:
        """The one instant `moment` (what ingestion passes as data_time)."""
        moment = utc(moment)
        return cls(moment, moment + RESOLUTION)

    def describe(self) -> str:
        if self.end - self.start == RESOLUTION:
            return self.start.isoformat()
        return f"[{self.start.isoformat()}, {self.end.isoformat()})"


def window_covers(consent: Consent, period: DataPeriod) -> bool:
    """The whole period lies inside the consent's data window (both boundaries inclusive)."""
    return consent.data_start <= period.start and period.end <= consent.data_end


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""
    consent: str = ""
    message: str = ""


class DomainError(Exception):
    """A request the domain refuses: `kind` is "invalid" (bad input) or "state" (not now)."""

    def __init__(self, kind: str, reason: str, message: str, violations: list[tuple[str, str]] | None = None):
        super().__init__(message)
        self.kind = kind
        self.reason = reason
        self.message = message
        self.violations = violations or []


# ---------------------------------------------------------------- creation


def validate_request(
    *,
    grantee: str,
    scopes: Iterable[Scope],
    purpose: Purpose | None,
    data_start: datetime | None,
    data_end: datetime | None,
    expire_time: datetime | None,
    now: datetime,
    limits: Limits,
) -> list[tuple[str, str]]:
    """Field violations of a consent request (empty when acceptable)."""
    violations: list[tuple[str, str]] = []
    scope_list = list(scopes)
    is_platform = grantee == PLATFORM
    is_bank = grantee.startswith("banks/") and len(grantee) > len("banks/") and grantee.count("/") == 1
    if not (is_platform or is_bank):
        violations.append(("consent.grantee", 'must be "platform" or "banks/{bank_id}"'))
    if not scope_list:
        violations.append(("consent.scopes", "at least one scope is required"))
    elif len(set(scope_list)) != len(scope_list):
        violations.append(("consent.scopes", "scopes must not repeat"))
    elif is_platform and not set(scope_list) <= COLLECTION_SCOPES:
        violations.append(("consent.scopes", "the platform may only be granted TAX_INVOICES and ENERGY_METERING"))
    elif is_bank and not set(scope_list) <= ACCESS_SCOPES:
        violations.append(("consent.scopes", "a bank may only be granted CARBON_ACCOUNT, RATING and REPORT"))
    if purpose is None:
        violations.append(("consent.purpose", "is required"))
    elif is_platform and purpose != Purpose.CARBON_ACCOUNTING:
        violations.append(("consent.purpose", "collection consents have purpose CARBON_ACCOUNTING"))
    elif is_bank and purpose != Purpose.CREDIT_ASSESSMENT:
        violations.append(("consent.purpose", "bank access consents have purpose CREDIT_ASSESSMENT"))
    if data_start is None or data_end is None:
        violations.append(("consent.data_window", "start_time and end_time are required"))
    elif data_end <= data_start:
        violations.append(("consent.data_window", "end_time must be after start_time"))
    elif scope_list and data_end - data_start > limits.data_window_for(scope_list):
        days = limits.data_window_for(scope_list).days
        violations.append(("consent.data_window", f"may span at most {days} days for these scopes"))
    if expire_time is None:
        violations.append(("consent.expire_time", "is required"))
    elif expire_time <= now:
        violations.append(("consent.expire_time", "must be in the future"))
    elif scope_list and expire_time - now > limits.validity_for(scope_list):
        days = limits.validity_for(scope_list).days
        violations.append(("consent.expire_time", f"may be at most {days} days ahead for these scopes"))
    return violations


def new_consent(
    *,
    id: str,
    enterprise: str,
    grantee: str,
    scopes: Iterable[Scope],
    purpose: Purpose | None,
    data_start: datetime | None,
    data_end: datetime | None,
    expire_time: datetime | None,
    actor: str,
    now: datetime,
    limits: Limits,
    reason: str = "",
) -> Consent:
    scope_list = list(scopes)
    violations = validate_request(
        grantee=grantee,
        scopes=scope_list,
        purpose=purpose,
        data_start=data_start,
        data_end=data_end,
        expire_time=expire_time,
        now=now,
        limits=limits,
    )
    if violations:
        raise DomainError("invalid", "INVALID_ARGUMENT", "invalid consent request", violations)
    assert purpose is not None and data_start and data_end and expire_time
    return Consent(
        id=id,
        enterprise=enterprise,
        grantee=grantee,
        scopes=tuple(sorted(scope_list)),
        purpose=purpose,
        data_start=data_start,
        data_end=data_end,
        expire_time=expire_time,
        state=State.REQUESTED,
        create_time=now,
        update_time=now,
        history=(Transition(None, State.REQUESTED, actor, now, reason or "requested"),),
    )


# ---------------------------------------------------------------- transitions


def is_expired(consent: Consent, now: datetime) -> bool:
    return now >= consent.expire_time


def effective_state(consent: Consent, now: datetime) -> State:
    """The state at `now`: a live consent past its expiry is EXPIRED even if not yet stored so."""
    if consent.state in LIVE and is_expired(consent, now):
        return State.EXPIRED
    return consent.state


def materialize_expiry(consent: Consent, now: datetime) -> Consent | None:
    """The EXPIRED version of a live consent whose validity ended, else None.

    The transition is stamped with the expiry instant (when it took effect).
    """
    if consent.state in LIVE and is_expired(consent, now):
        return _move(consent, State.EXPIRED, SYSTEM, consent.expire_time, "validity window ended")
    return None


def apply(consent: Consent, action: Action, actor: str, now: datetime, reason: str = "") -> Consent:
    """The consent after `action` at `now`, or DomainError("state", ...) if not allowed.

    A consent that has expired by `now` is treated as EXPIRED first, so nobody
    can authorise, revoke or terminate it any more.
    """
    current = materialize_expiry(consent, now) or consent
    if action == Action.EXPIRE:
        if current.state == State.EXPIRED:
            return current
        raise DomainError("state", CONSENT_STATE, f"{consent.name} has not reached its expire_time")
    target = TRANSITIONS.get((current.state, action))
    if target is None:
        reason_code = {
            State.EXPIRED: CONSENT_EXPIRED,
            State.REVOKED: CONSENT_REVOKED,
            State.REJECTED: CONSENT_REJECTED,
        }.get(current.state, CONSENT_STATE)
        raise DomainError(
            "state",
            reason_code,
            f"cannot {action.value} {consent.name}: it is {current.state.name}",
        )
    return _move(current, target, actor, now, reason or action.value)


def _move(consent: Consent, target: State, actor: str, when: datetime, reason: str) -> Consent:
    transition = Transition(consent.state, target, actor, when, reason)
    return replace(consent, state=target, update_time=when, history=(*consent.history, transition))


# ---------------------------------------------------------------- decision


def _last_change(consent: Consent, now: datetime) -> datetime:
    if effective_state(consent, now) == State.EXPIRED and consent.state != State.EXPIRED:
        return consent.expire_time
    return consent.update_time


def decide(
    consents: Iterable[Consent],
    *,
    enterprise: str,
    grantee: str,
    scope: Scope,
    period: DataPeriod | None,
    now: datetime,
) -> Decision:
    """May `grantee` read `scope` data of `enterprise` covering `period` (None: the instant `now`), at `now`?

    Allowed only by a consent that, at `now`, is AUTHORIZED, not expired,
    covers `scope` and whose data window contains the whole `period`; the
    decision names that consent. Otherwise the reason explains the most
    relevant consent (the most recently changed one).
    """
    wanted = period if period is not None else DataPeriod.instant(now)
    mine = [c for c in consents if c.enterprise == enterprise and c.grantee == grantee]
    if not mine:
        return Decision(False, CONSENT_REQUIRED, "", f"{grantee} has no consent from enterprises/{enterprise}")
    in_scope = [c for c in mine if scope in c.scopes]
    if not in_scope:
        return Decision(False, CONSENT_SCOPE, "", f"no consent of {grantee} covers {scope.name}")
    active = [c for c in in_scope if effective_state(c, now) == State.AUTHORIZED]
    granting = [c for c in active if window_covers(c, wanted)]
    if granting:
        best = max(granting, key=lambda c: (c.expire_time, c.id))
        return Decision(True, "", best.name, "")
    if active:
        best = max(active, key=lambda c: (c.expire_time, c.id))
        return Decision(
            False,
            CONSENT_DATA_WINDOW,
            best.name,
            f"data {wanted.describe()} is not inside the data window "
            f"[{best.data_start.isoformat()}, {best.data_end.isoformat()}) of {best.name}",
        )
    latest = max(in_scope, key=lambda c: (_last_change(c, now), c.id))
    state = effective_state(latest, now)
    reason, text = {
        State.REVOKED: (CONSENT_REVOKED, "was revoked by the enterprise"),
        State.EXPIRED: (CONSENT_EXPIRED, "has expired"),
        State.REJECTED: (CONSENT_REJECTED, "was rejected by the enterprise"),
        State.TERMINATED: (CONSENT_REQUIRED, "was terminated by the grantee; a new consent is required"),
        State.REQUESTED: (CONSENT_REQUIRED, "awaits the enterprise's authorisation"),
    }[state]
    return Decision(False, reason, latest.name, f"{latest.name} {text}")


def allowed_by(
    consent: Consent,
    *,
    enterprise: str,
    grantee: str,
    scope: Scope,
    data_start: datetime,
    data_end: datetime,
    now: datetime,
) -> bool:
    """The specification of an allowing consent, stated directly on plain instants
    (used by the property tests): data instants data_start <= t < data_end must all
    lie inside the window."""
    return (
        consent.enterprise == enterprise
        and consent.grantee == grantee
        and scope in consent.scopes
        and consent.state == State.AUTHORIZED
        and now < consent.expire_time
        and consent.data_start <= data_start
        and data_end <= consent.data_end
    )
