"""A read-only projection of consent's access state inside another service (pricing), deciding with
exactly the consent service's rule (`domain.decide`) without a call per access.

A snapshot of consent's store, then the tail of carbon:events:consent (carbon_common.projection;
carbon_consent.changes publishes every change in the transaction of the change, and a heartbeat
every ~200 ms).

Fail closed: `decide` and `bank_for_key` raise ProjectionStale unless the projection has applied events
up to a heartbeat stamped less than `max_staleness` (1 s) ago. A heartbeat stamped at T follows every
change committed before T, so an access allowed at t reflects every change committed before t - 1 s:
a revocation is effective within 1 s, or the access is refused. (Heartbeat times are consent's wall
clock, compared with this process's: clocks are assumed NTP-synchronised well under the bound.)
A new snapshot forgets the heartbeat: stale until the next one is applied.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import redis
from carbon_common import events
from carbon_common.projection import StreamProjection

from carbon_consent import domain
from carbon_consent.audit import AuditLog
from carbon_consent.changes import consent_from_event
from carbon_consent.domain import Consent, DataPeriod, Decision, Scope
from carbon_consent.store import Store

MAX_STALENESS_SECONDS = 1.0

State = tuple[dict[str, dict[str, Consent]], dict[str, str]]


class ProjectionStale(Exception):
    """The projection cannot vouch for consent's current state (no recent heartbeat applied)."""


@dataclass(frozen=True)
class ProjectedDecision:
    decision: Decision
    position: str  # the id of the last consent stream entry applied when deciding


class ConsentProjection(StreamProjection[events.Event]):
    name = "consent-projection"

    def __init__(
        self,
        client: redis.Redis,
        *,
        max_staleness: float = MAX_STALENESS_SECONDS,
        wall: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(client, events.CONSENT)
        self.max_staleness = max_staleness
        self.wall = wall
        self._consents: dict[str, dict[str, Consent]] = {}  # uscc -> consent id -> consent
        self._keys: dict[str, str] = {}  # API-key sha256 -> banks/{id}
        self.heartbeat: float | None = None  # consent's wall time of the newest applied heartbeat

    # ------------------------------------------------------------ building

    def load(self) -> State:
        store = Store(self.client, AuditLog(self.client))
        consents: dict[str, dict[str, Consent]] = {}
        for c in store.all_consents():
            consents.setdefault(c.enterprise, {})[c.id] = c
        return consents, store.bank_key_hashes()

    def install(self, state: State) -> None:
        self._consents, self._keys = state
        self.heartbeat = None

    def on_message(self, message: events.Event) -> None:
        if isinstance(message, events.ConsentChanged):
            c = consent_from_event(message)
            self._consents.setdefault(c.enterprise, {})[c.id] = c
        elif isinstance(message, events.ApiKeyChanged):
            if message.change == "REVOKED":
                self._keys.pop(message.key_hash, None)
            else:
                self._keys[message.key_hash] = message.bank
        elif isinstance(message, events.BankChanged):
            if message.change == "DELETED":
                self._keys = {k: b for k, b in self._keys.items() if b != message.bank}
        elif isinstance(message, events.ConsentHeartbeat):
            self.heartbeat = message.time.timestamp()

    def warm_up(self, timeout: float, ready: Callable[[], bool] | None = None) -> bool:
        return super().warm_up(timeout, ready or self.fresh)

    # ------------------------------------------------------------ reading

    def fresh(self) -> bool:
        beat = self.heartbeat
        return beat is not None and self.wall() - beat < self.max_staleness

    def _require_fresh(self) -> None:
        if not self.fresh():
            beat = self.heartbeat
            age = "none applied" if beat is None else f"the last applied is {self.wall() - beat:.1f} s old"
            raise ProjectionStale(
                f"the consent projection has no consent heartbeat younger than {self.max_staleness:g} s "
                f"({age}: consent service or Redis unreachable, or this process overloaded)"
            )

    def decide(
        self, *, enterprise: str, grantee: str, scope: Scope, period: DataPeriod | None, now: datetime
    ) -> ProjectedDecision:
        """`domain.decide` over the projected consents of `enterprise` (a USCC); raises ProjectionStale."""
        with self.lock:
            self._require_fresh()
            consents = list(self._consents.get(enterprise, {}).values())
            position = self.position
        decision = domain.decide(consents, enterprise=enterprise, grantee=grantee, scope=scope, period=period, now=now)
        return ProjectedDecision(decision, position)

    def bank_for_key(self, key_hash: str) -> str | None:
        """banks/{id} owning the API key with this SHA-256, or None; raises ProjectionStale."""
        with self.lock:
            self._require_fresh()
            return self._keys.get(key_hash)

    def consents(self) -> list[Consent]:
        """Every projected consent (tests compare it with consent's store)."""
        with self.lock:
            return [c for by_id in self._consents.values() for c in by_id.values()]
