"""Redis storage of book snapshots: one immutable JSON document per snapshot, written once (SET NX)."""

from __future__ import annotations

import json
from typing import Any

import redis


def snapshot_key(bank: str, book: str, snapshot: str) -> str:
    return f"carbon:pricing:book:{bank}:{book}:{snapshot}"


def index_key(bank: str) -> str:
    """ZSET of the bank's "{book}/{snapshot}" (score 0: lexicographic = by book, then date)."""
    return f"carbon:pricing:books:{bank}"


class BookStore:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def create(self, bank: str, book: str, snapshot: str, doc: dict[str, Any]) -> dict[str, Any] | None:
        """Stores `doc` unless the snapshot exists; returns the existing document then (None when stored)."""
        key = snapshot_key(bank, book, snapshot)
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(key, json.dumps(doc, separators=(",", ":")), nx=True)
        pipe.zadd(index_key(bank), {f"{book}/{snapshot}": 0})  # idempotent: also when it already existed
        stored, _ = pipe.execute()
        if stored:
            return None
        return self.get(bank, book, snapshot)

    def snapshots(self, bank: str, limit: int = 1000) -> list[tuple[str, str]]:
        """The bank's (book, snapshot) pairs, by book then date (at most `limit`)."""
        members = self.redis.zrange(index_key(bank), 0, limit - 1)
        pairs = [(m.decode() if isinstance(m, bytes) else str(m)).split("/", 1) for m in members]
        return [(p[0], p[1]) for p in pairs if len(p) == 2]

    def get(self, bank: str, book: str, snapshot: str) -> dict[str, Any] | None:
        raw = self.redis.get(snapshot_key(bank, book, snapshot))
        return None if raw is None else dict(json.loads(raw))
