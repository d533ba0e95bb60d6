"""The raw-data contract between ingestion and accounting — its one home.

Ingestion (ingest-energy, ingest-tax), the synthetic bulk generator and accounting all
import this module; nothing else spells the layout, the schemas or the footer index.
tests/ingest/test_rawdata_contract.py writes files with every writer and reads them
with accounting's reader; a schema or index drift fails it.

Layout: ``{root}/{kind}/month=YYYY-MM/<name>.parquet`` with kind ``readings`` or
``invoices``; names starting with ``.`` are a writer's temporary files, never data.
``root`` is a path-like or a string; every reader function here takes it as given and
turns it into file locations in one place (`_Location`), and every file is opened by
`scan` / `read_footer` here.

Roots: a local directory, or object storage ``s3://bucket/prefix`` (any S3-compatible
server) with endpoint and credentials from the standard variables (`AWS_ENDPOINT_URL`,
`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`,
`AWS_ALLOW_HTTP`). Any other URL fails with `UnsupportedLocation` (services call
`check_root` at start). A ``pathlib.Path`` collapses ``s3://b/p`` to ``s3:/b/p``; both
spellings mean the same object root, so settings may keep their Path type. Objects are
listed and written with obstore and read by polars' own object-store reader. `check_root`
also lists the bucket once, so a missing bucket or bad credentials stop a service at start.

Commit record (both backends, one code path): objects are immutable — every write attempt
writes under a fresh name (`attempt_name`), never over an existing one. Redis holds the
objects written but not yet committed (`PENDING_KEY`, a sorted set of names relative to the
root, ``{kind}/month=YYYY-MM/<name>``, scored by when the writer announced them). A writer
adds its names before the PUT and removes them in the same MULTI that acknowledges the data;
a reader that sees the root through `Committed` skips pending names, so a crash between the
PUT and the commit leaves nothing visible, and the writer's retry (or the sweep of announced
objects older than a lease) deletes the orphan before forgetting its name. Files written
without the record (the synthetic generator, tests) are simply never pending. Names are
relative to the root, so one Redis serves one data root (as one deployment has).

Months: a row's partition is the *accounting period* it belongs to. Readings: the month
of ``ts`` in the meter's time zone (Asia/Shanghai by default). Invoices: the month of
``issue_time`` in Asia/Shanghai, except red-letter lines, which are filed under the month
of the invoice they reverse (``issue_time`` keeps the reversal's own date for audit; see
carbon_ingest_tax.domain).

Readings footer index (``INDEX_KEY``, JSON, version 1): the file's rows are sorted by
(uscc, meter_id, energy_type, ts, seq) and cut into *segments* (runs of one key whose
consecutive ts are at most RUN_GAP_SECONDS apart, so a sparse meter's ranges stay tight):

    {"version": 1, "keys": ["uscc", "meter_id", "energy_type"], "rows": N,
     "deduped": bool,                       # no (key, ts) occurs twice (compaction output)
     "segments": {"uscc": [...], "meter_id": [...], "energy_type": [...],
                  "rows": [...],            # segment i = rows [sum(rows[:i]), sum(rows[:i+1])), one key
                  "min_ts": [...], "max_ts": [...],
                  "unique": [0|1, ...],     # 1: no ts repeats inside the segment
                  "flagged": [...]}}        # rows with a non-null flag

Within a segment ts ascends. The index is computed from the very rows written, inside the
same file; readers still check the row count and ignore an index that does not match.
Readings files are written LZ4 with row groups of READINGS_ROW_GROUP rows.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

import numpy as np
import polars as pl

if TYPE_CHECKING:
    import redis
    from obstore.store import S3Store

READINGS = "readings"
INVOICES = "invoices"
KINDS = (READINGS, INVOICES)

READINGS_SCHEMA: dict[str, pl.DataType] = {
    "uscc": pl.String(),
    "meter_id": pl.String(),
    "energy_type": pl.String(),
    "ts": pl.Int64(),  # Unix seconds, start of the interval
    "wh": pl.Int64(),  # Wh (non-electric energy types: canonical unit x 1000)
    "seq": pl.Int64(),  # ingest sequence: the highest wins for the same (meter, ts)
    "flag": pl.String(),  # null = usable; else why not (SPIKE, NEGATIVE, estimated, ...)
}
INVOICES_SCHEMA: dict[str, pl.DataType] = {
    "uscc": pl.String(),
    "invoice_number": pl.String(),  # "" for the per-month non-energy purchase aggregate
    "line_number": pl.Int32(),
    "issue_time": pl.Int64(),  # Unix seconds, the invoice's own date (a reversal's own date)
    "direction": pl.String(),  # purchase | sale
    "energy_type": pl.String(),  # null on sales; non_energy for the purchase aggregate
    "quantity": pl.Decimal(38, 6),  # in `unit` (signed: negative on red-letter lines)
    "unit": pl.String(),  # canonical unit of the energy type, or L (litres: density applied by accounting)
    "amount_cny": pl.Decimal(38, 2),
    "tax_cny": pl.Decimal(38, 2),
    "red_letter": pl.Boolean(),
    "original_invoice_number": pl.String(),  # red-letter lines: the invoice reversed
    "tax_code": pl.String(),
    "seq": pl.Int64(),
}
SCHEMAS = {READINGS: READINGS_SCHEMA, INVOICES: INVOICES_SCHEMA}

# The columns accounting reads (a subset: readers never depend on audit-only columns).
READING_COLUMNS = list(READINGS_SCHEMA)
INVOICE_COLUMNS = [
    "uscc",
    "invoice_number",
    "line_number",
    "direction",
    "energy_type",
    "quantity",
    "unit",
    "amount_cny",
    "tax_cny",
    "seq",
]

PENDING_KEY = "carbon:rawdata:pending"  # see "Commit record" above
_ATTEMPT = re.compile(r"-[0-9a-f]{16}$")
Compression = Literal["lz4", "snappy"]  # the codecs raw files are written with

INDEX_KEY = "carbon.readings.index"
INDEX_VERSION = 1
INDEX_KEYS = ["uscc", "meter_id", "energy_type"]
READINGS_ROW_GROUP = 1 << 20
READINGS_COMPRESSION: Compression = "lz4"
PLAIN_COMPRESSION: Compression = "snappy"
RUN_GAP_SECONDS = 6 * 3600
SEGMENT_SCHEMA: dict[str, pl.DataType] = {
    "uscc": pl.String(),
    "meter_id": pl.String(),
    "energy_type": pl.String(),
    "rows": pl.Int64(),
    "min_ts": pl.Int64(),
    "max_ts": pl.Int64(),
    "unique": pl.Int8(),
    "flagged": pl.Int64(),
}

Root = str | os.PathLike[str]
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):/")
_S3 = re.compile(r"^s3:/+([^/]+)/*(.*)$")  # s3://bucket/prefix, or the form a Path collapses it to

# Standard AWS variables -> object-store options (the same keys for obstore and polars).
AWS_VARIABLES = {
    "AWS_ENDPOINT_URL": "aws_endpoint",
    "AWS_ACCESS_KEY_ID": "aws_access_key_id",
    "AWS_SECRET_ACCESS_KEY": "aws_secret_access_key",
    "AWS_SESSION_TOKEN": "aws_session_token",
    "AWS_REGION": "aws_region",
    "AWS_DEFAULT_REGION": "aws_region",
    "AWS_ALLOW_HTTP": "aws_allow_http",
}


class UnsupportedLocation(ValueError):
    """A data root this build cannot use (a URL other than s3://bucket[/prefix])."""


class UnreachableLocation(RuntimeError):
    """An s3:// data root whose bucket does not exist or cannot be listed with these credentials."""


def storage_options(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Object-store options from the standard AWS_* variables (only those that are set)."""
    environ = os.environ if environ is None else environ
    options: dict[str, str] = {}
    for variable, option in AWS_VARIABLES.items():
        value = environ.get(variable, "")
        if value and option not in options:  # AWS_REGION wins over AWS_DEFAULT_REGION
            options[option] = value
    return options


@dataclass(frozen=True)
class ObjectRoot:
    """An object-storage data root: keys ``{prefix}/{kind}/month=YYYY-MM/<name>`` in `bucket`."""

    bucket: str
    prefix: str  # no leading or trailing slash; "" for the bucket's top

    def key(self, path: str | os.PathLike[str]) -> str:
        """The object key of a location (URL or collapsed Path) under this root."""
        match = _S3.match(os.fspath(path))
        if not match or match.group(1) != self.bucket:
            raise UnsupportedLocation(f"{os.fspath(path)!r} is not in bucket {self.bucket!r}")
        return match.group(2).strip("/")

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def join(self, *parts: str) -> str:
        return "/".join(p for p in (self.prefix, *parts) if p)

    @property
    def store(self) -> S3Store:
        return _store(self.bucket, tuple(sorted(storage_options().items())))


@functools.cache
def _store(bucket: str, options: tuple[tuple[str, str], ...]) -> S3Store:
    from obstore.store import S3Store

    return S3Store(bucket, config=dict(options))  # type: ignore[arg-type]


def object_root(root: Root) -> ObjectRoot | None:
    """The object-storage root `root` names, None for a local path; other URLs are refused."""
    text = os.fspath(root)
    s3 = _S3.match(text)
    if s3:
        return ObjectRoot(s3.group(1), s3.group(2).strip("/"))
    url = _URL.match(text)
    if url:
        raise UnsupportedLocation(
            f"data root {url.group(1)}://… is not supported: use a local directory or s3://bucket/prefix"
        )
    return None


def check_root(root: Root) -> None:
    """Fail at start on a data root this build cannot use (services call this in build()): a URL
    other than s3://bucket/prefix, or a bucket that is missing or not listable (one LIST)."""
    obj = object_root(root)
    if obj is None:
        return
    if not obj.bucket:
        raise UnsupportedLocation("data root s3:// needs a bucket: s3://bucket/prefix")
    import obstore

    try:
        obstore.list_with_delimiter(obj.store, obj.join() + "/" if obj.prefix else None)
    except Exception as error:  # obstore raises its own error classes (NotFound, PermissionDenied, Generic…)
        reason = type(error).__name__
        raise UnreachableLocation(
            f"data root s3://{obj.bucket}/{obj.prefix}: bucket {obj.bucket!r} does not exist or cannot be "
            f"listed ({reason}); create it or fix AWS_ENDPOINT_URL / credentials"
        ) from None


def read_storage_options(files: Sequence[str]) -> dict[str, str] | None:
    """Polars readers' storage options for these locations (object storage only)."""
    return storage_options() if files and _S3.match(files[0]) else None


# ---- commit record: unique names per attempt, pending names invisible ------------------


def attempt_name(name: str) -> str:
    """A fresh name for one write attempt of `name` (``<stem>-<16 hex>.parquet``; an attempt
    suffix already on `name` is replaced, so rewrites do not grow the name)."""
    stem = _ATTEMPT.sub("", name.removesuffix(".parquet"))
    return f"{stem}-{secrets.token_hex(8)}.parquet"


def relative_name(kind: str, month: str, name: str) -> str:
    """An object's name in the commit record: relative to the root."""
    return f"{kind}/{month_dirname(month)}/{name}"


class Committed(os.PathLike[str]):
    """A data root read through the commit record: objects still pending in Redis are invisible.
    Pass it wherever a root is taken (it is path-like); only listings change."""

    def __init__(self, root: Root, client: redis.Redis) -> None:
        self.root = root
        self.redis = client

    def __fspath__(self) -> str:
        return os.fspath(self.root)

    def __repr__(self) -> str:
        return f"Committed({os.fspath(self.root)!r})"

    def pending(self, kind: str, month: str) -> frozenset[str]:
        """File names of the partition written but not committed."""
        prefix = relative_name(kind, month, "")
        names = (n.decode() if isinstance(n, bytes) else str(n) for n in self.redis.zrange(PENDING_KEY, 0, -1))
        return frozenset(n.removeprefix(prefix) for n in names if n.startswith(prefix))


# ---- locations: the one place a root becomes files ----------------------------------


class _Location:
    """A data root: a local directory or an object-storage prefix (seen through the commit
    record when it is `Committed`)."""

    def __init__(self, root: Root) -> None:
        self.object = object_root(root)
        self.path = Path(os.fspath(root))
        self.committed = root if isinstance(root, Committed) else None

    def files(self, kind: str, month: str) -> list[str]:
        files = self._listed(kind, month)
        if self.committed is None or not files:
            return files
        pending = self.committed.pending(kind, month)
        return [f for f in files if f.rsplit("/", 1)[-1] not in pending]

    def partition(self, kind: str, month: str) -> Path:
        if kind not in KINDS:
            raise ValueError(f"unknown raw-data kind {kind!r}")
        return self.path / kind / month_dirname(month)

    def _listed(self, kind: str, month: str) -> list[str]:
        if self.object is not None:
            if kind not in KINDS:
                raise ValueError(f"unknown raw-data kind {kind!r}")
            return object_files(self.object, self.object.join(kind, month_dirname(month)))
        directory = self.partition(kind, month)
        if not directory.is_dir():
            return []
        return sorted(str(p) for p in directory.iterdir() if is_data_file(p.name))

    def months(self, kind: str) -> list[str]:
        if self.object is not None:
            names = object_dirs(self.object, self.object.join(kind))
            return sorted(n.removeprefix("month=") for n in names if n.startswith("month="))
        directory = self.path / kind
        if not directory.is_dir():
            return []
        return sorted(p.name.removeprefix("month=") for p in directory.iterdir() if p.name.startswith("month="))


def object_files(root: ObjectRoot, prefix: str) -> list[str]:
    """URLs of the data files directly under `prefix` (a "directory" of keys), sorted."""
    import obstore

    listing = obstore.list_with_delimiter(root.store, prefix + "/")
    return sorted(root.url(o["path"]) for o in listing["objects"] if is_data_file(o["path"].rsplit("/", 1)[-1]))


def object_dirs(root: ObjectRoot, prefix: str) -> list[str]:
    """Names of the "sub-directories" (common prefixes) directly under `prefix`."""
    import obstore

    listing = obstore.list_with_delimiter(root.store, prefix + "/")
    return sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in listing["common_prefixes"])


def month_dirname(month: str) -> str:
    return f"month={month}"


def is_data_file(name: str) -> bool:
    return name.endswith(".parquet") and not name.startswith(".")


def month_files(root: Root, kind: str, month: str) -> list[str]:
    """The data files of one month partition, sorted (locations usable by `scan`)."""
    return _Location(root).files(kind, month)


def months(root: Root, kind: str) -> list[str]:
    return _Location(root).months(kind)


def scan(files: Sequence[str], columns: Sequence[str] | None = None) -> pl.LazyFrame:
    """Lazy frame over raw files (the one place raw files are opened for rows)."""
    lf = pl.scan_parquet(list(files), hive_partitioning=False, storage_options=read_storage_options(files))
    return lf.select(columns) if columns is not None else lf


def scan_month(root: Root, kind: str, month: str, columns: Sequence[str] | None = None) -> pl.LazyFrame | None:
    files = month_files(root, kind, month)
    return scan(files, columns) if files else None


def row_count(file: str) -> int:
    return int(scan([file]).select(pl.len()).collect().item())


def read_footer(file: str) -> dict[str, str]:
    """The file's key-value footer metadata (the one place footers are opened)."""
    return pl.read_parquet_metadata(file, storage_options=read_storage_options([file])) or {}


# ---- readings footer index: encode ----------------------------------------------------


def index_segments(ordered: pl.DataFrame, gap: int | None = None) -> pl.DataFrame:
    """Segments of a frame sorted by (key, ts): maximal runs of rows with the same key whose
    consecutive ts are at most `gap` seconds apart (a sparse meter splits into several runs,
    so its windows stay tight)."""
    gap = RUN_GAP_SECONDS if gap is None else gap
    starts = pl.any_horizontal(
        *[pl.col(k).ne_missing(pl.col(k).shift(1)) for k in INDEX_KEYS],
        (pl.col("ts") - pl.col("ts").shift(1)) > gap,
    ).fill_null(True)
    return (
        ordered.select(*INDEX_KEYS, "ts", "flag")
        .with_columns(starts.cast(pl.Int64).cum_sum().alias("_run"))
        .group_by("_run", maintain_order=True)
        .agg(
            *[pl.col(k).first() for k in INDEX_KEYS],
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
        for name in INDEX_KEYS:
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
        **{name: [run_keys[r][k] for r in owner.tolist()] for k, name in enumerate(INDEX_KEYS)},
        "rows": (ends - starts).tolist(),
        "min_ts": ts[starts].tolist(),
        "max_ts": ts[ends - 1].tolist(),
        "unique": [1] * count,
        "flagged": flagged.tolist(),
    }


@dataclass(frozen=True)
class ReadingsIndex:
    """The footer index of a sorted readings file: its rows and their segments (SEGMENT_SCHEMA's
    columns, one entry per run of one key)."""

    rows: int
    deduped: bool  # no (key, ts) repeats in the file
    segments: dict[str, list[Any]]

    def footer(self) -> str:
        """The JSON stored under INDEX_KEY (decode_index reads it)."""
        document = {
            "version": INDEX_VERSION,
            "keys": list(INDEX_KEYS),
            "rows": self.rows,
            "deduped": self.deduped,
            "segments": self.segments,
        }
        return json.dumps(document, separators=(",", ":"))


def index_document(segments: Mapping[str, Sequence[Any]] | pl.DataFrame, *, deduped: bool = False) -> ReadingsIndex:
    """The footer index of a sorted readings file from its segments."""
    if isinstance(segments, pl.DataFrame):
        segments = segments.select(list(SEGMENT_SCHEMA)).to_dict(as_series=False)
    columns = {name: list(segments[name]) for name in SEGMENT_SCHEMA}
    return ReadingsIndex(int(sum(columns["rows"])), bool(deduped) and all(columns["unique"]), columns)


def readings_index(
    frame: pl.DataFrame, *, deduped: bool = False, runs: Sequence[int] | None = None
) -> tuple[pl.DataFrame, ReadingsIndex]:
    """A readings frame in index order (sorted unless it already is) and its footer index.
    `runs`: the frame's row runs if the writer built it presorted (see presorted_segments)."""
    segments = presorted_segments(frame, runs)
    if segments is not None:
        ordered = frame  # already sorted by (key, ts, seq), ts unique per key
    else:
        ordered = frame.sort([*INDEX_KEYS, "ts", "seq"], nulls_last=False, maintain_order=True)
        segments = index_segments(ordered).to_dict(as_series=False)
    return ordered, index_document(segments, deduped=deduped)


@dataclass(frozen=True)
class WriteOptions:
    """How a raw file is written (`DataFrame.write_parquet`): compression, row groups, footer."""

    compression: Compression
    row_group_size: int | None = None  # None: polars' default
    metadata: dict[str, str] | None = None  # the readings footer index

    def write(self, frame: pl.DataFrame, target: str | Path | IO[bytes]) -> None:
        frame.write_parquet(
            target,
            compression=self.compression,
            statistics=True,
            row_group_size=self.row_group_size,
            metadata=self.metadata,
        )


def write_options(index: ReadingsIndex | None) -> WriteOptions:
    """The options of a raw file: with the readings footer index, or plain."""
    if index is None:
        return WriteOptions(PLAIN_COMPRESSION)
    return WriteOptions(READINGS_COMPRESSION, READINGS_ROW_GROUP, {INDEX_KEY: index.footer()})


def conform(frame: pl.DataFrame, kind: str) -> pl.DataFrame:
    """The frame in the contract's column order and types; a missing or extra column is an error."""
    schema = SCHEMAS[kind]
    if set(frame.columns) != set(schema):
        missing, extra = sorted(set(schema) - set(frame.columns)), sorted(set(frame.columns) - set(schema))
        raise ValueError(f"{kind} frame does not match the raw-data contract: missing {missing}, extra {extra}")
    return frame.select([pl.col(name).cast(dtype) for name, dtype in schema.items()])


# ---- readings footer index: decode --------------------------------------------------------


def decode_index(metadata: Mapping[str, str]) -> pl.DataFrame | None:
    """The index's segments (SEGMENT_SCHEMA plus `offset`, the first row of each) from a footer,
    or None when there is none or it is not a version this reader understands / is inconsistent."""
    raw = metadata.get(INDEX_KEY)
    if raw is None:
        return None
    try:
        meta = json.loads(raw)
        if meta.get("version") != INDEX_VERSION or meta.get("keys") != INDEX_KEYS:
            return None
        segments = pl.DataFrame(meta["segments"], schema=SEGMENT_SCHEMA)
    except (ValueError, TypeError, KeyError, AttributeError, pl.exceptions.PolarsError):
        return None
    if bool((segments["rows"] < 1).any()) or bool((segments["min_ts"] > segments["max_ts"]).any()):
        return None
    total = int(segments["rows"].sum()) if segments.height else 0
    if total != int(meta.get("rows", -1)):
        return None
    return segments.with_columns((pl.col("rows").cum_sum() - pl.col("rows")).alias("offset"))


def read_index(file: str) -> pl.DataFrame | None:
    """The file's segments (with row offsets), or None when it has no valid index (also when
    the index's row count disagrees with the file's). Kept per file version (`_INDEXES`): a
    micro-batch plans its month over the same files as the one before plus the newest."""
    version = _file_version(file)
    if version is not None:
        with _INDEXES_LOCK:
            if version in _INDEXES:
                _INDEXES.move_to_end(version)
                return _INDEXES[version]
    segments = _read_index(file)
    if version is not None:
        with _INDEXES_LOCK:
            _INDEXES[version] = segments
            while len(_INDEXES) > INDEX_CACHE_FILES:
                _INDEXES.popitem(last=False)
    return segments


# Decoded footer indexes by file version, most recently used last (each a few kB per meter run).
INDEX_CACHE_FILES = 4096
_INDEXES: OrderedDict[tuple[str, int, int, int], pl.DataFrame | None] = OrderedDict()
_INDEXES_LOCK = threading.Lock()


def _file_version(file: str) -> tuple[str, int, int, int] | None:
    """What identifies one content of a file: a local file's path, inode, size and mtime (a test or
    a copy may write a path twice); an object's URL alone (objects are immutable: every write
    attempt takes a fresh name). None: the file cannot be looked at (read, and fail, as before)."""
    if "://" in file:
        return (file, 0, 0, 0)
    try:
        status = os.stat(file)
    except OSError:
        return None
    return (file, status.st_ino, status.st_size, status.st_mtime_ns)


def _read_index(file: str) -> pl.DataFrame | None:
    try:
        segments = decode_index(read_footer(file))
    except Exception:  # unreadable footer: treat as a file without an index
        return None
    if segments is None:
        return None
    total = int(segments["rows"].sum()) if segments.height else 0
    if total != row_count(file):
        return None
    return segments


def has_index(file: str) -> bool:
    try:
        return INDEX_KEY in read_footer(file)
    except Exception:  # unreadable footer: treat as a plain file
        return False


def schema_drift(file: str, kind: str) -> list[str]:
    """How the file's columns differ from the contract's (empty: it conforms exactly)."""
    actual = dict(scan([file]).collect_schema())
    expected = SCHEMAS[kind]
    problems = [f"missing column {name}" for name in expected if name not in actual]
    problems += [f"unexpected column {name}" for name in actual if name not in expected]
    problems += [
        f"column {name} is {actual[name]}, the contract says {dtype}"
        for name, dtype in expected.items()
        if name in actual and actual[name] != dtype
    ]
    if not problems and list(actual) != list(expected):
        problems.append(f"column order {list(actual)} differs from {list(expected)}")
    return problems


def iter_files(root: Root, kind: str) -> Iterable[str]:
    for month in months(root, kind):
        yield from month_files(root, kind, month)
