"""Redis storage of book snapshots: one immutable JSON document per snapshot, written once (SET NX)."""

from __future__ import annotations

import json
from typing import Any

import redis


def snapshot_key(bank: str, book: str, snapshot: str) -> str:
    return f"carbon:pricing:book:{bank}:{book}:{snapshot}"


class BookStore:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def create(self, bank: str, book: str, snapshot: str, doc: dict[str, Any]) -> dict[str, Any] | None:
        """Stores `doc` unless the snapshot exists; returns the existing document then (None when stored)."""
        key = snapshot_key(bank, book, snapshot)
        if self.redis.set(key, json.dumps(doc, separators=(",", ":")), nx=True):
            return None
        return self.get(bank, book, snapshot)

    def get(self, bank: str, book: str, snapshot: str) -> dict[str, Any] | None:
        raw = self.redis.get(snapshot_key(bank, book, snapshot))
        return None if raw is None else dict(json.loads(raw))
