"""Durable storage of readings and the hot state in Redis.

Raw rows: $CARBON_DATA_DIR/readings/month=YYYY-MM/b-<hash>-<attempt>.parquet (the
contract with accounting), one file per month per *window* (the batches of a
stream that are written and committed together, see core.py), named by a
hash of the window's batches plus a fresh attempt id (files are immutable), each file sorted
by (uscc, meter_id, energy_type, ts) with the readings footer index (raw-data contract:
carbon_ingest.rawdata); compaction writes compact-<maxseq>-<attempt>.parquet the same way,
marked deduped. A file is invisible to readers until the window's commit (the commit record,
carbon_ingest.rawdata.PENDING_KEY). Redis (prefix carbon:ingest-energy:):
  meter:{uscc}:{meter}            Meter (protobuf bytes)
  meters:{uscc}                   zset of meter ids
  batch:{uscc}:{request_id}       idempotency record: fp, result (BatchResult bytes)
  intent:{uscc}:{request_id}      files (month=YYYY-MM/b-….parquet) a not-yet-committed batch may have written
  reg:{uscc}:{meter}              register points ts -> "end|start|replaced"
  regidx:{uscc}:{meter}           zset of register point timestamps
  cov:{uscc}:{meter}:{YYYY-MM}    bitmap: slot has a usable winning reading
  covflag:{uscc}:{meter}:{YYYY-MM} bitmap: slot's winning reading is flagged
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import redis
from carbon.v1 import ingest_energy_pb2 as pb
from carbon_common import events
from carbon_common.redis_conn import as_bytes, as_text, members
from carbon_ingest import parquet_io, rawdata
from carbon_ingest.common import DRAIN_KEY, concurrent_attempt, fenced, redis_errors

from carbon_ingest_energy.domain import (
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
    """All rows of a batch as one frame (sliced per month without copying), in the contract's
    READINGS_SCHEMA (carbon_ingest.rawdata; tests/ingest/test_rawdata_contract.py checks it)."""
    n = len(rows)
    if bool(rows.flag.any()):
        flag = pl.Series("flag", rows.flag, dtype=pl.Int8).replace_strict(
            {0: None, **FLAG_NAMES},
            return_dtype=pl.String,
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
class Staged:
    """One batch of a window, ready to be written: its rows, month slices and ingest seq.
    Register meters also carry the merged points to commit."""

    meter: MeterInfo
    request_id: str
    fp: str
    rows: Rows
    slices: list[MonthSlice]
    seq: int
    points: dict[int, Point] | None = None
    changed_points: set[int] | None = None
    result: pb.BatchResult = field(default_factory=pb.BatchResult)
    intent_size: int = 0  # entries of its intent once this attempt recorded its files (the commit checks it)

    @property
    def key(self) -> tuple[str, str, str]:
        """The readings index key: files list a window's batches in this order."""
        return (self.meter.uscc, self.meter.meter_id, self.meter.energy_type)

    @property
    def months(self) -> list[str]:
        return [piece.month for piece in self.slices]

    @property
    def batch_name(self) -> str:
        return f"{self.meter.name}/batches/{self.request_id}"


def intent_key(uscc: str, request_id: str) -> str:
    return f"{P}intent:{uscc}:{request_id}"


