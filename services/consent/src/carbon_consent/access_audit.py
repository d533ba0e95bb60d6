"""Access decisions taken elsewhere (pricing's and ingestion's projections) into consent's hash-chained audit.

Pricing writes every decision to carbon:events:access (an allowed one in the transaction of the quote
it priced); ingestion writes each before it stores the batch the decision let in. This worker reads the
stream in the consumer group "consent" and appends one ACCESS_DECIDED entry per decision to the chain
"consent:audit", exactly once, in batches: every entry read in one XREADGROUP (up to BATCH) goes into
one compare-and-set append that also carries, per entry, a guard "marker key absent" and the marker's
write. So a message delivered again (consent killed after the append, before XACK; pricing re-recording
a decision whose quote commit it could not confirm; another consumer that claimed it) is acknowledged
without a second entry: its marker is found before the append, or its guard fails the append, which is
retried without it. Nothing is acknowledged before it is in the chain, so a kill -9 at any point loses
nothing: unacknowledged messages are read again (own pending entries at start, other consumers' after
`claim_idle_ms` by XAUTOCLAIM). One Lua call per batch instead of one per decision is what keeps
consent's CPU per quote low under load; so the worker lets decisions gather for `linger_ms` after a read
that did not fill a batch (the audit lags by that much at most, and a steady 100 quotes/s makes batches
of several decisions instead of one Lua call per quote), and the acknowledgement (XACK) is one of the
append's own writes: read, marker check, append + ack, three round trips per batch.

Each decision's entry is made under a CONSUMER span continuing the deciding request's trace (the
event's `traceparent`), so a quote's trace shows its audit.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Any

import redis
from carbon_common import events, hashchain, metrics, telemetry
from carbon_common.redis_conn import as_text
from pydantic import JsonValue

from carbon_consent.audit import AuditLog

log = logging.getLogger(__name__)

GROUP = "consent"
KIND = "ACCESS_DECIDED"
SEEN = "carbon:consent:access_seen:"  # + decision id: the dedupe marker, written with the entry
SEEN_TTL_SECONDS = 30 * 86400  # a redelivery later than this would be appended again
SPAN_NAME = f"{events.ACCESS.name} audit"  # CONSUMER span, child of the deciding request's span
BATCH = 100  # stream entries per read, and at most this many chain entries per append
LINGER_MS = 50  # after a read that did not fill a batch, wait this long before the next one


def audit_body(stream_id: str, access: events.AccessDecided) -> dict[str, JsonValue]:
    period: list[JsonValue] | None = None
    if access.data_start is not None and access.data_end is not None:
        period = [access.data_start.isoformat(), access.data_end.isoformat()]
    return {
        "caller": access.caller,
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

    def __init__(
        self,
        client: redis.Redis,
        audit: AuditLog,
        *,
        block_ms: int = 500,
        claim_idle_ms: int = 30_000,
        batch: int = BATCH,
        linger_ms: int = LINGER_MS,
    ):
        self.client = client
        self.audit = audit
        self.block_ms = block_ms
        self.claim_idle_ms = claim_idle_ms
        self.batch = max(1, min(batch, hashchain.MAX_GROUP))
        self.linger_ms = linger_ms
        self.consumer = f"{socket.gethostname()}:{os.getpid()}"
        self.appended = 0
        self.duplicates = 0
        self.appends = 0  # chain appends (Lua calls) made
        self._pending_cursor = "0"  # where the walk of this consumer's own pending entries stands

    def ensure_group(self) -> None:
        events.ACCESS.ensure_group(self.client, GROUP)

    def record(self, stream_id: str, fields: Any) -> None:
        """Append one decision to the audit chain once, then acknowledge it."""
        self.record_batch([(stream_id, fields)])

    def record_batch(self, entries: list[tuple[str, Any]]) -> None:
        """Append the batch's decisions not audited yet in one chain append, then acknowledge every
        entry understood. An entry that cannot be decoded is logged and left pending (never dropped)."""
        decided: dict[str, tuple[str, events.AccessDecided]] = {}  # decision id -> (stream id, decision)
        done: list[str] = []
        for stream_id, fields in entries:
            try:
                access = events.ACCESS.decode(fields)
            except events.EventDecodeError as error:
                # Never silently dropped: logged, left pending (an operator or a newer consent reads it).
                log.error("access decision not understood", extra={"id": stream_id, "error": str(error)[:300]})
                continue
            if access.decision_id in decided:  # the same decision recorded twice, both in this batch
                self.duplicates += 1
                done.append(stream_id)
            else:
                decided[access.decision_id] = (stream_id, access)
        seen = self._seen(list(decided))
        fresh = []
        for decision_id, (stream_id, access) in decided.items():
            if decision_id in seen:  # audited before (a redelivery)
                self.duplicates += 1
                done.append(stream_id)
            else:
                fresh.append((stream_id, access))
        if fresh:
            self._append(fresh, done)  # acknowledges `done` with the append
        elif done:
            self.client.xack(events.ACCESS.name, GROUP, *done)

    def _seen(self, decision_ids: list[str]) -> set[str]:
        if not decision_ids:
            return set()
        with self.client.pipeline(transaction=False) as pipe:
            for decision_id in decision_ids:
                pipe.exists(SEEN + decision_id)
            found = pipe.execute()
        return {d for d, exists in zip(decision_ids, found, strict=True) if exists}

    def _append(self, fresh: list[tuple[str, events.AccessDecided]], done: list[str]) -> None:
        """Append `fresh` in one step, dropping any decision another consumer audited meanwhile (its
        guard fails: nothing was written, try again without it), and acknowledge in the same step every
        stream id audited (`fresh`) or found audited before (`done`)."""
        spans = [
            telemetry.consumer_span(SPAN_NAME, access.traceparent, {"carbon.decision_id": access.decision_id})
            for _, access in fresh
        ]
        try:
            while fresh:
                batch = fresh
                markers = [SEEN + access.decision_id for _, access in batch]
                writes = [
                    hashchain.Write("SET", marker, (stream_id, "EX", SEEN_TTL_SECONDS))
                    for marker, (stream_id, _) in zip(markers, batch, strict=True)
                ]
                acknowledged = [*done, *(stream_id for stream_id, _ in batch)]
                writes.append(hashchain.Write("XACK", events.ACCESS.name, (GROUP, *acknowledged)))
                try:
                    self.audit.append_many_with(
                        [(KIND, audit_body(stream_id, access), access.time) for stream_id, access in batch],
                        lambda _entries, writes=writes: writes,  # type: ignore[misc]  # default binds this round
                        guards=[hashchain.Guard(marker, absent=True) for marker in markers],
                    )
                except hashchain.GuardFailed as failed:
                    stream_id, _ = fresh[markers.index(failed.guard.key)]
                    fresh = [item for item in fresh if item[0] != stream_id]
                    done.append(stream_id)
                    self.duplicates += 1
                    continue
                self.appends += 1
                self.appended += len(batch)
                for _, access in batch:
                    metrics.audit_lag(metrics.lag_from(access.time), log="consent")
                return
            if done:  # every decision of the batch was audited by another consumer meanwhile
                self.client.xack(events.ACCESS.name, GROUP, *done)
        finally:
            for span in spans:
                span.end()

    def _handle(self, reply: Any) -> int:
        batch: list[tuple[str, Any]] = []
        handled = 0
        for _stream, entries in reply or ():
            for entry_id, fields in entries:
                handled += 1
                if fields:  # a pending entry trimmed away reads as (id, None)
                    batch.append((as_text(entry_id), fields))
                else:
                    self.client.xack(events.ACCESS.name, GROUP, entry_id)
        if batch:
            self.record_batch(batch)
        return handled

    def drain(self, block_ms: int | None = None) -> int:
        """Own pending entries first (walked once, so one that cannot be decoded does not hold up the
        rest), then new ones; returns how many were handled."""
        if self._pending_cursor:
            reply: Any = self.client.xreadgroup(
                GROUP, self.consumer, {events.ACCESS.name: self._pending_cursor}, count=self.batch
            )
            entries = [e for _stream, batch in reply or () for e in batch]
            if entries:
                self._pending_cursor = as_text(entries[-1][0])
                return self._handle(reply)
            self._pending_cursor = ""  # walked: from now on, new entries
        return self._handle(
            self.client.xreadgroup(GROUP, self.consumer, {events.ACCESS.name: ">"}, count=self.batch, block=block_ms)
        )

    def claim_abandoned(self) -> None:
        """Take over entries another (dead) consumer read but never acknowledged; walk them next."""
        reply: Any = self.client.xautoclaim(
            events.ACCESS.name, GROUP, self.consumer, self.claim_idle_ms, count=self.batch, justid=True
        )
        if reply:  # with JUSTID: the ids claimed
            self._pending_cursor = "0"

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
                    self._pending_cursor = "0"
                    ready = True
                if rounds % 20 == 0:
                    self.claim_abandoned()
                    self.trim_acknowledged()
                rounds += 1
                handled = self.drain(self.block_ms)
                if 0 < handled < self.batch and self.linger_ms > 0:
                    stopping.wait(self.linger_ms / 1000)  # let decisions gather into the next batch
            except (redis.RedisError, OSError, ValueError):  # ValueError: the connection closed under us
                if stopping.is_set():
                    return  # shutting down: the server closed the connection pool
                log.warning("access audit consumer: Redis unavailable; retrying", exc_info=True)
                ready = False
                stopping.wait(0.5)
