"""The raw-data contract between ingestion and accounting — its one home.

Ingestion (ingest-energy, ingest-tax), the synthetic bulk generator and accounting all
import this module; nothing else spells the layout, the schemas or the footer index.
tests/ingest/test_rawdata_contract.py writes files with every writer and reads them
with accounting's reader; a schema or index drift fails it.

Layout: ``{root}/{kind}/month=YYYY-MM/<name>.parquet`` with kind ``readings`` or
``invoices``; names starting with ``.`` are a writer's temporary files, never data.
``root`` is a path-like or a string; every reader function here takes it as given and
turns it into file locations in one place (`_Location`), and every file is opened by
`scan` / `read_footer` here — so object storage (``s3://bucket/prefix``, issue 15) is a
change to this module only, not to its callers. Today only local paths are supported;
a URL fails with a clear error instead of being read as a relative path.

Months: a row's partition is the *accounting period* it belongs to. Readings: the month
of ``ts`` in the meter's time zone (Asia/Shanghai by default). Invoices: the month of
``issue_time`` in Asia/Shanghai, except red-letter lines, which are filed under the month
of the invoice they reverse (``issue_time`` keeps the reversal's own date for audit; see
carbon_ingest_tax.ingest).

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

import itertools
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

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

INDEX_KEY = "carbon.readings.index"
INDEX_VERSION = 1
INDEX_KEYS = ["uscc", "meter_id", "energy_type"]
READINGS_ROW_GROUP = 1 << 20
READINGS_COMPRESSION = "lz4"
PLAIN_COMPRESSION = "snappy"
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


class UnsupportedLocation(ValueError):
    """A data root this build cannot read (e.g. an object-storage URL before issue 15)."""


# ---- locations: the one place a root becomes files ----------------------------------


class _Location:
    """A data root. Local directories today; the seam for object storage."""

    def __init__(self, root: Root) -> None:
        text = os.fspath(root)
        url = _URL.match(text)  # also a URL a Path has already collapsed (s3:/bucket)
        if url:
            raise UnsupportedLocation(f"data root {url.group(1)}://… is not supported yet (local paths only)")
        self.path = Path(text)

    def partition(self, kind: str, month: str) -> Path:
        if kind not in KINDS:
            raise ValueError(f"unknown raw-data kind {kind!r}")
        return self.path / kind / month_dirname(month)

    def files(self, kind: str, month: str) -> list[str]:
        directory = self.partition(kind, month)
        if not directory.is_dir():
            return []
        return sorted(str(p) for p in directory.iterdir() if is_data_file(p.name))

    def months(self, kind: str) -> list[str]:
        directory = self.path / kind
        if not directory.is_dir():
            return []
        return sorted(p.name.removeprefix("month=") for p in directory.iterdir() if p.name.startswith("month="))


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
    lf = pl.scan_parquet(list(files), hive_partitioning=False)
    return lf.select(columns) if columns is not None else lf


def scan_month(root: Root, kind: str, month: str, columns: Sequence[str] | None = None) -> pl.LazyFrame | None:
    files = month_files(root, kind, month)
    return scan(files, columns) if files else None


def row_count(file: str) -> int:
    return int(scan([file]).select(pl.len()).collect().item())


def read_footer(file: str) -> dict[str, str]:
    """The file's key-value footer metadata (the one place footers are opened)."""
    return pl.read_parquet_metadata(file) or {}


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


def index_document(segments: Mapping[str, Sequence[Any]] | pl.DataFrame, *, deduped: bool = False) -> dict[str, Any]:
    """The footer index of a sorted readings file from its segments."""
    if isinstance(segments, pl.DataFrame):
        segments = segments.select(list(SEGMENT_SCHEMA)).to_dict(as_series=False)
    columns = {name: list(segments[name]) for name in SEGMENT_SCHEMA}
    return {
        "version": INDEX_VERSION,
        "keys": list(INDEX_KEYS),
        "rows": int(sum(columns["rows"])),
        "deduped": bool(deduped) and all(columns["unique"]),
        "segments": columns,
    }


def readings_index(
    frame: pl.DataFrame, *, deduped: bool = False, runs: Sequence[int] | None = None
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """A readings frame in index order (sorted unless it already is) and its footer index.
    `runs`: the frame's row runs if the writer built it presorted (see presorted_segments)."""
    segments = presorted_segments(frame, runs)
    if segments is not None:
        ordered = frame  # already sorted by (key, ts, seq), ts unique per key
    else:
        ordered = frame.sort([*INDEX_KEYS, "ts", "seq"], nulls_last=False, maintain_order=True)
        segments = index_segments(ordered).to_dict(as_series=False)
    return ordered, index_document(segments, deduped=deduped)


def write_options(index: Mapping[str, Any] | None) -> dict[str, Any]:
    """`DataFrame.write_parquet` options of a raw file: with the readings footer index, or plain."""
    if index is None:
        return {"compression": PLAIN_COMPRESSION, "statistics": True}
    return {
        "compression": READINGS_COMPRESSION,
        "statistics": True,
        "row_group_size": READINGS_ROW_GROUP,
        "metadata": {INDEX_KEY: json.dumps(index, separators=(",", ":"))},
    }


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
    the index's row count disagrees with the file's)."""
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
    actual = dict(pl.read_parquet_schema(file))
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
