"""Durable Parquet partitions: atomic writes, compaction, erasure rewrites.

A file is written to `<name>.tmp-<pid>`, flushed and fsync'd, renamed over its
final name, and the directory is fsync'd: a reader sees either nothing or the
whole file, and after the call returns the file survives a crash. Batch files
have deterministic names, so a retried batch replaces (never doubles) a file
left behind by a crash between the write and the idempotency record.

(This module is identical in carbon_ingest_tax and carbon_ingest_energy; it is
a candidate for carbon_common.)

Readings index (`index=True`, used for `readings/`; contract with accounting,
read by carbon_accounting.activity.plan_readings): the frame is
sorted by (uscc, meter_id, energy_type, ts, seq) before it is written, so the
rows of one meter are contiguous; they are cut into *segments* (runs whose
consecutive ts are at most RUN_GAP_SECONDS apart, so a sparse meter's ranges
stay tight), and the Parquet footer carries the key-value entry
`carbon.readings.index` (JSON, version 1):

    {"version": 1, "keys": ["uscc", "meter_id", "energy_type"], "rows": N,
     "deduped": bool,                       # no (key, ts) occurs twice (compaction output)
     "segments": {"uscc": [...], "meter_id": [...], "energy_type": [...],
                  "rows": [...],            # segment i = rows [sum(rows[:i]), sum(rows[:i+1])), one key
                  "min_ts": [...], "max_ts": [...],
                  "unique": [0|1, ...],     # 1: no ts repeats inside the segment
                  "flagged": [...]}}        # rows with a non-null flag

Within a segment ts ascends. The index is computed from the very rows written,
inside the same file, so it can never disagree with them (readers still check
the row count and ignore an index that does not match). Readers use it to
find, from metadata alone, the (meter, ts-range) windows where two files
overlap; every other row is unique. Erasure rewrites keep (recompute) it.
Files are written LZ4 with row groups of READINGS_ROW_GROUP rows (cheap to
decode column by column).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import polars as pl

log = logging.getLogger(__name__)

READINGS_INDEX_KEY = "carbon.readings.index"
READINGS_INDEX_VERSION = 1
READINGS_INDEX_KEYS = ("uscc", "meter_id", "energy_type")
READINGS_ROW_GROUP = 1 << 20
READINGS_COMPRESSION = "lz4"
RUN_GAP_SECONDS = 6 * 3600


def index_segments(ordered: pl.DataFrame, gap: int | None = None) -> pl.DataFrame:
    """Segments of a frame sorted by (key, ts): maximal runs of rows with the same key whose
    consecutive ts are at most `gap` seconds apart (a sparse meter splits into several runs,
    so its windows stay tight)."""
    gap = RUN_GAP_SECONDS if gap is None else gap
    keys = list(READINGS_INDEX_KEYS)
    starts = pl.any_horizontal(
        *[pl.col(k).ne_missing(pl.col(k).shift(1)) for k in keys],
        (pl.col("ts") - pl.col("ts").shift(1)) > gap,
    ).fill_null(True)
    return (
        ordered.select(*keys, "ts", "flag")
        .with_columns(starts.cast(pl.Int64).cum_sum().alias("_run"))
        .group_by("_run", maintain_order=True)
        .agg(
            *[pl.col(k).first() for k in keys],
            pl.len().cast(pl.Int64).alias("rows"),
            pl.col("ts").min().alias("min_ts"),
            pl.col("ts").max().alias("max_ts"),
            (pl.col("ts").n_unique() == pl.len()).cast(pl.Int8).alias("unique"),
            pl.col("flag").is_not_null().sum().cast(pl.Int64).alias("flagged"),
        )
        .drop("_run")
    )


def presorted_segments(frame: pl.DataFrame, runs: Sequence[int] | None = None) -> dict[str, list[Any]] | None:
    """index_segments (as lists) for a frame that is already in index order, without sorting:
    the frame is `runs` consecutive row runs (the whole frame when None), each of one key with
    strictly increasing ts, keys ascending from run to run. That is how ingestion writes (each
    meter's batch is sorted; a window's batches are concatenated in key order), so the hot path
    is numpy on ts. Everything is checked; None when the frame is not of that shape."""
    runs = [frame.height] if runs is None else list(runs)
    if frame.height == 0 or sum(runs) != frame.height or min(runs) <= 0:
        return None
    bounds = np.cumsum([0, *runs])
    run_keys: list[tuple[Any, ...]] = []
    for lo, hi in itertools.pairwise(bounds.tolist()):
        key = []
        for name in READINGS_INDEX_KEYS:
            column = frame[name].slice(lo, hi - lo)
            if column.null_count() or column.min() != column.max():  # min == max: one value
                return None
            key.append(column[0])
        run_keys.append(tuple(key))
    if any(a >= b for a, b in itertools.pairwise(run_keys)):  # str order is polars' (UTF-8 byte) order
        return None
    ts = frame["ts"].to_numpy()
    steps = np.diff(ts)
    inside = np.ones(steps.shape[0], dtype=bool)
    inside[bounds[1:-1] - 1] = False  # the step from one run into the next compares different keys
    if not bool((steps[inside] > 0).all()):
        return None
    starts = np.union1d(bounds[:-1], np.flatnonzero(inside & (steps > RUN_GAP_SECONDS)) + 1)
    ends = np.append(starts[1:], frame.height)
    flagged = np.add.reduceat(frame["flag"].is_not_null().to_numpy().astype(np.int64), starts)
    owner = np.searchsorted(bounds, starts, side="right") - 1  # the run each segment lies in
    count = int(starts.shape[0])
    return {
        **{name: [run_keys[r][k] for r in owner.tolist()] for k, name in enumerate(READINGS_INDEX_KEYS)},
        "rows": (ends - starts).tolist(),
        "min_ts": ts[starts].tolist(),
        "max_ts": ts[ends - 1].tolist(),
        "unique": [1] * count,
        "flagged": flagged.tolist(),
    }


def readings_index(
    frame: pl.DataFrame, *, deduped: bool = False, runs: Sequence[int] | None = None
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """A readings frame in index order (sorted unless it already is) and its footer index (see
    the module docstring). `runs`: the frame's row runs if the writer built it presorted (see
    presorted_segments)."""
    keys = list(READINGS_INDEX_KEYS)
    segments = presorted_segments(frame, runs)
    if segments is not None:
        ordered = frame  # already sorted by (key, ts, seq), ts unique per key
    else:
        ordered = frame.sort([*keys, "ts", "seq"], nulls_last=False, maintain_order=True)
        segments = index_segments(ordered).to_dict(as_series=False)
    index = {
        "version": READINGS_INDEX_VERSION,
        "keys": keys,
        "rows": ordered.height,
        "deduped": bool(deduped) and all(segments["unique"]),
        "segments": segments,
    }
    return ordered, index


def _parquet_options(index: dict[str, Any] | None) -> dict[str, Any]:
    if index is None:
        return {"compression": "snappy", "statistics": True}
    return {
        "compression": READINGS_COMPRESSION,
        "statistics": True,
        "row_group_size": READINGS_ROW_GROUP,
        "metadata": {READINGS_INDEX_KEY: json.dumps(index, separators=(",", ":"))},
    }


def _prepare(
    df: pl.DataFrame, index: bool, deduped: bool = False, runs: Sequence[int] | None = None
) -> tuple[pl.DataFrame, dict[str, Any]]:
    if not index:
        return df, _parquet_options(None)
    ordered, meta = readings_index(df, deduped=deduped, runs=runs)
    return ordered, _parquet_options(meta)


def has_readings_index(path: Path) -> bool:
    try:
        return READINGS_INDEX_KEY in (pl.read_parquet_metadata(path) or {})
    except Exception:  # unreadable footer: treat as a plain file
        return False


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def month_dir(root: Path, month: str) -> Path:
    return root / f"month={month}"


def write_atomic(
    df: pl.DataFrame, path: Path, *, index: bool = False, deduped: bool = False, runs: Sequence[int] | None = None
) -> None:
    """Write df to path: tmp + fsync + rename + fsync(dir). index=True: sorted + readings index."""
    df, options = _prepare(df, index, deduped, runs)
    created = not path.parent.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    if created:
        fsync_dir(path.parent.parent)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as handle:
        df.write_parquet(handle, **options)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def _load_syncfs():  # type: ignore[no-untyped-def]
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.syncfs
    except (OSError, AttributeError):
        return None


_SYNCFS = _load_syncfs()


def sync_filesystem(path: Path) -> bool:
    """syncfs(2): flush every dirty file and directory entry of path's filesystem.
    One call instead of one fsync per file and directory; False when unavailable."""
    if _SYNCFS is None:
        return False
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return int(_SYNCFS(fd)) == 0
    finally:
        os.close(fd)


class Part(NamedTuple):
    """One file of a write_many call; `runs` as in presorted_segments (readings only)."""

    frame: pl.DataFrame
    path: Path
    runs: Sequence[int] | None = None


def write_many(
    items: Sequence[tuple[pl.DataFrame, Path] | Part],
    root: Path,
    *,
    index: bool = False,
    remove: Sequence[Path] = (),
) -> None:
    """Atomically and durably write several files (a batch's month partitions).

    `remove`: files of an earlier attempt that never committed, unlinked first.
    All temporary files are written, made durable with one syncfs (falling
    back to an fsync per file), renamed into place, and the renames and
    removals made durable with a second syncfs (or an fsync per directory).
    A crash leaves each file either absent/old or complete; none is visible
    half-written.
    """
    parts = [Part(*item) for item in items]
    for path in remove:
        path.unlink(missing_ok=True)
    if _SYNCFS is None or (len(parts) == 1 and not remove):
        for part in parts:
            write_atomic(part.frame, part.path, index=index, runs=part.runs)
        for directory in {path.parent for path in remove if path.parent.exists()}:
            fsync_dir(directory)
        return
    root.mkdir(parents=True, exist_ok=True)
    pending = []
    for part in parts:
        part.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = part.path.with_name(f".{part.path.name}.tmp-{os.getpid()}")
        frame, options = _prepare(part.frame, index, runs=part.runs)
        frame.write_parquet(tmp, **options)
        pending.append((tmp, part.path))
    if not sync_filesystem(root):
        for tmp, _ in pending:
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
    for tmp, path in pending:
        os.replace(tmp, path)
    if not sync_filesystem(root):
        for directory in {path.parent for _, path in pending} | {p.parent for p in remove if p.parent.exists()}:
            fsync_dir(directory)


def batch_file_name(*parts: str) -> str:
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
    return f"b-{digest}.parquet"


def data_files(directory: Path) -> list[Path]:
    if not directory.exists():
        return []
    return sorted(p for p in directory.iterdir() if p.suffix == ".parquet" and not p.name.startswith("."))


def months(root: Path) -> list[str]:
    if not root.exists():
        return []
    return sorted(p.name.removeprefix("month=") for p in root.iterdir() if p.name.startswith("month="))


def cleanup_tmp(root: Path) -> int:
    """Remove temporary files a crash left behind (never visible to readers)."""
    removed = 0
    if not root.exists():
        return 0
    for directory in root.iterdir():
        if not directory.is_dir():
            continue
        for tmp in directory.glob(".*.tmp-*"):
            tmp.unlink(missing_ok=True)
            removed += 1
    return removed


def read_all(root: Path) -> pl.DataFrame | None:
    files = [f for m in months(root) for f in data_files(month_dir(root, m))]
    if not files:
        return None
    return pl.concat([pl.read_parquet(f) for f in files], how="vertical")


def compact_month(
    directory: Path,
    keys: Sequence[str],
    sort: Sequence[str],
    keep_all: pl.Expr | None = None,
    min_files: int = 2,
    *,
    index: bool = False,
) -> int:
    """Rewrite a month into one compact file deduplicated to the winning seq.

    Rows where `keep_all` is true are kept as they are (aggregates that have no
    natural key). Returns the number of files replaced (0 if nothing to do).
    index=True (readings): the file is written with the readings index and
    marked deduped (no (key, ts) twice, so readers need no dedup for it).
    The compact file is durable before any old file is removed; a crash in
    between leaves duplicates with equal seq, which readers deduplicate anyway.
    """
    files = data_files(directory)
    if len(files) < min_files:
        return 0
    frame = pl.concat([pl.read_parquet(f) for f in files], how="vertical")
    if keep_all is not None:
        kept = frame.filter(keep_all)
        rest = frame.filter(~keep_all)
    else:
        kept, rest = frame.clear(), frame
    winners = rest.sort("seq").unique(subset=list(keys), keep="last", maintain_order=False)
    result = pl.concat([winners, kept], how="vertical").sort([*sort, "seq"])
    max_seq = int(frame["seq"].max() or 0)  # type: ignore[arg-type]
    target = directory / f"compact-{max_seq:020d}.parquet"
    write_atomic(result, target, index=index, deduped=index and keep_all is None)
    for old in files:
        if old != target:
            old.unlink(missing_ok=True)
    fsync_dir(directory)
    return len(files)


@dataclass
class ErasureCounts:
    rows_deleted: int = 0
    files_rewritten: int = 0
    files_deleted: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "rows_deleted": self.rows_deleted,
            "files_rewritten": self.files_rewritten,
            "files_deleted": self.files_deleted,
        }


def erase_enterprise(root: Path, uscc: str) -> ErasureCounts:
    """Rewrite every partition without the enterprise's rows."""
    counts = ErasureCounts()
    for month in months(root):
        directory = month_dir(root, month)
        for path in data_files(directory):
            frame = pl.read_parquet(path)
            hit = int((frame["uscc"] == uscc).sum())
            if not hit:
                continue
            counts.rows_deleted += hit
            remaining = frame.filter(pl.col("uscc") != uscc)
            if remaining.height == 0:
                path.unlink()
                fsync_dir(directory)
                counts.files_deleted += 1
            else:
                # a file that carried the readings index keeps one (recomputed for the remaining rows)
                write_atomic(remaining, path, index=has_readings_index(path))
                counts.files_rewritten += 1
    return counts
