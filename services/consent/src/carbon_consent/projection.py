"""A read-only projection of consent's access state inside another service (pricing), deciding with
exactly the consent service's rule (`domain.decide`) without a call per access.

Built from a snapshot, then tailing carbon:events:consent (carbon_consent.changes publishes every
change in the transaction of the change, and a heartbeat every ~200 ms):

  - snapshot: read the stream's last entry id P first, then every consent and API-key hash from
    consent's store. A change committed before that read is in the snapshot; one committed after
    it follows P in the stream. Every consent message carries the consent's whole state, so
    re-applying messages after P that the snapshot already reflects converges to the same state.
  - tail: XREAD from the last applied id (a worker thread, XREAD BLOCK).
  - fail closed: `decide` and `bank_for_key` raise ProjectionStale unless the projection has applied
    events up to a heartbeat stamped less than `max_staleness` (1 s) ago. A heartbeat stamped at T
    follows every change committed before T, so an access allowed at t reflects every change
    committed before t - 1 s: a revocation is effective within 1 s, or the access is refused.
    (Heartbeat times are consent's wall clock, compared with this process's: clocks are assumed
    NTP-synchronised to well under the bound.)
  - on any Redis error the tail re-snapshots (the stream may have been trimmed past our position
    or Redis restarted with another history); until then the projection just goes stale.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis
from carbon_common import events

from carbon_consent import domain
from carbon_consent.audit import AuditLog
from carbon_consent.changes import consent_from_event
from carbon_consent.domain import Consent, DataPeriod, Decision, Scope
from carbon_consent.store import Store

log = logging.getLogger(__name__)

MAX_STALENESS_SECONDS = 1.0
START = "0-0"


class ProjectionStale(Exception):
    """The projection cannot vouch for consent's current state (no recent heartbeat applied)."""


@dataclass(frozen=True)
class ProjectedDecision:
    decision: Decision
    position: str  # the id of the last consent stream entry applied when deciding


def _id(entry_id: bytes | str) -> str:
    return entry_id.decode() if isinstance(entry_id, bytes) else entry_id


def _last_id(client: Any) -> str | None:
    """The id of the stream's newest entry (None: empty stream)."""
    last: list[tuple[bytes, Any]] = client.xrevrange(events.CONSENT.name, count=1)
    return _id(last[0][0]) if last else None


