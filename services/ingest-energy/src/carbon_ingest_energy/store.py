"""Durable storage of readings and the hot state in Redis.

Raw rows: $CARBON_DATA_DIR/readings/month=YYYY-MM/b-<hash>.parquet (the
contract with accounting), each file sorted by (uscc, meter_id, energy_type,
ts) with the `carbon.readings.index` footer entry (parquet_io.readings_index);
compaction writes compact-<maxseq>.parquet the same way, marked deduped. Redis (prefix carbon:ingest-energy:):
  meter:{uscc}:{meter}            Meter (protobuf bytes)
  meters:{uscc}                   zset of meter ids
  batch:{uscc}:{request_id}       idempotency record: fp, result (BatchResult bytes)
  intent:{uscc}:{request_id}      months a not-yet-committed batch may have written
  reg:{uscc}:{meter}              register points ts -> "end|start|replaced"
  regidx:{uscc}:{meter}           zset of register point timestamps
  cov:{uscc}:{meter}:{YYYY-MM}    bitmap: slot has a usable winning reading
  covflag:{uscc}:{meter}:{YYYY-MM} bitmap: slot's winning reading is flagged
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import redis
from carbon.v1 import ingest_energy_pb2 as pb
from carbon_ingest import parquet_io
from carbon_ingest.common import (
    ACTIVITY_STREAM,
    ACTIVITY_STREAM_MAXLEN,
    activity_event,
    redis_errors,
)

from carbon_ingest_energy.readings import (
    FLAG_NAMES,
    FLAG_NEGATIVE,
    FLAG_NONE,
    FLAG_SPIKE,
    MeterInfo,
    MonthSlice,
    Point,
    Rows,
)

log = logging.getLogger(__name__)
P = "carbon:ingest-energy:"

SCHEMA = {
    "uscc": pl.String,
    "meter_id": pl.String,
    "energy_type": pl.String,
    "ts": pl.Int64,
    "wh": pl.Int64,
    "seq": pl.Int64,
    "flag": pl.String,
}


def batch_key(uscc: str, request_id: str) -> str:
    return f"{P}batch:{uscc}:{request_id}"


def fingerprint(meter: str, timestamps: np.ndarray, values: np.ndarray, replacements: list[int]) -> str:
    digest = hashlib.blake2b(digest_size=16)
    digest.update(meter.encode())
    digest.update(np.ascontiguousarray(timestamps, dtype=np.int64).tobytes())
    digest.update(np.ascontiguousarray(values, dtype=np.int64).tobytes())
    digest.update(np.asarray(replacements, dtype=np.int64).tobytes())
    return digest.hexdigest()


def rows_frame(meter: MeterInfo, rows: Rows, seq: int) -> pl.DataFrame:
    """All rows of a batch as one frame (sliced per month without copying)."""
    n = len(rows)
    if bool(rows.flag.any()):
        flag = pl.Series("flag", rows.flag, dtype=pl.Int8).replace_strict(
            {0: None, **FLAG_NAMES},
            return_dtype=pl.String,  # type: ignore[dict-item]
        )
    else:
        flag = pl.Series("flag", [None], dtype=pl.String).new_from_index(0, n)
    return pl.DataFrame(
        [
            pl.Series("uscc", [meter.uscc], dtype=pl.String).new_from_index(0, n),
            pl.Series("meter_id", [meter.meter_id], dtype=pl.String).new_from_index(0, n),
            pl.Series("energy_type", [meter.energy_type], dtype=pl.String).new_from_index(0, n),
            pl.Series("ts", rows.ts, dtype=pl.Int64),
            pl.Series("wh", rows.wh, dtype=pl.Int64),
            pl.Series("seq", [seq], dtype=pl.Int64).new_from_index(0, n),
            flag.alias("flag"),
        ]
    )


@dataclass
class Commit:
    """What one accepted batch changes in Redis after its files are durable."""

    uscc: str
    request_id: str
    fp: str
    result: pb.BatchResult
    batch_name: str
    months: list[str]
    bitmaps: dict[str, bytes]
    points: dict[int, Point] | None = None
    point_keys: tuple[str, str] | None = None
    changed_points: set[int] | None = None


class ReadingStore:
    def __init__(self, client: redis.Redis, data_dir: Path, ttl_days: int = 400) -> None:
        self.redis = client
        self.root = data_dir / "readings"
        self.ttl_seconds = ttl_days * 86400

    # ------------------------------------------------------------ idempotency

    def lookup(self, uscc: str, request_id: str) -> tuple[str, pb.BatchResult] | None:
        with redis_errors():
            record = self.redis.hmget(batch_key(uscc, request_id), ["fp", "result"])
        return self.decode_record(record)

    @staticmethod
    def decode_record(record: list[bytes | None]) -> tuple[str, pb.BatchResult] | None:
        if record[0] is None:
            return None
        return record[0].decode(), pb.BatchResult.FromString(record[1] or b"")

    # ------------------------------------------------------------ files

    def file_name(self, meter: MeterInfo, request_id: str) -> str:
        return parquet_io.batch_file_name("readings", meter.uscc, meter.meter_id, request_id)

    def write_files(
        self, meter: MeterInfo, request_id: str, rows: Rows, slices: list[MonthSlice], seq: int
    ) -> tuple[list[str], list[bytes | None]]:
        """Write one file per month; remove files of an earlier attempt in months no longer written.
        Returns the months and the current coverage bitmaps (fetched in the same round trip)."""
        name = self.file_name(meter, request_id)
        months = [s.month for s in slices]
        intent_key = f"{P}intent:{meter.uscc}:{request_id}"
        cov_keys: list[str] = []
        for piece in slices:
            cov_keys.extend(self.cov_keys(meter.uscc, meter.meter_id, piece.month))
        with redis_errors():
            pipe = self.redis.pipeline(transaction=False)
            pipe.smembers(intent_key)
            if months:
                pipe.sadd(intent_key, *months)
                pipe.expire(intent_key, self.ttl_seconds)
            if cov_keys:
                pipe.mget(cov_keys)
            replies = pipe.execute()
        previous = {m.decode() for m in replies[0]}
        current: list[bytes | None] = replies[-1] if cov_keys else []
        frame = rows_frame(meter, rows, seq) if slices else None
        parquet_io.write_many(
            [
                (frame.slice(piece.lo, piece.hi - piece.lo), parquet_io.month_dir(self.root, piece.month) / name)
                for piece in slices
                if frame is not None
            ],
            self.root,
            index=True,  # sorted per meter + footer index (see parquet_io): accounting dedups from metadata
        )
        for stale in previous - set(months):
            path = parquet_io.month_dir(self.root, stale) / name
            if path.exists():
                path.unlink()
                parquet_io.fsync_dir(path.parent)
        return months, current

    # ------------------------------------------------------------ coverage

    @staticmethod
    def cov_keys(uscc: str, meter_id: str, month: str) -> tuple[str, str]:
        return f"{P}cov:{uscc}:{meter_id}:{month}", f"{P}covflag:{uscc}:{meter_id}:{month}"

    def coverage_updates(
        self, meter: MeterInfo, rows: Rows, slices: list[MonthSlice], current: list[bytes | None]
    ) -> dict[str, bytes]:
        """New coverage bitmaps for the months the batch touches (winning rows set the bits)."""
        keys: list[str] = []
        for piece in slices:
            keys.extend(self.cov_keys(meter.uscc, meter.meter_id, piece.month))
        updates: dict[str, bytes] = {}
        for i, piece in enumerate(slices):
            slots = (piece.end - piece.start) // meter.interval
            idx = (rows.ts[piece.lo : piece.hi] - piece.start) // meter.interval
            flags = rows.flag[piece.lo : piece.hi]
            for j, wanted in enumerate((flags == FLAG_NONE, (flags == FLAG_NEGATIVE) | (flags == FLAG_SPIKE))):
                raw = current[2 * i + j] or b""
                bits = np.unpackbits(np.frombuffer(raw, dtype=np.uint8), count=None)
                if bits.shape[0] < slots:
                    bits = np.concatenate([bits, np.zeros(slots - bits.shape[0], dtype=np.uint8)])
                bits[idx] = wanted.astype(np.uint8)
                updates[keys[2 * i + j]] = np.packbits(bits[:slots]).tobytes()
        return updates

    def bitmaps(self, uscc: str, meter_id: str, month: str) -> tuple[bytes, bytes]:
        with redis_errors():
            present, flagged = self.redis.mget(self.cov_keys(uscc, meter_id, month))
        return present or b"", flagged or b""

    # ------------------------------------------------------------ registers

    @staticmethod
    def reg_keys(meter: MeterInfo) -> tuple[str, str]:
        return f"{P}reg:{meter.uscc}:{meter.meter_id}", f"{P}regidx:{meter.uscc}:{meter.meter_id}"

    def load_points(self, meter: MeterInfo, lo: int, hi: int) -> tuple[dict[int, Point], int, int]:
        """Points in [lo, hi] plus the neighbours just outside; returns (points, window_lo, window_hi)."""
        values_key, index_key = self.reg_keys(meter)
        with redis_errors():
            pipe = self.redis.pipeline(transaction=False)
            pipe.zrangebyscore(index_key, lo, hi)
            pipe.zrevrangebyscore(index_key, f"({lo}", "-inf", start=0, num=1)
            pipe.zrangebyscore(index_key, f"({hi}", "+inf", start=0, num=1)
            inside, before, after = pipe.execute()
            stamps = [int(x) for x in [*before, *inside, *after]]
            raw = self.redis.hmget(values_key, [str(t) for t in stamps]) if stamps else []
        points = {t: Point.decode(r) for t, r in zip(stamps, raw, strict=True) if r is not None}
        window_lo = int(before[0]) if before else lo
        window_hi = int(after[0]) if after else hi
        return points, window_lo, window_hi

    # ------------------------------------------------------------ commit

    def commit(self, commit: Commit, event_source: str = "readings") -> None:
        """Idempotency record, hot state and the activity event in one MULTI/EXEC."""
        with redis_errors():
            pipe = self.redis.pipeline(transaction=True)
            key = batch_key(commit.uscc, commit.request_id)
            pipe.hset(key, mapping={"fp": commit.fp, "result": commit.result.SerializeToString()})
            pipe.expire(key, self.ttl_seconds)
            for bitmap_key, value in commit.bitmaps.items():
                pipe.set(bitmap_key, value)
            if commit.points is not None and commit.point_keys and commit.changed_points:
                values_key, index_key = commit.point_keys
                pipe.hset(values_key, mapping={str(t): commit.points[t].encode() for t in commit.changed_points})
                pipe.zadd(index_key, {str(t): t for t in commit.changed_points})
            pipe.delete(f"{P}intent:{commit.uscc}:{commit.request_id}")
            if commit.months:
                pipe.xadd(
                    ACTIVITY_STREAM,
                    activity_event(commit.uscc, event_source, commit.months, commit.batch_name),  # type: ignore[arg-type]
                    maxlen=ACTIVITY_STREAM_MAXLEN,
                    approximate=True,
                )
            pipe.execute()

    # ------------------------------------------------------------ maintenance

    def compact(self, min_files: int = 2) -> int:
        replaced = 0
        for month in parquet_io.months(self.root):
            replaced += parquet_io.compact_month(
                parquet_io.month_dir(self.root, month),
                keys=["uscc", "meter_id", "ts"],
                sort=["uscc", "meter_id", "ts"],
                min_files=min_files,
                index=True,
            )
        return replaced

    def erase(self, uscc: str) -> dict[str, int]:
        counts = parquet_io.erase_enterprise(self.root, uscc).as_dict()
        keys = 0
        with redis_errors():
            for pattern in (f"{P}*:{uscc}:*", f"{P}meters:{uscc}"):
                batch = list(self.redis.scan_iter(match=pattern, count=1000))
                for i in range(0, len(batch), 500):
                    keys += int(self.redis.delete(*batch[i : i + 500]))
        counts["redis_keys_deleted"] = keys
        return counts
