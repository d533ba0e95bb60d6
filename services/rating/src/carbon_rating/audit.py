"""The audit of government configuration changes, as the platform's hash chain "rating:audit"
(format and verification: carbon_common.hashchain; entries written before it keep verifying).

Appends happen in the same WATCH/MULTI transaction as the change they record: `next_entry` in
immediate mode after WATCHing `WATCH_KEYS`, `queue` inside MULTI. So a change without its audit entry
(or the reverse) cannot be committed; editing or deleting any entry breaks verification.

    python -m carbon_common.hashchain verify --chain rating:audit
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis
from carbon_common import hashchain
from pydantic import JsonValue

CHAIN = "rating:audit"
AUDIT_KEY = hashchain.list_key(CHAIN)
WATCH_KEYS = (AUDIT_KEY, hashchain.head_key(CHAIN))


def next_entry(pipe: Any, actor: str, action: str, **details: Any) -> hashchain.Entry:
    """The next entry after the current head; call after WATCH(*WATCH_KEYS), `queue` it inside MULTI."""
    seq, prev = hashchain.read_head(pipe, CHAIN)
    body = {**details, "actor": actor}
    return hashchain.make_entry(CHAIN, seq + 1, prev, datetime.now(UTC), action, body)


def queue(pipe: Any, entry: hashchain.Entry) -> None:
    """Inside MULTI: append the entry and move the head."""
    hashchain.queue_append(pipe, entry)


@dataclass(frozen=True)
class AuditEntry:
    """One entry as the audit page and GET /v1/audit show it (seq None and action MALFORMED for an
    entry that cannot be parsed)."""

    seq: int | None
    time: str
    actor: str
    action: str  # draft, approve_publish, reject, publish, ...
    details: dict[str, JsonValue] = field(default_factory=dict)
    prev: str = ""
    hash: str = ""


def entries(client: redis.Redis) -> list[AuditEntry]:
    """Every entry of the chain, oldest first."""
    out: list[AuditEntry] = []
    for _, raw in hashchain.entries(client, CHAIN):
        try:
            entry = hashchain.parse_entry(CHAIN, raw)
        except hashchain.MalformedEntry:
            out.append(AuditEntry(seq=None, time="", actor="", action="MALFORMED"))
            continue
        out.append(
            AuditEntry(
                seq=entry.seq,
                time=entry.time,
                actor=str(entry.body.get("actor", "")),
                action=entry.kind,
                details={k: v for k, v in entry.body.items() if k != "actor"},
                prev=entry.prev_hash,
                hash=entry.hash,
            )
        )
    return out


def verify(client: redis.Redis) -> tuple[bool, int | None]:
    """(chain intact, seq of the first bad entry)."""
    report = hashchain.verify(client, CHAIN)
    return report.ok, report.first_bad_seq
