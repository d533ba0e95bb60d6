"""Durable Parquet partitions: atomic writes, compaction, erasure rewrites.

A file is written to `<name>.tmp-<pid>`, flushed and fsync'd, renamed over its
final name, and the directory is fsync'd: a reader sees either nothing or the
whole file, and after the call returns the file survives a crash. Files are
immutable: every write attempt uses a fresh name (rawdata.attempt_name) and the commit
record in Redis (`Ledger`, rawdata's PENDING_KEY) hides a file from readers until the MULTI
that acknowledges it; a retry deletes the files of its uncommitted earlier attempts.

Readings files (`index=True`) are sorted and carry the footer index of the raw-data
contract (carbon_ingest.rawdata: schemas, layout, index codec — defined there, not here).
Erasure rewrites keep (recompute) the index.

Object storage (a root ``s3://bucket/prefix``, see carbon_ingest.rawdata; paths here may be
the ``s3:/bucket/…`` form a Path collapses it to): a file is one PUT of the whole encoded
file — an S3 PUT is atomic (readers see no object or the whole object) and durable when it
completes, so it replaces tmp + fsync + rename. The names, the commit record and the order
of writes and removals are the same as on disk (one code path); nothing temporary is ever
left behind.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import polars as pl
import redis

from carbon_ingest import rawdata

log = logging.getLogger(__name__)


def _prepare(
    df: pl.DataFrame, index: bool, deduped: bool = False, runs: Sequence[int] | None = None
) -> tuple[pl.DataFrame, rawdata.WriteOptions]:
    if not index:
        return df, rawdata.write_options(None)
    ordered, meta = rawdata.readings_index(df, deduped=deduped, runs=runs)
    return ordered, rawdata.write_options(meta)


def has_readings_index(path: Path) -> bool:
    return rawdata.has_index(location(path))


# ---- object storage: the same operations as one PUT / DELETE / LIST each ----------------


def location(path: Path) -> str:
    """The reader location of a path: itself on disk, its s3:// URL on object storage."""
    root = rawdata.object_root(path)
    return str(path) if root is None else root.url(root.key(path))


def _object_key(path: Path) -> tuple[rawdata.ObjectRoot, str] | None:
    root = rawdata.object_root(path)
    return None if root is None else (root, root.key(path))


def _put(target: tuple[rawdata.ObjectRoot, str], df: pl.DataFrame, options: rawdata.WriteOptions) -> None:
    """One PUT of the whole file; it is durable and visible (whole) when this returns."""
    import obstore

    buffer = io.BytesIO()
    options.write(df, buffer)
    obstore.put(target[0].store, target[1], buffer.getvalue(), use_multipart=False)


def remove_files(paths: Sequence[Path]) -> None:
    """Remove files durably (missing ones are fine)."""
    import obstore

    directories = set()
    for path in paths:
        target = _object_key(path)
        if target is not None:
            obstore.delete(target[0].store, target[1])  # S3 DELETE of an absent key succeeds
        elif path.exists():
            path.unlink(missing_ok=True)
            directories.add(path.parent)
    for directory in directories:
        fsync_dir(directory)


def read_file(path: Path) -> pl.DataFrame:
    url = location(path)
    return pl.read_parquet(url, storage_options=rawdata.read_storage_options([url]))


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def month_dir(root: Path, month: str) -> Path:
    return root / rawdata.month_dirname(month)


