"""Append-only, hash-chained audit of government configuration changes (Redis list).

Entry i carries `prev` = hash of entry i-1 ("0"*64 for the first) and
`hash` = SHA-256 over its canonical JSON without `hash`. Appends happen in
the same WATCH/MULTI transaction as the change they record, so a change
without its audit entry (or the reverse) cannot be committed; editing or
deleting any entry breaks `verify`.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import redis

AUDIT_KEY = "carbon:rating:audit"
GENESIS = "0" * 64


def _digest(entry: dict[str, Any]) -> str:
    body = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    ).hexdigest()


def next_entry(client: redis.Redis | redis.client.Pipeline, actor: str, action: str, **details: Any) -> str:
    """The JSON of the next entry; call after WATCH(AUDIT_KEY), RPUSH it inside MULTI."""
    last = client.lindex(AUDIT_KEY, -1)
    length = client.llen(AUDIT_KEY)
    prev = json.loads(last)["hash"] if last else GENESIS
    entry: dict[str, Any] = {
        "seq": int(length),  # type: ignore[arg-type]
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "actor": actor,
        "action": action,
        "details": details,
        "prev": prev,
    }
    entry["hash"] = _digest(entry)
    return json.dumps(entry, sort_keys=True, ensure_ascii=False)


def entries(client: redis.Redis) -> list[dict[str, Any]]:
    return [json.loads(raw) for raw in client.lrange(AUDIT_KEY, 0, -1)]  # type: ignore[union-attr]


def verify(items: list[dict[str, Any]]) -> tuple[bool, int | None]:
    """(chain intact, seq of the first bad entry)."""
    prev = GENESIS
    for index, entry in enumerate(items):
        if entry.get("seq") != index or entry.get("prev") != prev or entry.get("hash") != _digest(entry):
            return False, index
        prev = entry["hash"]
    return True, None
