"""Redis storage of book snapshots: one immutable JSON record per snapshot, written once (SET NX)."""

from __future__ import annotations

import redis
from pydantic import BaseModel, ConfigDict


class PositionRecord(BaseModel):
    """A stored position: the bank's row as validated (book.BookRow.doc(), what the digest covers)."""

    model_config = ConfigDict(frozen=True)

    position_id: str
    enterprise: str  # enterprises/{uscc}
    product: str
    outstanding_cny: str
    drawn_date: str
    maturity_date: str
    equity_plus_debt_cny: str
    listed: bool
    evic_cny: str  # "": not given
    revenue_cny: str  # "": not given
    industry_code: str
    region_code: str


class StoredSnapshot(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str  # banks/{bank}/books/{book}/snapshots/{date}
    digest: str  # sha256 of the positions (book.digest)
    position_count: int
    outstanding_cny: str
    create_time: str
    positions: list[PositionRecord]


def snapshot_key(bank: str, book: str, snapshot: str) -> str:
    return f"carbon:pricing:book:{bank}:{book}:{snapshot}"


def index_key(bank: str) -> str:
    """ZSET of the bank's "{book}/{snapshot}" (score 0: lexicographic = by book, then date)."""
    return f"carbon:pricing:books:{bank}"


class BookStore:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def create(self, bank: str, book: str, snapshot: str, record: StoredSnapshot) -> StoredSnapshot | None:
        """Stores `record` unless the snapshot exists; returns the existing record then (None when stored)."""
        key = snapshot_key(bank, book, snapshot)
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(key, record.model_dump_json(), nx=True)
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

    def get(self, bank: str, book: str, snapshot: str) -> StoredSnapshot | None:
        raw = self.redis.get(snapshot_key(bank, book, snapshot))
        return None if raw is None else StoredSnapshot.model_validate_json(raw)
