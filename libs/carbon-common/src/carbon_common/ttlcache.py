"""A small thread-safe cache of answers that may be reused for a few seconds at most (bank API keys,
consent decisions: a revocation must still bite everywhere within that time)."""

from __future__ import annotations

import threading
import time
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """Entries live `seconds` (0: nothing is kept); past `max_entries` the cache starts over, so memory
    stays bounded whatever the keys (one per API key, or per enterprise x grantee x period)."""

    def __init__(self, seconds: float, max_entries: int = 10_000) -> None:
        self.seconds = seconds
        self.max_entries = max_entries
        self._entries: dict[K, tuple[float, V]] = {}
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        if not self.seconds:
            return None
        with self._lock:
            hit = self._entries.get(key)
        if hit is None or time.monotonic() - hit[0] >= self.seconds:
            return None
        return hit[1]

    def put(self, key: K, value: V, since: float) -> None:
        """Keep `value`, fresh as of `since` (time.monotonic() before it was asked for)."""
        if not self.seconds:
            return
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[key] = (since, value)
