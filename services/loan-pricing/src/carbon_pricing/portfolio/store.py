"""Redis storage of the loan book (all under carbon:pricing:):

book:{bank}:{book}:{snapshot}  one immutable JSON record per snapshot (StoredSnapshot), written once (SET NX)
books:{bank}                   ZSET of the bank's "{book}/{snapshot}"
run:{bank}:{run}               JSON re-pricing run record (RunRecord: state, progress, summary)
run:{bank}:{run}:results       HASH position_id -> result JSON (a simulated quote, or NotPriced)
runs:{bank}                    ZSET run id by create time (ms)
runs:queue / runs:taken        LISTs of "{bank}/{run}" waiting / being worked on
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import redis
from carbon_common.redis_conn import members

from carbon_pricing.domain import POSITION_RESULT, NotPriced, PositionResult
from carbon_pricing.portfolio.domain import RunRecord, StoredSnapshot
from carbon_pricing.store import run_results_key

PREFIX = "carbon:pricing:"
QUEUE = PREFIX + "runs:queue"
TAKEN = PREFIX + "runs:taken"
STALE_SECONDS = 60.0  # a taken run whose worker has not beaten for this long goes back to the queue


def snapshot_key(bank: str, book: str, snapshot: str) -> str:
    return f"{PREFIX}book:{bank}:{book}:{snapshot}"


def index_key(bank: str) -> str:
    """ZSET of the bank's "{book}/{snapshot}" (score 0: lexicographic = by book, then date)."""
    return f"{PREFIX}books:{bank}"


def run_key(bank: str, run: str) -> str:
    return f"{PREFIX}run:{bank}:{run}"


def results_key(bank: str, run: str) -> str:
    return run_results_key(f"banks/{bank}/repricingRuns/{run}")


def runs_index_key(bank: str) -> str:
    return f"{PREFIX}runs:{bank}"


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


class RunStore:
    """Re-pricing runs: their records, results, per-bank index and the work queue."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def create(self, bank: str, run: str, record: RunRecord) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(run_key(bank, run), record.model_dump_json())
        pipe.zadd(runs_index_key(bank), {run: int(time.time() * 1000)})
        pipe.lpush(QUEUE, f"{bank}/{run}")
        pipe.execute()

    def get(self, bank: str, run: str) -> RunRecord | None:
        raw = self.redis.get(run_key(bank, run))
        return None if raw is None else RunRecord.model_validate_json(raw)

    def update(self, bank: str, run: str, record: RunRecord, **fields: object) -> RunRecord:
        """`record` with `fields` changed (validated), stored over the run's record."""
        updated = RunRecord.model_validate({**record.model_dump(), **fields})
        self.redis.set(run_key(bank, run), updated.model_dump_json())
        return updated

    def page(self, bank: str, offset: int, size: int) -> tuple[list[RunRecord], bool]:
        ids = members(self.redis.zrevrange(runs_index_key(bank), offset, offset + size))
        raws = self.redis.mget([run_key(bank, i) for i in ids[:size]]) if ids else []
        return [RunRecord.model_validate_json(r) for r in raws if r], len(ids) > size

    def done(self, bank: str, run: str) -> set[str]:
        return {k.decode() if isinstance(k, bytes) else str(k) for k in self.redis.hkeys(results_key(bank, run))}

    def results(self, bank: str, run: str) -> list[PositionResult]:
        return [POSITION_RESULT.validate_json(v) for v in self.redis.hvals(results_key(bank, run))]

    def store_unpriced(self, bank: str, run: str, results: Sequence[PositionResult]) -> None:
        """The positions that could not be quoted (the simulated ones are stored with their log entries)."""
        unpriced = [r for r in results if isinstance(r, NotPriced)]
        if unpriced:
            pipe = self.redis.pipeline(transaction=False)
            for r in unpriced:
                pipe.hset(results_key(bank, run), r.position_id, r.model_dump_json())
            pipe.execute()

    def take(self) -> tuple[str, str] | None:
        raw = self.redis.lmove(QUEUE, TAKEN, "RIGHT", "LEFT")
        if raw is None:
            return None
        bank, _, run = (raw.decode() if isinstance(raw, bytes) else str(raw)).partition("/")
        return bank, run

    def release(self, bank: str, run: str) -> None:
        self.redis.lrem(TAKEN, 0, f"{bank}/{run}")

    def requeue_stale(self, now: float) -> int:
        """Runs taken by a worker that stopped beating (a dead replica) go back to the queue."""
        moved = 0
        for raw in self.redis.lrange(TAKEN, 0, -1):
            item = raw.decode() if isinstance(raw, bytes) else str(raw)
            bank, _, run = item.partition("/")
            record = self.get(bank, run)
            if record is None or record.state in ("SUCCEEDED", "FAILED"):
                self.redis.lrem(TAKEN, 0, item)
            elif now - record.heartbeat > STALE_SECONDS and self.redis.lrem(TAKEN, 1, item):
                self.redis.lpush(QUEUE, item)
                moved += 1
        return moved
