"""What consent's audit chain recorded of the access decisions pricing published (carbon:events:access)."""

from __future__ import annotations

import time
from typing import Any

import redis
from carbon_common import events, hashchain
from carbon_consent.access_audit import GROUP as ACCESS_AUDIT_GROUP
from carbon_consent.access_audit import KIND as ACCESS_DECIDED
from carbon_consent.audit import CHAIN as AUDIT_CHAIN


def access_audited(redis_url: str, timeout: float = 60.0) -> list[dict[str, Any]]:
    """Once consent's access-audit consumer has read and acknowledged everything on carbon:events:access
    (the point of the call): the bodies of consent's ACCESS_DECIDED audit entries, oldest first."""
    client = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + timeout
    while True:
        groups = {g["name"].decode(): g for g in client.xinfo_groups(events.ACCESS.name)}
        group = groups.get(ACCESS_AUDIT_GROUP)
        last = client.xrevrange(events.ACCESS.name, count=1)
        if group and group["pending"] == 0 and last and group["last-delivered-id"] == last[0][0]:
            break
        assert time.monotonic() < deadline, "consent did not consume the access stream"
        time.sleep(0.1)
    return [entry.body for entry in hashchain.read_entries(client, AUDIT_CHAIN) if entry.kind == ACCESS_DECIDED]
