"""Storage of tax ingestion: the raw invoice partitions and the hot state in Redis.

Raw rows: $CARBON_DATA_DIR/invoices/month=YYYY-MM/b-<hash>-<attempt>.parquet (raw-data
contract, carbon_ingest.rawdata), filed under their accounting period (domain.py); every
attempt writes new files, invisible to readers until the batch's commit (the commit record,
carbon_ingest.rawdata.PENDING_KEY).
Redis (prefix carbon:ingest-tax:):
  batch:{uscc}:{request_id}    idempotency record: fp, result
  intent:{uscc}:{request_id}   files (month=YYYY-MM/<name>) a not-yet-committed batch may have
                               written (a bare YYYY-MM: an older release's deterministic name)
  lines:{uscc}                 {direction}:{invoice}:{line} -> digest|request_id of the batch that stored it
  periods:{uscc}               {direction}:{invoice} -> YYYY-MM, the period of each accepted blue invoice
  quarantine:{uscc}            {invoice}:{line} -> QuarantinedLine
  periods-migrated             set once record_periods_of_partitions has recorded the periods of older data
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import redis
from carbon.v1 import ingest_tax_pb2 as pb
from carbon_common import events
from carbon_common.redis_conn import as_bytes, as_text
from carbon_ingest import parquet_io, rawdata
from carbon_ingest.common import concurrent_attempt, fenced, redis_errors

from carbon_ingest_tax.classify import NON_ENERGY
from carbon_ingest_tax.domain import PeriodRow, invoice_key

P = "carbon:ingest-tax:"
PERIODS_MIGRATED = f"{P}periods-migrated"


@dataclass
class BatchCommit:
    """Everything one accepted batch records, in one MULTI/EXEC."""

    uscc: str
    request_id: str
    fp: str
    batch: str  # enterprises/{uscc}/invoiceBatches/{request_id}
    response: pb.IngestInvoicesResponse
    months: list[str]
    files: list[Path] = field(default_factory=list)  # written, made visible by the commit
    intent_size: int = 0  # entries of the intent once this attempt recorded its files (the commit checks it)
    new_lines: dict[str, str] = field(default_factory=dict)  # line key -> digest|request_id
    new_periods: dict[str, str] = field(default_factory=dict)  # invoice key -> YYYY-MM
    quarantined: dict[str, bytes] = field(default_factory=dict)  # {invoice}:{line} -> QuarantinedLine
    accepted: list[str] = field(default_factory=list)  # {invoice}:{line} that leave the quarantine


class TaxStore:
    def __init__(self, client: redis.Redis, data_dir: Path, ttl_days: int = 400) -> None:
        self.redis = client
        self.root = data_dir / "invoices"
        self.ledger = parquet_io.Ledger(client, self.root)
        self.ttl = ttl_days * 86400

    # ------------------------------------------------------------ idempotency and line records

    def batch_record(self, uscc: str, request_id: str) -> tuple[str, bytes] | None:
        """The stored (fingerprint, IngestInvoicesResponse bytes) of a batch, if it was stored."""
        with redis_errors():
            fp, result = self.redis.hmget(f"{P}batch:{uscc}:{request_id}", ["fp", "result"])
        return None if fp is None else (as_text(fp), as_bytes(result or b""))

    def seen_lines(self, uscc: str, line_keys: Sequence[str]) -> list[str | None]:
        """digest|request_id of each line stored before (None: never stored)."""
        with redis_errors():
            raw = self.redis.hmget(f"{P}lines:{uscc}", list(line_keys)) if line_keys else []
        return [None if value is None else as_text(value) for value in raw]

    def periods(self, uscc: str, invoice_keys: Sequence[str]) -> dict[str, str]:
        """The recorded period of each of these blue invoices that has one."""
        with redis_errors():
            raw = self.redis.hmget(f"{P}periods:{uscc}", list(invoice_keys)) if invoice_keys else []
        return {key: as_text(value) for key, value in zip(invoice_keys, raw, strict=True) if value is not None}

    @staticmethod
    def intent_key(commit: BatchCommit) -> str:
        return f"{P}intent:{commit.uscc}:{commit.request_id}"

    def commit(self, commit: BatchCommit) -> None:
        """Everything the batch records, and its files made visible, in one MULTI/EXEC. Fenced:
        it runs only if no other attempt of the batch recorded files since this one did."""
        uscc = commit.uscc
        with fenced(self.redis, [self.intent_key(commit)]) as pipe:
            if self.redis.scard(self.intent_key(commit)) != commit.intent_size:
                raise concurrent_attempt()
            pipe.multi()
            self.ledger.commit(pipe, commit.files)
            key = f"{P}batch:{uscc}:{commit.request_id}"
            pipe.hset(key, mapping={"fp": commit.fp, "result": commit.response.SerializeToString()})
            pipe.expire(key, self.ttl)
            if commit.new_lines:
                pipe.hset(f"{P}lines:{uscc}", mapping=commit.new_lines)  # type: ignore[arg-type]  # redis-py's mapping key type is invariant; str keys are fields
            if commit.new_periods:
                pipe.hset(f"{P}periods:{uscc}", mapping=commit.new_periods)  # type: ignore[arg-type]  # redis-py's mapping key type is invariant; str keys are fields
            if commit.quarantined:
                pipe.hset(f"{P}quarantine:{uscc}", mapping=commit.quarantined)  # type: ignore[arg-type]  # redis-py's mapping key type is invariant; str keys are fields
            if commit.accepted:
                pipe.hdel(f"{P}quarantine:{uscc}", *commit.accepted)
            pipe.delete(self.intent_key(commit))
            if commit.months:
                events.ACTIVITY.add(pipe, events.ActivityRecorded.now(uscc, "invoices", commit.months, commit.batch))
            pipe.execute()

    def quarantined(self, uscc: str) -> dict[str, bytes]:
        """{invoice}:{line} -> QuarantinedLine bytes, of every line held."""
        with redis_errors():
            entries = self.redis.hgetall(f"{P}quarantine:{uscc}")
        return {as_text(key): as_bytes(value) for key, value in entries.items()}

    # ------------------------------------------------------------ files

    def write_rows(self, commit: BatchCommit, rows: Sequence[PeriodRow]) -> None:
        """Rows into their period's partition (not necessarily the month of their issue_time),
        durable and invisible until `commit`; sets the commit's months and files. The files of
        the batch's uncommitted earlier attempts are deleted (its intent names them)."""
        base = parquet_io.batch_file_name("invoices", commit.uscc, commit.request_id)
        name = rawdata.attempt_name(base)
        by_month: dict[str, list[tuple[object, ...]]] = {}
        for entry in rows:
            by_month.setdefault(entry.period, []).append(entry.row.values())
        commit.months = sorted(by_month)
        commit.files = [parquet_io.month_dir(self.root, month) / name for month in commit.months]
        intent = self.intent_key(commit)
        own = {f"{path.parent.name}/{path.name}" for path in commit.files}
        with fenced(self.redis, [intent]) as fence:
            reads = self.redis.pipeline(transaction=False)
            reads.smembers(intent)
            reads.exists(f"{P}batch:{commit.uscc}:{commit.request_id}")
            members, committed = reads.execute()
            if committed:  # stored by another attempt since the caller looked
                raise concurrent_attempt()
            earlier = sorted(as_text(entry) for entry in members)
            commit.intent_size = len(set(earlier) | own)
            fence.multi()
            if own:
                fence.sadd(intent, *own)
                fence.expire(intent, self.ttl)
            self.ledger.announce(fence, commit.files)
            fence.execute()
        with redis_errors():
            self.ledger.discard(
                [
                    self.root / entry if "/" in entry else parquet_io.month_dir(self.root, entry) / base
                    for entry in earlier
                ]
            )
        parquet_io.write_many(
            [
                parquet_io.Part(pl.DataFrame(by_month[month], schema=rawdata.INVOICES_SCHEMA, orient="row"), path)
                for month, path in zip(commit.months, commit.files, strict=True)
            ],
            self.root,
        )

    # ------------------------------------------------------------ maintenance

    def record_periods_of_partitions(self) -> int:
        """One-off migration: record the period of every blue invoice stored before periods were
        recorded (read from the partitions it lies in), so their reversals are not held. Runs
        until done once per data set (marker key); idempotent, so replicas may race harmlessly.
        Returns the number of invoices recorded (0 when already done)."""
        with redis_errors():
            if self.redis.exists(PERIODS_MIGRATED):
                return 0
        data_dir = rawdata.Committed(self.root.parent, self.redis)
        recorded = 0
        for month in rawdata.months(data_dir, rawdata.INVOICES):
            scan = rawdata.scan_month(
                data_dir, rawdata.INVOICES, month, ["uscc", "direction", "invoice_number", "red_letter"]
            )
            if scan is None:
                continue
            blue = (
                scan.filter(~pl.col("red_letter") & (pl.col("invoice_number") != ""))
                .select("uscc", "direction", "invoice_number")
                .unique()
                .collect()
            )
            with redis_errors():
                pipe = self.redis.pipeline(transaction=False)
                for uscc, direction, number in blue.iter_rows():
                    pipe.hsetnx(f"{P}periods:{uscc}", invoice_key(direction, number), month)
                pipe.execute()
            recorded += blue.height
        with redis_errors():
            self.redis.set(PERIODS_MIGRATED, "1")
        return recorded

    def compact(self, min_files: int = 2) -> int:
        replaced = 0
        for month in parquet_io.months(self.root):
            replaced += parquet_io.compact_month(
                self.ledger,
                parquet_io.month_dir(self.root, month),
                keys=["uscc", "direction", "invoice_number", "line_number"],
                sort=["uscc", "issue_time", "invoice_number", "line_number"],
                keep_all=pl.col("energy_type").fill_null("") == NON_ENERGY,
                min_files=min_files,
            )
        return replaced

    def erase(self, uscc: str) -> dict[str, int]:
        counts = parquet_io.erase_enterprise(self.ledger, uscc).as_dict()
        deleted = 0
        with redis_errors():
            keys = [
                *self.redis.scan_iter(match=f"{P}*:{uscc}:*", count=1000),
                *self.redis.scan_iter(match=f"{P}*:{uscc}", count=1000),
            ]
            for i in range(0, len(keys), 500):
                deleted += int(self.redis.delete(*keys[i : i + 500]))
        counts["redis_keys_deleted"] = deleted
        return counts