class ReadingStore:
    def __init__(self, client: redis.Redis, data_dir: Path, ttl_days: int = 400) -> None:
        self.redis = client
        self.root = data_dir / "readings"
        self.ledger = parquet_io.Ledger(client, self.root)
        self.ttl_seconds = ttl_days * 86400

    # ------------------------------------------------------------ meters

    def meter_key(self, uscc: str, meter_id: str) -> str:
        return f"{P}meter:{uscc}:{meter_id}"

    def add_meter(self, uscc: str, meter_id: str, meter: pb.Meter) -> pb.Meter | None:
        """Store a new meter; the one already registered under that id instead, if any."""
        key = self.meter_key(uscc, meter_id)
        with redis_errors():
            if not self.redis.set(key, meter.SerializeToString(), nx=True):
                return pb.Meter.FromString(self.redis.get(key) or b"")
            self.redis.zadd(f"{P}meters:{uscc}", {meter_id: 0})
        return None

    def meter(self, uscc: str, meter_id: str) -> pb.Meter | None:
        with redis_errors():
            raw = self.redis.get(self.meter_key(uscc, meter_id))
        return None if raw is None else pb.Meter.FromString(raw)

    def meter_ids_after(self, uscc: str, after: str, count: int) -> list[str]:
        """At most `count` meter ids of the enterprise after `after` (all from the first when empty), in order."""
        start = f"({after}" if after else "-"
        with redis_errors():
            return [as_text(m) for m in self.redis.zrangebylex(f"{P}meters:{uscc}", start, "+", start=0, num=count)]

    def meter_ids(self, uscc: str) -> list[str]:
        with redis_errors():
            return members(self.redis.zrange(f"{P}meters:{uscc}", 0, -1))

    # ------------------------------------------------------------ idempotency

    def drain_and_record(self, uscc: str, request_id: str) -> tuple[bool, tuple[str, pb.BatchResult] | None]:
        """Whether ingestion is drained, and the batch's idempotency record: one round trip."""
        with redis_errors():
            pipe = self.redis.pipeline(transaction=False)
            pipe.get(DRAIN_KEY)
            pipe.hmget(batch_key(uscc, request_id), ["fp", "result"])
            drain, record = pipe.execute()
        return drain is not None and drain.strip() in (b"1", b"true"), self.decode_record(record)

    def lookup_many(self, keys: list[tuple[str, str]]) -> list[tuple[str, pb.BatchResult] | None]:
        """Idempotency records of (uscc, request_id) pairs, one round trip."""
        with redis_errors():
            pipe = self.redis.pipeline(transaction=False)
            for uscc, request_id in keys:
                pipe.hmget(batch_key(uscc, request_id), ["fp", "result"])
            return [self.decode_record(record) for record in pipe.execute()]

    @staticmethod
    def decode_record(record: list[bytes | None]) -> tuple[str, pb.BatchResult] | None:
        if record[0] is None:
            return None
        return record[0].decode(), pb.BatchResult.FromString(record[1] or b"")

    # ------------------------------------------------------------ files

    @staticmethod
    def window_file_name(window: list[Staged]) -> str:
        """The window's content hash plus a fresh attempt id: every attempt writes new files."""
        return rawdata.attempt_name(
            parquet_io.batch_file_name(
                "readings", *[f"{s.meter.uscc}/{s.meter.meter_id}/{s.request_id}/{s.fp}" for s in window]
            )
        )

    def write_window(self, window: list[Staged]) -> tuple[list[Staged], list[list[bytes | None]], list[Path]]:
        """Durably write the window's rows, one file per month holding every batch's rows of
        that month in key order, invisible until `commit`; delete the files of earlier attempts
        of these batches that never committed. Returns the window in key order, each batch's
        current coverage bitmaps (fetched in the same round trip) and the files written.

        Intent first: before any file exists, each batch's intent names the files it may have
        written and the commit record announces them, so a retry after a crash finds and deletes
        them (they hold only uncommitted batches: a window commits all its batches, makes its
        files visible and deletes their intents in one MULTI)."""
        window = sorted(window, key=lambda s: s.key)
        name = self.window_file_name(window)

        def file(month: str) -> str:  # relative to the readings root, as intents record it
            return f"month={month}/{name}"

        months = sorted({month for s in window for month in s.months})
        intents = [intent_key(s.meter.uscc, s.request_id) for s in window]
        bitmaps_at: list[int | None] = []
        with fenced(self.redis, intents) as fence:
            reads = self.redis.pipeline(transaction=False)
            for key in intents:
                reads.smembers(key)
            reads.exists(*[batch_key(s.meter.uscc, s.request_id) for s in window])
            for s in window:
                cov_keys = [k for piece in s.slices for k in self.cov_keys(s.meter.uscc, s.meter.meter_id, piece.month)]
                bitmaps_at.append(len(reads) if cov_keys else None)
                if cov_keys:
                    reads.mget(cov_keys)
            replies = reads.execute()
            if replies[len(intents)]:  # committed by another attempt since the caller looked
                raise concurrent_attempt()
            fence.multi()
            for i, (s, key) in enumerate(zip(window, intents, strict=True)):
                # added to, never replaced: an entry is dropped only by the commit (or expiry)
                own = {file(month) for month in s.months}
                s.intent_size = len({entry.decode() for entry in replies[i]} | own)
                if own:
                    fence.sadd(key, *own)
                    fence.expire(key, self.ttl_seconds)
            self.ledger.announce(fence, [self.root / file(month) for month in months])
            fence.execute()
        earlier = {entry.decode() for at in range(len(intents)) for entry in replies[at]}
        current = [replies[at] if at is not None else [] for at in bitmaps_at]
        frames = [rows_frame(s.meter, s.rows, s.seq) for s in window]
        parts: list[parquet_io.Part] = []
        for month in months:
            pieces = [(f, p) for s, f in zip(window, frames, strict=True) for p in s.slices if p.month == month]
            parts.append(
                parquet_io.Part(
                    pl.concat([f.slice(p.lo, p.hi - p.lo) for f, p in pieces]),
                    self.root / file(month),
                    [p.hi - p.lo for _, p in pieces],
                )
            )
        with redis_errors():
            self.ledger.discard([self.root / f for f in sorted(earlier)])
        # sorted per meter + footer index (see parquet_io): accounting dedups from metadata
        parquet_io.write_many(parts, self.root, index=True)
        return window, current, [part.path for part in parts]

    # ------------------------------------------------------------ coverage

    @staticmethod
    def cov_keys(uscc: str, meter_id: str, month: str) -> tuple[str, str]:
        return f"{P}cov:{uscc}:{meter_id}:{month}", f"{P}covflag:{uscc}:{meter_id}:{month}"

    def coverage_updates(self, staged: Staged, current: list[bytes | None]) -> dict[str, bytes]:
        """New coverage bitmaps for the months the batch touches (winning rows set the bits)."""
        meter, rows = staged.meter, staged.rows
        updates: dict[str, bytes] = {}
        for i, piece in enumerate(staged.slices):
            keys = self.cov_keys(meter.uscc, meter.meter_id, piece.month)
            slots = (piece.end - piece.start) // meter.interval
            idx = (rows.ts[piece.lo : piece.hi] - piece.start) // meter.interval
            flags = rows.flag[piece.lo : piece.hi]
            for j, wanted in enumerate((flags == FLAG_NONE, (flags == FLAG_NEGATIVE) | (flags == FLAG_SPIKE))):
                raw = current[2 * i + j] or b""
                bits = np.unpackbits(np.frombuffer(raw, dtype=np.uint8), count=None)
                if bits.shape[0] < slots:
                    bits = np.concatenate([bits, np.zeros(slots - bits.shape[0], dtype=np.uint8)])
                bits[idx] = wanted.astype(np.uint8)
                updates[keys[j]] = np.packbits(bits[:slots]).tobytes()
        return updates

    def bitmaps(self, uscc: str, meter_id: str, month: str) -> tuple[bytes, bytes]:
        with redis_errors():
            present, flagged = self.redis.mget(self.cov_keys(uscc, meter_id, month))
        return as_bytes(present or b""), as_bytes(flagged or b"")

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
        points = {t: Point.decode(as_bytes(r)) for t, r in zip(stamps, raw, strict=True) if r is not None}
        window_lo = int(before[0]) if before else lo
        window_hi = int(after[0]) if after else hi
        return points, window_lo, window_hi

    # ------------------------------------------------------------ commit

    def commit(
        self, window: list[Staged], bitmaps: list[dict[str, bytes]], files: list[Path], event_source: str = "readings"
    ) -> None:
        """Every batch's idempotency record, hot state and activity event, and the window's files
        made visible, in one MULTI/EXEC. Fenced: it runs only if no other attempt of these
        batches recorded files since this one did (see carbon_ingest.common.fenced)."""
        intents = [intent_key(s.meter.uscc, s.request_id) for s in window]
        with fenced(self.redis, intents) as pipe:
            sizes = self.redis.pipeline(transaction=False)
            for key in intents:
                sizes.scard(key)
            if sizes.execute() != [s.intent_size for s in window]:
                raise concurrent_attempt()
            pipe.multi()
            self.ledger.commit(pipe, files)
            for staged, updates in zip(window, bitmaps, strict=True):
                key = batch_key(staged.meter.uscc, staged.request_id)
                pipe.hset(key, mapping={"fp": staged.fp, "result": staged.result.SerializeToString()})
                pipe.expire(key, self.ttl_seconds)
                for bitmap_key, value in updates.items():
                    pipe.set(bitmap_key, value)
                if staged.points is not None and staged.changed_points:
                    values_key, index_key = self.reg_keys(staged.meter)
                    pipe.hset(values_key, mapping={str(t): staged.points[t].encode() for t in staged.changed_points})
                    pipe.zadd(index_key, {str(t): t for t in staged.changed_points})
                pipe.delete(intent_key(staged.meter.uscc, staged.request_id))
                if staged.months:
                    recorded = events.ActivityRecorded.now(
                        staged.meter.uscc, event_source, staged.months, staged.batch_name
                    )
                    events.ACTIVITY.add(pipe, recorded)
            pipe.execute()

    # ------------------------------------------------------------ maintenance

    def compact(self, min_files: int = 2, large_rows: int | None = None) -> int:
        """Merge a month's files once it has min_files of them. With `large_rows`, tiered: only
        files below that many rows are merged (a live feed's window files and the small file
        earlier compactions made of them), so a big month is never rewritten for a few new
        readings, and the files a recompute opens stay bounded by
        large files + min_files + the windows written between two compactions."""
        replaced = 0
        for month in parquet_io.months(self.root):
            directory = parquet_io.month_dir(self.root, month)
            files = self.ledger.committed_files(directory)
            if large_rows is not None and len(files) >= min_files:
                files = [f for f in files if rawdata.row_count(parquet_io.location(f)) < large_rows]
            replaced += parquet_io.compact_month(
                self.ledger,
                directory,
                keys=["uscc", "meter_id", "ts"],
                sort=["uscc", "meter_id", "ts"],
                min_files=min_files,
                index=True,
                files=files,
            )
        return replaced

    def erase(self, uscc: str) -> dict[str, int]:
        counts = parquet_io.erase_enterprise(self.ledger, uscc).as_dict()
        keys = 0
        with redis_errors():
            for pattern in (f"{P}*:{uscc}:*", f"{P}meters:{uscc}"):
                batch = list(self.redis.scan_iter(match=pattern, count=1000))
                for i in range(0, len(batch), 500):
                    keys += int(self.redis.delete(*batch[i : i + 500]))
        counts["redis_keys_deleted"] = keys
        return counts