def _order(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


class ConsentProjection:
    """Thread-safe: one writer (the tail), any number of deciding threads."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        max_staleness: float = MAX_STALENESS_SECONDS,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.max_staleness = max_staleness
        self.wall = wall
        self._lock = threading.Lock()
        self._consents: dict[str, dict[str, Consent]] = {}  # uscc -> consent id -> consent
        self._keys: dict[str, str] = {}  # API-key sha256 -> banks/{id}
        self.position = START
        self.heartbeat: float | None = None  # consent's wall time of the newest applied heartbeat
        self.applied = 0  # stream entries applied since the last snapshot
        self.snapshots = 0

    # ------------------------------------------------------------ building

    def snapshot(self) -> None:
        """(Re)build from consent's store; the projection is stale until it applies a heartbeat."""
        position = _last_id(self.client) or START
        store = Store(self.client, AuditLog(self.client))
        consents: dict[str, dict[str, Consent]] = {}
        for c in store.all_consents():
            consents.setdefault(c.enterprise, {})[c.id] = c
        keys = store.bank_key_hashes()
        with self._lock:
            self._consents, self._keys = consents, keys
            self.position, self.heartbeat, self.applied = position, None, 0
            self.snapshots += 1

    def poll(self, block_ms: int | None = None, count: int = 1000) -> int:
        """Apply the next stream entries (waiting up to `block_ms` for one); returns how many."""
        reply: list[tuple[bytes, list[tuple[bytes, Any]]]] = self.client.xread(  # type: ignore[assignment]
            {events.CONSENT.name: self.position}, count=count, block=block_ms
        )
        applied = 0
        for _stream, entries in reply or ():
            for entry_id, fields in entries:
                self.apply(_id(entry_id), fields)
                applied += 1
        return applied

    def apply(self, entry_id: str, fields: Any) -> None:
        try:
            event = events.CONSENT.decode(fields)
        except events.EventDecodeError as error:  # a newer producer: fail closed rather than guess
            log.error("consent event not understood; projection will go stale", extra={"error": str(error)})
            raise
        with self._lock:
            if isinstance(event, events.ConsentChanged):
                c = consent_from_event(event)
                self._consents.setdefault(c.enterprise, {})[c.id] = c
            elif isinstance(event, events.ApiKeyChanged):
                if event.change == "REVOKED":
                    self._keys.pop(event.key_hash, None)
                else:
                    self._keys[event.key_hash] = event.bank
            elif isinstance(event, events.BankChanged):
                if event.change == "DELETED":
                    self._keys = {k: b for k, b in self._keys.items() if b != event.bank}
            elif isinstance(event, events.ConsentHeartbeat):
                self.heartbeat = event.time.timestamp()
            self.position = entry_id
            self.applied += 1

    def catch_up(self) -> None:
        """Apply everything on the stream at the time of the call (tests, start-up)."""
        last = _last_id(self.client)
        if last is None:
            return
        target = _order(last)
        while _order(self.position) < target:
            self.poll()

    def warm_up(self, timeout: float) -> bool:
        """Snapshot and tail until fresh (or `timeout` passes): call before serving. Returns fresh?"""
        deadline = time.monotonic() + timeout
        try:
            self.snapshot()
            while not self.fresh() and time.monotonic() < deadline:
                self.poll(block_ms=100)
        except (redis.RedisError, OSError):
            log.warning("consent projection not warmed up; the tail keeps trying", exc_info=True)
        return self.fresh()

    def run(self, stopping: threading.Event, block_ms: int = 200) -> None:
        """The tail (a Service worker): snapshot, then follow the stream until `stopping`."""
        need_snapshot = self.snapshots == 0
        while not stopping.is_set():
            try:
                if need_snapshot:
                    self.snapshot()
                    need_snapshot = False
                self.poll(block_ms)
            except (redis.RedisError, OSError, events.EventDecodeError):
                log.warning("consent projection lost its stream; re-snapshotting", exc_info=True)
                need_snapshot = True
                stopping.wait(0.1)

    def worker(self) -> Callable[[threading.Event], None]:
        def consent_projection(stopping: threading.Event) -> None:
            self.run(stopping)

        return consent_projection

    # ------------------------------------------------------------ reading

    def fresh(self) -> bool:
        beat = self.heartbeat
        return beat is not None and self.wall() - beat < self.max_staleness

    def _require_fresh(self) -> None:
        if not self.fresh():
            raise ProjectionStale(
                "the consent projection has no consent heartbeat younger than "
                f"{self.max_staleness:g} s (consent service or Redis unreachable)"
            )

    def decide(
        self, *, enterprise: str, grantee: str, scope: Scope, period: DataPeriod | None, now: datetime
    ) -> ProjectedDecision:
        """`domain.decide` over the projected consents of `enterprise` (a USCC); raises ProjectionStale."""
        with self._lock:
            self._require_fresh()
            consents = list(self._consents.get(enterprise, {}).values())
            position = self.position
        decision = domain.decide(consents, enterprise=enterprise, grantee=grantee, scope=scope, period=period, now=now)
        return ProjectedDecision(decision, position)

    def bank_for_key(self, key_hash: str) -> str | None:
        """banks/{id} owning the API key with this SHA-256, or None; raises ProjectionStale."""
        with self._lock:
            self._require_fresh()
            return self._keys.get(key_hash)

    def consents(self) -> list[Consent]:
        """Every projected consent (tests compare it with consent's store)."""
        with self._lock:
            return [c for by_id in self._consents.values() for c in by_id.values()]
