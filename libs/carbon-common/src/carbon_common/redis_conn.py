"""The shared Redis connection, and the typed view of its replies.

redis-py types every reply for both settings of `decode_responses` (`bytes | str`), and XREADGROUP for
both protocols. Connections made here speak RESP2 and never decode, so replies are bytes: the helpers
below narrow them once, instead of each caller guessing.
"""

from __future__ import annotations

import redis
from redis.typing import XReadGroupResponse, ZSetRangeResponse


def connect(url: str) -> redis.Redis:
    # health_check_interval notices a restarted server; retries ride out the
    # moment a kill -9'd Redis comes back from its AOF.
    return redis.Redis.from_url(
        url,
        decode_responses=False,
        health_check_interval=10,
        socket_connect_timeout=2,
        socket_keepalive=True,
        retry_on_timeout=True,
    )


def as_bytes(value: bytes | str) -> bytes:
    """A reply value as bytes (it already is one on a connection that does not decode)."""
    return value if isinstance(value, bytes) else value.encode()


def as_text(value: bytes | str) -> str:
    """A reply value as text (UTF-8, strict: keys and ids this platform wrote)."""
    return value.decode() if isinstance(value, bytes) else value


def members(reply: ZSetRangeResponse) -> list[str]:
    """The members of a sorted-set range asked without scores (ZRANGE, ZRANGEBYSCORE, ...), as text."""
    out: list[str] = []
    for member in reply:
        if not isinstance(member, bytes | str):
            raise TypeError("a sorted-set range with scores; members() reads one without")
        out.append(as_text(member))
    return out


StreamEntry = tuple[bytes, dict[bytes, bytes] | None]  # (entry id, fields; None once the entry was deleted)


def group_entries(reply: XReadGroupResponse | None) -> list[StreamEntry]:
    """The entries of the one stream an XREADGROUP (or XREAD) asked for, from its RESP2 reply
    `[[stream, [(id, fields), ...]]]`; [] when it timed out."""
    if not reply:
        return []
    if not isinstance(reply, list):
        raise TypeError("a RESP3 stream reply; connections from carbon_common.redis_conn speak RESP2")
    entries: list[StreamEntry] = []
    for entry_id, fields in reply[0][1]:
        entries.append(
            (as_bytes(entry_id), None if fields is None else {as_bytes(k): as_bytes(v) for k, v in fields.items()})
        )
    return entries
