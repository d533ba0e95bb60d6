"""Redis persistence of enterprises, banks, consents and erasure requests.

Keys (all under carbon:consent:):
  enterprise:{uscc}          JSON            enterprises         ZSET (lex) of uscc
  bank:{id}                  JSON            bankkey:{sha256}    -> bank id
  consents:{uscc}            HASH id -> JSON (CheckAccess reads one hash: one round trip)
  bank_consents:{bank_id}    ZSET name by create time
  expiry                     ZSET name by expire time, live consents only (the sweeper's queue)
  idem:{actor}:{uscc}:{rid}  consent id (AIP-155 request ids)
  erasure:{request_id}       JSON            erasures:{uscc}     ZSET by time
Every change commits together with its audit entry (WATCH/MULTI on the
record and the audit head) and, when it decides access (banks, API keys,
consents), its message on carbon:events:consent (carbon_consent.changes).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, NamedTuple, Self, TypeVar

import redis
from carbon_common import events
from carbon_common.redis_conn import as_bytes, as_text, members
from pydantic import JsonValue

from carbon_consent import changes, domain
from carbon_consent.audit import AuditLog
from carbon_consent.domain import Consent, Purpose, Scope, State, Transition

P = "carbon:consent:"


def _ts(value: datetime) -> str:
    return value.isoformat(timespec="microseconds")


def _dt(value: str) -> datetime:
    return domain.utc(datetime.fromisoformat(value))


def consent_to_json(c: Consent) -> bytes:
    return json.dumps(
        {
            "id": c.id,
            "enterprise": c.enterprise,
            "grantee": c.grantee,
            "scopes": [s.name for s in c.scopes],
            "purpose": c.purpose.name,
            "data_start": _ts(c.data_start),
            "data_end": _ts(c.data_end),
            "expire_time": _ts(c.expire_time),
            "state": c.state.name,
            "create_time": _ts(c.create_time),
            "update_time": _ts(c.update_time),
            "history": [
                {
                    "from": t.from_state.name if t.from_state else None,
                    "to": t.to_state.name,
                    "actor": t.actor,
                    "time": _ts(t.time),
                    "reason": t.reason,
                }
                for t in c.history
            ],
        },
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()


def consent_from_json(raw: bytes | str) -> Consent:
    d = json.loads(raw)
    return Consent(
        id=d["id"],
        enterprise=d["enterprise"],
        grantee=d["grantee"],
        scopes=tuple(Scope[s] for s in d["scopes"]),
        purpose=Purpose[d["purpose"]],
        data_start=_dt(d["data_start"]),
        data_end=_dt(d["data_end"]),
        expire_time=_dt(d["expire_time"]),
        state=State[d["state"]],
        create_time=_dt(d["create_time"]),
        update_time=_dt(d["update_time"]),
        history=tuple(
            Transition(State[t["from"]] if t["from"] else None, State[t["to"]], t["actor"], _dt(t["time"]), t["reason"])
            for t in d["history"]
        ),
    )


class AuditEvent(NamedTuple):
    """One entry of the consent audit chain: what happened (CONSENT_AUTHORIZED, ...) and its facts."""

    kind: str
    body: dict[str, JsonValue]


T = TypeVar("T")
Writes = Callable[[Any], None]  # queues a change's writes on the MULTI pipeline
# build(pipe) of a commit: (result, its writes, the audit entries of the change)
Build = Callable[[Any], tuple[T, Writes, list[AuditEvent]]]


def consent_event_payload(c: Consent) -> dict[str, JsonValue]:
    last = c.history[-1]
    return {
        "consent": c.name,
        "enterprise": f"enterprises/{c.enterprise}",
        "grantee": c.grantee,
        "scopes": [s.name for s in c.scopes],
        "purpose": c.purpose.name,
        "from_state": last.from_state.name if last.from_state else None,
        "to_state": last.to_state.name,
        "actor": last.actor,
        "reason": last.reason,
        "transition_time": _ts(last.time),
        "expire_time": _ts(c.expire_time),
    }


class _JsonRecord:
    """JSON storage of a frozen dataclass whose `create_time` is a datetime."""

    def to_json(self) -> bytes:
        d = asdict(self)  # type: ignore[call-overload]  # every subclass is a dataclass; this mixin is not
        d["create_time"] = _ts(d["create_time"])
        return json.dumps(d, ensure_ascii=False).encode()

    @classmethod
    def from_json(cls, raw: bytes | str) -> Self:
        d = json.loads(raw)
        d["create_time"] = _dt(d["create_time"])
        return cls(**d)


@dataclass(frozen=True)
class Enterprise(_JsonRecord):
    uscc: str
    display_name: str
    industry_code: str
    province_code: str
    region_code: str
    create_time: datetime


@dataclass(frozen=True)
class Bank:
    id: str
    display_name: str
    create_time: datetime

    @property
    def name(self) -> str:
        return f"banks/{self.id}"

    def to_json(self, key_hash: str) -> bytes:
        return json.dumps(
            {
                "id": self.id,
                "display_name": self.display_name,
                "create_time": _ts(self.create_time),
                "key_hash": key_hash,
            },
            ensure_ascii=False,
        ).encode()

    @classmethod
    def from_json(cls, raw: bytes | str) -> Bank:
        d = json.loads(raw)
        return cls(d["id"], d["display_name"], _dt(d["create_time"]))


@dataclass(frozen=True)
class ErasureRequest(_JsonRecord):
    id: str
    uscc: str
    actor: str
    reason: str
    create_time: datetime


class Conflict(Exception):
    """A record the caller wanted to create already exists."""


class Store:
    def __init__(self, client: redis.Redis, audit: AuditLog) -> None:
        self.r = client
        self.audit = audit

    # ------------------------------------------------------------ atomic commit

    def _commit(self, watch: list[str], build: Build[T], now: datetime) -> T:
        """WATCH `watch` and the audit head; `build(pipe)` reads (immediate mode) and returns
        (result, queue_writes(pipe), audit events). Writes and audit entries commit in one MULTI."""
        return self.audit.transact(watch, build, now)

    # ------------------------------------------------------------ enterprises

    def create_enterprise(self, e: Enterprise, actor: str, now: datetime) -> Enterprise:
        key = f"{P}enterprise:{e.uscc}"

        def build(pipe: Any) -> tuple[Enterprise, Writes, list[AuditEvent]]:
            if pipe.exists(key):
                raise Conflict(f"enterprises/{e.uscc}")

            def writes(p: Any) -> None:
                p.set(key, e.to_json())
                p.zadd(f"{P}enterprises", {e.uscc: 0})

            payload: dict[str, JsonValue] = {
                "enterprise": f"enterprises/{e.uscc}",
                "actor": actor,
                "display_name": e.display_name,
            }
            return e, writes, [AuditEvent("ENTERPRISE_CREATED", payload)]

        return self._commit([key], build, now)

    def get_enterprise(self, uscc: str) -> Enterprise | None:
        raw = self.r.get(f"{P}enterprise:{uscc}")
        return Enterprise.from_json(raw) if raw else None

    def list_enterprises(self, after: str, limit: int) -> list[Enterprise]:
        start = f"({after}" if after else "-"
        ids = self.r.zrangebylex(f"{P}enterprises", start, "+", start=0, num=limit)
        if not ids:
            return []
        raws = self.r.mget([f"{P}enterprise:{as_text(i)}" for i in ids])
        return [Enterprise.from_json(raw) for raw in raws if raw]

    # ------------------------------------------------------------ banks

    def create_bank(self, bank: Bank, key_hash: str, actor: str, now: datetime) -> Bank:
        key = f"{P}bank:{bank.id}"

        def build(pipe: Any) -> tuple[Bank, Writes, list[AuditEvent]]:
            if pipe.exists(key):
                raise Conflict(bank.name)

            def writes(p: Any) -> None:
                p.set(key, bank.to_json(key_hash))
                p.set(f"{P}bankkey:{key_hash}", bank.id)
                changes.publish_bank_created(p, bank.name, bank.display_name, key_hash, now)

            return (
                bank,
                writes,
                [AuditEvent("BANK_CREATED", {"bank": bank.name, "actor": actor, "display_name": bank.display_name})],
            )

        return self._commit([key], build, now)

    def get_bank(self, bank_id: str) -> Bank | None:
        raw = self.r.get(f"{P}bank:{bank_id}")
        return Bank.from_json(raw) if raw else None

    def bank_key_hashes(self) -> dict[str, str]:
        """Every API-key hash -> banks/{id} (a projection's snapshot)."""
        hashes: dict[str, str] = {}
        for key in self.r.scan_iter(match=f"{P}bankkey:*", count=1000):
            bank_id = self.r.get(key)
            if bank_id is not None:
                hashes[as_text(key).rsplit(":", 1)[1]] = f"banks/{as_text(bank_id)}"
        return hashes

    def bank_by_key_hash(self, key_hash: str) -> Bank | None:
        bank_id = self.r.get(f"{P}bankkey:{key_hash}")
        return self.get_bank(as_text(bank_id)) if bank_id else None

    # ------------------------------------------------------------ consents

    def consents_of(self, uscc: str) -> list[Consent]:
        return [consent_from_json(raw) for raw in self.r.hvals(f"{P}consents:{uscc}")]

    def all_consents(self) -> list[Consent]:
        """Every consent of every enterprise (a projection's snapshot)."""
        found: list[Consent] = []
        for key in self.r.scan_iter(match=f"{P}consents:*", count=1000):
            found.extend(consent_from_json(raw) for raw in self.r.hvals(key))
        return found

    def get_consent(self, uscc: str, consent_id: str) -> Consent | None:
        raw = self.r.hget(f"{P}consents:{uscc}", consent_id)
        return consent_from_json(raw) if raw else None

    def bank_consent_names(self, bank_id: str, offset: int, limit: int) -> list[str]:
        return members(self.r.zrange(f"{P}bank_consents:{bank_id}", offset, offset + limit - 1))

    def _consent_writes(self, c: Consent) -> Writes:
        def writes(p: Any) -> None:
            p.hset(f"{P}consents:{c.enterprise}", c.id, consent_to_json(c))
            if c.state in domain.LIVE:
                p.zadd(f"{P}expiry", {c.name: c.expire_time.timestamp()})
            else:
                p.zrem(f"{P}expiry", c.name)
            changes.publish_consent(p, c)

        return writes

    def create_consent(
        self, c: Consent, idempotency_key: str, events: list[AuditEvent], now: datetime
    ) -> tuple[Consent, bool]:
        """Store a new consent with its audit events (creation, and any transition already applied).
        Returns (consent, created); with a known idempotency key, the earlier consent."""
        hash_key = f"{P}consents:{c.enterprise}"
        idem = f"{P}idem:{idempotency_key}" if idempotency_key else ""
        watch = [hash_key] + ([idem] if idem else [])

        def build(pipe: Any) -> tuple[tuple[Consent, bool], Writes, list[AuditEvent]]:
            if idem:
                earlier = pipe.get(idem)
                if earlier:
                    raw = pipe.hget(hash_key, earlier)
                    if raw:
                        return (consent_from_json(raw), False), (lambda p: None), []
            base = self._consent_writes(c)

            def writes(p: Any) -> None:
                base(p)
                if c.grantee.startswith("banks/"):
                    p.zadd(f"{P}bank_consents:{c.grantee.split('/', 1)[1]}", {c.name: c.create_time.timestamp()})
                if idem:
                    p.set(idem, c.id, ex=86400)

            return (c, True), writes, list(events)

        return self._commit(watch, build, now)

    def update_consent(
        self, uscc: str, consent_id: str, change: Callable[[Consent], Consent], event: str, now: datetime
    ) -> Consent:
        """Apply `change` (a pure transition; may raise DomainError) atomically.

        If the consent expired by `now`, that EXPIRED transition is stored (and
        audited) even when `change` then refuses to act on it.
        """
        hash_key = f"{P}consents:{uscc}"
        pending_error: list[domain.DomainError] = []

        def build(pipe: Any) -> tuple[Consent, Writes, list[AuditEvent]]:
            pending_error.clear()
            raw = pipe.hget(hash_key, consent_id)
            if raw is None:
                raise KeyError(consent_id)
            current = consent_from_json(raw)
            expired = domain.materialize_expiry(current, now)
            try:
                updated = change(current)
            except domain.DomainError as error:
                if expired is None:
                    raise
                pending_error.append(error)
                return (
                    expired,
                    self._consent_writes(expired),
                    [AuditEvent("CONSENT_EXPIRED", consent_event_payload(expired))],
                )
            events: list[AuditEvent] = []
            if expired is not None:
                events.append(AuditEvent("CONSENT_EXPIRED", consent_event_payload(expired)))
            if updated.history != (expired or current).history:
                events.append(AuditEvent(event, consent_event_payload(updated)))
            return updated, self._consent_writes(updated), events

        result = self._commit([hash_key], build, now)
        if pending_error:
            raise pending_error[0]
        return result

    def due_for_expiry(self, now: datetime, limit: int = 500) -> list[str]:
        return members(self.r.zrangebyscore(f"{P}expiry", "-inf", now.timestamp(), start=0, num=limit))

    def drop_expiry_entry(self, name: str) -> None:
        self.r.zrem(f"{P}expiry", name)

    # ------------------------------------------------------------ CheckAccess audit

    def audit_event(self, event: AuditEvent, now: datetime) -> None:
        self.audit.append(event.kind, event.body, now)

    # ------------------------------------------------------------ erasure

    def create_erasure(self, req: ErasureRequest, now: datetime) -> ErasureRequest:
        key = f"{P}erasure:{req.id}"

        def build(pipe: Any) -> tuple[ErasureRequest, Writes, list[AuditEvent]]:
            def writes(p: Any) -> None:
                p.set(key, req.to_json())
                p.zadd(f"{P}erasures:{req.uscc}", {req.id: now.timestamp()})
                events.ERASURE.add(p, events.ErasureRequested.create(uscc=req.uscc, request_id=req.id))

            payload: dict[str, JsonValue] = {
                "enterprise": f"enterprises/{req.uscc}",
                "request_id": req.id,
                "actor": req.actor,
                "reason": req.reason,
            }
            return req, writes, [AuditEvent("ERASURE_REQUESTED", payload)]

        return self._commit([key], build, now)

    def get_erasure(self, request_id: str) -> tuple[ErasureRequest | None, dict[str, str]]:
        raw = self.r.get(f"{P}erasure:{request_id}")
        if not raw:
            return None, {}
        stored = self.r.hgetall(f"carbon:erasure:{request_id}")
        reports = {as_text(k): as_bytes(v).decode(errors="replace") for k, v in stored.items()}
        return ErasureRequest.from_json(raw), reports

    def list_erasures(self, uscc: str) -> list[str]:
        return members(self.r.zrange(f"{P}erasures:{uscc}", 0, -1))
