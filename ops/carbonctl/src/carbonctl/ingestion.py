"""`carbonctl ingestion drain|resume|status`.

Drain sets `carbon:ingest:drain` to "1": ingest-tax and ingest-energy then
refuse new batches with UNAVAILABLE (reason INGESTION_DRAINED) so clients
retry later; resume deletes the key. Status shows the switch and the consumer
groups of `carbon:events:activity` (pending = delivered but not acknowledged,
lag = entries not yet delivered to the group, oldest = age of the oldest of them).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import redis
from carbon_common import events

DRAIN_KEY = "carbon:ingest:drain"
ACTIVITY_STREAM = events.ACTIVITY.name
LAG_SCAN_LIMIT = 10_000


@dataclass
class GroupState:
    name: str
    consumers: int
    pending: int
    last_delivered_id: str
    lag: int | None  # None: more than LAG_SCAN_LIMIT (only when the server cannot say)
    oldest_undelivered_age_s: float | None


def drain(client: redis.Redis) -> None:
    client.set(DRAIN_KEY, "1")


def resume(client: redis.Redis) -> None:
    client.delete(DRAIN_KEY)


def is_drained(client: redis.Redis) -> bool:
    value = client.get(DRAIN_KEY)
    return value is not None and _text(value).strip() in ("1", "true")


def groups(client: redis.Redis, stream: str = ACTIVITY_STREAM, now: float | None = None) -> list[GroupState] | None:
    """Consumer groups of the stream; None when the stream does not exist."""
    if not client.exists(stream):
        return None
    now = time.time() if now is None else now
    result = []
    for group in client.xinfo_groups(stream):
        info = {_text(k): v for k, v in group.items()}
        last = _text(info.get("last-delivered-id", "0-0"))
        undelivered = list(client.xrange(stream, min=f"({last}", max="+", count=LAG_SCAN_LIMIT + 1) or [])
        server_lag = info.get("lag")
        if server_lag is not None:  # Redis >= 7
            lag: int | None = int(server_lag)
        else:
            lag = len(undelivered) if len(undelivered) <= LAG_SCAN_LIMIT else None
        oldest = None
        if undelivered:
            entry_ms = int(_text(undelivered[0][0]).split("-", 1)[0])
            oldest = max(0.0, now - entry_ms / 1000)
        result.append(
            GroupState(
                name=_text(info.get("name", "")),
                consumers=int(info.get("consumers", 0)),
                pending=int(info.get("pending", 0)),
                last_delivered_id=last,
                lag=lag,
                oldest_undelivered_age_s=oldest,
            )
        )
    return sorted(result, key=lambda g: g.name)


def render_status(drained: bool, stream_length: int, states: list[GroupState] | None, stream: str) -> str:
    lines = [f"ingestion: {'DRAINED (new batches refused)' if drained else 'ACCEPTING'}  ({DRAIN_KEY})"]
    if states is None:
        lines.append(f"stream {stream}: does not exist yet (no activity events)")
        return "\n".join(lines)
    lines.append(f"stream {stream}: {stream_length} entries, {len(states)} consumer group(s)")
    if not states:
        return "\n".join(lines)
    header = ("GROUP", "CONSUMERS", "PENDING", "LAG", "OLDEST_UNDELIVERED", "LAST_DELIVERED_ID")
    rows = [header] + [
        (
            g.name,
            str(g.consumers),
            str(g.pending),
            str(g.lag) if g.lag is not None else f">{LAG_SCAN_LIMIT}",
            f"{g.oldest_undelivered_age_s:.1f}s" if g.oldest_undelivered_age_s is not None else "-",
            g.last_delivered_id,
        )
        for g in states
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
