"""carbon_common.ttlcache: what the bank-key and consent-decision caches may reuse, and for how long."""

from __future__ import annotations

import time

from carbon_common.ttlcache import TtlCache


def test_an_answer_is_reused_within_its_lifetime_only() -> None:
    cache: TtlCache[str, str] = TtlCache(1.0)
    now = time.monotonic()
    cache.put("fresh", "a", now)
    cache.put("stale", "b", now - 1.0)  # asked a full second ago: no longer usable
    assert cache.get("fresh") == "a"
    assert cache.get("stale") is None
    assert cache.get("never") is None


def test_zero_seconds_keeps_nothing() -> None:
    cache: TtlCache[str, str] = TtlCache(0.0)
    cache.put("k", "v", time.monotonic())
    assert cache.get("k") is None


def test_memory_stays_bounded_whatever_the_keys() -> None:
    cache: TtlCache[int, int] = TtlCache(60.0, max_entries=3)
    now = time.monotonic()
    for key in range(3):
        cache.put(key, key, now)
    assert [cache.get(k) for k in range(3)] == [0, 1, 2]
    cache.put(3, 3, now)  # the fourth key starts the cache over
    assert [cache.get(k) for k in range(4)] == [None, None, None, 3]