def write_atomic(
    df: pl.DataFrame, path: Path, *, index: bool = False, deduped: bool = False, runs: Sequence[int] | None = None
) -> None:
    """Write df to path: tmp + fsync + rename + fsync(dir). index=True: sorted + readings index."""
    df, options = _prepare(df, index, deduped, runs)
    target = _object_key(path)
    if target is not None:
        _put(target, df, options)
        return
    created = not path.parent.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    if created:
        fsync_dir(path.parent.parent)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as handle:
        options.write(df, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def _load_syncfs() -> Callable[[int], int] | None:
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


def write_many(items: Sequence[tuple[pl.DataFrame, Path] | Part], root: Path, *, index: bool = False) -> None:
    """Atomically and durably write several new files (a batch's month partitions).

    All temporary files are written, made durable with one syncfs (falling
    back to an fsync per file), renamed into place, and the renames made
    durable with a second syncfs (or an fsync per directory). A crash leaves
    each file either absent or complete; none is visible half-written.
    On object storage each file is one PUT.
    """
    parts = [Part(*item) for item in items]
    if rawdata.object_root(root) is not None or _SYNCFS is None or len(parts) == 1:
        for part in parts:
            write_atomic(part.frame, part.path, index=index, runs=part.runs)
        return
    root.mkdir(parents=True, exist_ok=True)
    pending = []
    for part in parts:
        part.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = part.path.with_name(f".{part.path.name}.tmp-{os.getpid()}")
        frame, options = _prepare(part.frame, index, runs=part.runs)
        options.write(frame, tmp)
        pending.append((tmp, part.path))
    if not sync_filesystem(root):
        for tmp, _ in pending:
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
    for tmp, path in pending:
        os.replace(tmp, path)
    if not sync_filesystem(root):
        for directory in {path.parent for _, path in pending}:
            fsync_dir(directory)


def batch_file_name(*parts: str) -> str:
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
    return f"b-{digest}.parquet"


def data_files(directory: Path) -> list[Path]:
    root = rawdata.object_root(directory)
    if root is not None:
        return [Path(url) for url in rawdata.object_files(root, root.key(directory))]
    if not directory.exists():
        return []
    return sorted(p for p in directory.iterdir() if rawdata.is_data_file(p.name))


class Ledger:
    """The writer's side of the commit record (rawdata.PENDING_KEY) for one kind's root
    (``{data_dir}/readings`` or ``{data_dir}/invoices``): announce names before writing, commit
    them in the acknowledging MULTI, discard uncommitted ones (delete, then forget)."""

    def __init__(self, client: redis.Redis, root: Path) -> None:
        self.redis = client
        self.root = root
        self.kind = root.name

    def name(self, path: Path) -> str:
        return f"{self.kind}/{path.parent.name}/{path.name}"

    def path(self, name: str) -> Path:
        return self.root / name.removeprefix(f"{self.kind}/")

    def announce(self, pipe: Any, paths: Iterable[Path]) -> None:
        """Queue: these files may be written from now on and are invisible until committed."""
        now = time.time()
        mapping = {self.name(p): now for p in paths}
        if mapping:
            pipe.zadd(rawdata.PENDING_KEY, mapping)

    def commit(self, pipe: Any, paths: Iterable[Path]) -> None:
        """Queue (inside the acknowledging MULTI): these files become visible."""
        names = [self.name(p) for p in paths]
        if names:
            pipe.zrem(rawdata.PENDING_KEY, *names)

    def discard(self, paths: Sequence[Path]) -> None:
        """Delete uncommitted files, then forget their names (a crash in between leaves a
        name without a file: harmless, swept later)."""
        if not paths:
            return
        remove_files(paths)
        self.redis.zrem(rawdata.PENDING_KEY, *[self.name(p) for p in paths])

    def write(self, parts: Sequence[Part], *, index: bool = False, deduped: bool = False) -> None:
        """Announce, then durably write new files; they stay invisible until `commit`."""
        if not parts:
            return
        pipe = self.redis.pipeline(transaction=False)
        self.announce(pipe, [part.path for part in parts])
        pipe.execute()
        if deduped:
            for part in parts:
                write_atomic(part.frame, part.path, index=index, deduped=True, runs=part.runs)
        else:
            write_many(parts, self.root, index=index)

    def replace(self, old: Sequence[Path], new: Sequence[Part], *, index: bool = False, deduped: bool = False) -> None:
        """Swap committed files for new ones (compaction, erasure): the new ones are written
        invisible, one MULTI makes them visible and the old ones invisible, then the old ones
        are deleted. Readers see the old rows or the new ones, never both or neither."""
        self.write(new, index=index, deduped=deduped)
        pipe = self.redis.pipeline(transaction=True)
        self.commit(pipe, [part.path for part in new])
        self.announce(pipe, old)
        pipe.execute()
        self.discard(old)

    def pending(self, directory: Path) -> frozenset[str]:
        return rawdata.Committed(self.root.parent, self.redis).pending(self.kind, directory.name.removeprefix("month="))

    def committed_files(self, directory: Path) -> list[Path]:
        """The month's data files readers see (pending ones left out)."""
        files = data_files(directory)
        if not files:
            return files
        pending = self.pending(directory)
        return [f for f in files if f.name not in pending]

    def sweep(self, older_than_seconds: float) -> int:
        """Delete this kind's files announced more than `older_than_seconds` ago and never
        committed (a writer that died between its PUT and its commit, whose client never
        retried). The lease must exceed any write's duration. Returns the files removed."""
        cutoff = time.time() - older_than_seconds
        prefix = f"{self.kind}/"
        names = [
            n.decode() if isinstance(n, bytes) else str(n)
            for n in self.redis.zrangebyscore(rawdata.PENDING_KEY, "-inf", cutoff)
        ]
        stale = [self.path(n) for n in names if n.startswith(prefix)]
        self.discard(stale)
        return len(stale)


def months(root: Path) -> list[str]:
    obj = rawdata.object_root(root)
    if obj is not None:
        names = rawdata.object_dirs(obj, obj.key(root))
        return sorted(n.removeprefix("month=") for n in names if n.startswith("month="))
    if not root.exists():
        return []
    return sorted(p.name.removeprefix("month=") for p in root.iterdir() if p.name.startswith("month="))


def cleanup_tmp(root: Path) -> int:
    """Remove temporary files a crash left behind (never visible to readers)."""
    removed = 0
    if rawdata.object_root(root) is not None or not root.exists():  # object storage: PUTs leave no temporaries
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
    return pl.concat([read_file(f) for f in files], how="vertical")


def compact_month(
    ledger: Ledger,
    directory: Path,
    keys: Sequence[str],
    sort: Sequence[str],
    keep_all: pl.Expr | None = None,
    min_files: int = 2,
    *,
    index: bool = False,
    files: Sequence[Path] | None = None,
) -> int:
    """Rewrite a month's committed files into one compact file deduplicated to the winning seq.

    Rows where `keep_all` is true are kept as they are (aggregates that have no
    natural key). Returns the number of files replaced (0 if nothing to do).
    index=True (readings): the file is written with the readings index and
    marked deduped (no (key, ts) twice, so readers need no dedup for it).
    The compact file is swapped in by the commit record (Ledger.replace): readers see the
    inputs or the output, never both; uncommitted files of in-flight writes are not touched.
    `files`: merge only these of the month's committed files (tiered compaction leaves large
    ones alone; duplicates across the output and the others are resolved by readers, as across any files).
    """
    files = ledger.committed_files(directory) if files is None else sorted(files)
    if len(files) < min_files:
        return 0
    frame = pl.concat([read_file(f) for f in files], how="vertical")
    if keep_all is not None:
        kept = frame.filter(keep_all)
        rest = frame.filter(~keep_all)
    else:
        kept, rest = frame.clear(), frame
    winners = rest.sort("seq").unique(subset=list(keys), keep="last", maintain_order=False)
    result = pl.concat([winners, kept], how="vertical").sort([*sort, "seq"])
    max_seq = int(frame["seq"].max() or 0)  # type: ignore[arg-type]  # seq is an integer column (rawdata schema)
    target = directory / rawdata.attempt_name(f"compact-{max_seq:020d}.parquet")
    ledger.replace(files, [Part(result, target)], index=index, deduped=index and keep_all is None)
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


def erase_enterprise(ledger: Ledger, uscc: str) -> ErasureCounts:
    """Rewrite every committed file holding the enterprise's rows without them (under a new
    name, swapped in by the commit record)."""
    counts = ErasureCounts()
    for month in months(ledger.root):
        directory = month_dir(ledger.root, month)
        for path in ledger.committed_files(directory):
            frame = read_file(path)
            hit = int((frame["uscc"] == uscc).sum())
            if not hit:
                continue
            counts.rows_deleted += hit
            remaining = frame.filter(pl.col("uscc") != uscc)
            if remaining.height == 0:
                ledger.replace([path], [])
                counts.files_deleted += 1
            else:
                # a file that carried the readings index keeps one (recomputed for the remaining rows)
                rewritten = Part(remaining, directory / rawdata.attempt_name(path.name))
                ledger.replace([path], [rewritten], index=has_readings_index(path))
                counts.files_rewritten += 1
    return counts
