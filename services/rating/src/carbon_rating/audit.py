"""The audit of government configuration changes, as the platform's hash chain "rating:audit"
(format and verification: carbon_common.hashchain; entries written before it keep verifying).

Appends happen in the same WATCH/MULTI transaction as the change they record: `next_entry` in
immediate mode after WATCHing `WATCH_KEYS`, `queue` inside MULTI. So a change without its audit entry
(or the reverse) cannot be committed; editing or deleting any entry breaks verification.

    python -m carbon_common.hashchain verify --chain rating:audit
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import redis
from carbon_common import hashchain

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


def entries(client: redis.Redis) -> list[dict[str, Any]]:
    """Every entry as the audit page and GET /v1/audit show it: seq, time, actor, action, details, prev, hash."""
    out: list[dict[str, Any]] = []
    for _, raw in hashchain.entries(client, CHAIN):
        try:
            entry = hashchain.parse_entry(CHAIN, raw)
        except hashchain.MalformedEntry:
            out.append({"seq": None, "time": "", "actor": "", "action": "MALFORMED", "details": {}, "hash": ""})
            continue
        details = {k: v for k, v in entry.body.items() if k != "actor"}
        out.append(
            {
                "seq": entry.seq,
                "time": entry.time,
                "actor": entry.body.get("actor", ""),
                "action": entry.kind,
                "details": details,
                "prev": entry.prev_hash,
                "hash": entry.hash,
            }
        )
    return out


def verify(client: redis.Redis) -> tuple[bool, int | None]:
    """(chain intact, seq of the first bad entry)."""
    report = hashchain.verify(client, CHAIN)
    return report.ok, report.first_bad_seq
