"""Access decisions taken elsewhere (pricing's projection) into consent's hash-chained audit.

Pricing writes every decision to carbon:events:access (an allowed one in the transaction of the quote
it priced). This worker reads the stream in the consumer group "consent" and appends one
ACCESS_DECIDED entry per decision to the chain "consent:audit", exactly once: the append carries a
guard "marker key absent" and writes the marker, so a message delivered again (consent killed after
the append, before XACK; or pricing re-recording a decision whose quote commit it could not confirm)
is acknowledged without a second entry. Nothing is acknowledged before it is in the chain, so a
kill -9 at any point loses nothing: unacknowledged messages are read again (own pending entries at
start, other consumers' after `claim_idle_ms` by XAUTOCLAIM).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Any

import redis
from carbon_common import events, hashchain, telemetry

from carbon_consent.audit import AuditLog

log = logging.getLogger(__name__)

GROUP = "consent"
KIND = "ACCESS_DECIDED"
SEEN = "carbon:consent:access_seen:"  # + decision id: the dedupe marker, written with the entry
SEEN_TTL_SECONDS = 30 * 86400  # a redelivery later than this would be appended again
SPAN_NAME = f"{events.ACCESS.name} audit"  # CONSUMER span, child of the deciding request's span


def audit_body(stream_id: str, access: events.AccessDecided) -> dict[str, Any]:
    period = None
    if access.data_start is not None and access.data_end is not None:
        period = [access.data_start.isoformat(), access.data_end.isoformat()]
    return {
        "caller": "loan-pricing",
        "decision_id": access.decision_id,
        "enterprise": access.enterprise,
        "grantee": access.bank,
        "scope": access.scope,
        "data_period": period,
        "allowed": access.allowed,
        "reason": access.reason,
        "consent": access.consent,
        "quote": access.quote,
        "consent_position": access.consent_position,
        "stream_id": stream_id,
    }


class AccessAuditor:
    """Background worker of the consent service (one consumer per process)."""

    __name__ = "consent-access-audit"

    def __init__(self, client: redis.Redis, audit: AuditLog, *, block_ms: int = 500, claim_idle_ms: int = 30_000):
        self.client = client
        self.audit = audit
        self.block_ms = block_ms
        self.claim_idle_ms = claim_idle_ms
        self.consumer = f"{socket.gethostname()}:{os.getpid()}"
        self.appended = 0
        self.duplicates = 0

    def ensure_group(self) -> None:
        try:
            self.client.xgroup_create(events.ACCESS.name, GROUP, id="0", mkstream=True)
        except redis.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    def record(self, stream_id: str, fields: Any) -> None:
        """Append the decision to the audit chain once, then acknowledge it."""
        try:
            access = events.ACCESS.decode(fields)
        except events.EventDecodeError as error:
            # Never silently dropped: logged, left pending (an operator or a newer consent reads it).
            log.error("access decision not understood", extra={"id": stream_id, "error": str(error)})
            return
        marker = SEEN + access.decision_id
        span = telemetry.consumer_span(SPAN_NAME, access.traceparent, {"carbon.decision_id": access.decision_id})
        try:
            self.audit.append_with(
                KIND,
                audit_body(stream_id, access),
                access.time,
                lambda _entry: [
                    hashchain.Write("SET", marker, (stream_id,)),
                    hashchain.Write("EXPIRE", marker, (SEEN_TTL_SECONDS,)),
                ],
                guards=[hashchain.Guard(marker, absent=True)],
            )
            self.appended += 1
        except hashchain.GuardFailed:
            self.duplicates += 1
        finally:
            span.end()
        self.client.xack(events.ACCESS.name, GROUP, stream_id)

    def _handle(self, reply: Any) -> int:
        handled = 0
        for _stream, entries in reply or ():
            for entry_id, fields in entries:
                if fields:  # a pending entry trimmed away reads as (id, None)
                    self.record(entry_id.decode() if isinstance(entry_id, bytes) else entry_id, fields)
                handled += 1
        return handled

    def drain(self, block_ms: int | None = None) -> int:
        """Own pending entries first, then new ones; returns how many were handled."""
        handled = self._handle(self.client.xreadgroup(GROUP, self.consumer, {events.ACCESS.name: "0"}, count=100))
        if handled:
            return handled
        return self._handle(
            self.client.xreadgroup(GROUP, self.consumer, {events.ACCESS.name: ">"}, count=100, block=block_ms)
        )

    def claim_abandoned(self) -> None:
        """Take over entries another (dead) consumer read but never acknowledged."""
        self.client.xautoclaim(events.ACCESS.name, GROUP, self.consumer, self.claim_idle_ms, count=100)

    def trim_acknowledged(self) -> None:
        """The access stream is never trimmed unread: drop only entries the group has acknowledged."""
        pending: Any = self.client.xpending(events.ACCESS.name, GROUP)
        if pending["pending"]:
            bound = pending["min"]
        else:
            groups: Any = self.client.xinfo_groups(events.ACCESS.name)
            bound = next(g["last-delivered-id"] for g in groups if g["name"] in (GROUP, GROUP.encode()))
        self.client.xtrim(events.ACCESS.name, minid=bound, approximate=False)

    def __call__(self, stopping: threading.Event) -> None:
        ready = False
        rounds = 0
        while not stopping.is_set():
            try:
                if not ready:
                    self.ensure_group()
                    ready = True
                if rounds % 20 == 0:
                    self.claim_abandoned()
                    self.trim_acknowledged()
                rounds += 1
                self.drain(self.block_ms)
            except (redis.RedisError, OSError):
                log.warning("access audit consumer: Redis unavailable; retrying", exc_info=True)
                ready = False
                stopping.wait(0.5)
