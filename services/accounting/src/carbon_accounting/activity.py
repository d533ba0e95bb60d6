"""Activity data from the ingest services' Parquet partitions (polars, lazy).

Readings: `readings/month=YYYY-MM/*.parquet`; invoices:
`invoices/month=YYYY-MM/*.parquet`. The layout, columns, footer index and the
functions that list and open the files are the raw-data contract owned by
carbon-ingest (carbon_ingest.rawdata); this module only aggregates.

Readings are deduplicated exactly — for the same (meter_id, ts) the row with
the highest seq wins; flagged rows are dropped first — without a hash over
every (meter_id, ts), which would dominate the cost at 10^9 rows:

1. One streaming pass groups by (uscc, energy_type, meter_id, w) with
   w = slot // 64 (slot = ts // interval) and aggregates the Wh sum, the row
   count n and the bitwise OR of 2^(slot % 64). A group without duplicate
   timestamps has popcount(OR) == n; any duplicate (same meter, same ts) lands
   in the same group and bit, so popcount < n. Unaligned timestamps can make
   a false suspect, never a missed duplicate.
2. Only suspect groups are re-read and resolved row by row (max seq wins).

Everything is integer arithmetic: sums are exact, so results are deterministic.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

import numpy as np
import polars as pl
from carbon_ingest import rawdata
from carbon_ingest.rawdata import INDEX_KEYS, INVOICE_COLUMNS, READING_COLUMNS, month_files, read_index, scan_month

from carbon_accounting.compute import Economics, InvoiceAgg, MeterAgg

T = TypeVar("T")
READ_ATTEMPTS = 5  # listings of a month partition tried when compaction removes a listed file


def relisted(read: Callable[[], T]) -> T:
    """`read()` (which lists a month partition and reads the files), again when compaction replaced a
    listed file before it was read: its output is durable before the inputs go, so a new listing finds it."""
    for _ in range(READ_ATTEMPTS - 1):
        try:
            return read()
        except FileNotFoundError:
            continue
    return read()


# ---- readings -----------------------------------------------------------------


def reading_groups(lf: pl.LazyFrame, interval_seconds: int = 900) -> pl.LazyFrame:
    """Pass 1: per (uscc, energy_type, meter_id, w) sums, counts and slot bitmap."""
    valid = pl.col("flag").is_null()
    slot = pl.col("ts") // interval_seconds
    bit = pl.lit(2, pl.UInt64).pow(slot % 64)
    return lf.group_by("uscc", "energy_type", "meter_id", (slot // 64).alias("w")).agg(
        pl.when(valid).then(pl.col("wh")).otherwise(0).sum().alias("wh"),
        valid.sum().cast(pl.Int64).alias("n"),
        (~valid).sum().cast(pl.Int64).alias("flagged"),
        pl.when(valid).then(bit).otherwise(pl.lit(0, pl.UInt64)).bitwise_or().alias("bits"),
    )


def resolve_suspects(lf: pl.LazyFrame, suspects: pl.DataFrame, interval_seconds: int = 900) -> pl.DataFrame:
    """Pass 2: exact (max seq wins) Wh and row counts for the suspect groups only."""
    keys = suspects.select("meter_id", "w").unique()
    exact = (
        lf.filter(pl.col("flag").is_null() & pl.col("meter_id").is_in(keys["meter_id"].unique().implode()))
        .with_columns((pl.col("ts") // interval_seconds // 64).alias("w"))
        .join(keys.lazy(), on=["meter_id", "w"], how="semi")
        # highest seq wins; equal seq (a verbatim re-send) -> the larger wh, so ties are deterministic
        .sort(["seq", "wh"], descending=True)
        .unique(subset=["uscc", "energy_type", "meter_id", "ts"], keep="first", maintain_order=True)
        .group_by("uscc", "energy_type", "meter_id", "w")
        .agg(pl.col("wh").sum().alias("wh_exact"), pl.len().cast(pl.Int64).alias("n_exact"))
        .collect()
    )
    return exact


def meter_totals(lf: pl.LazyFrame, interval_seconds: int = 900) -> pl.DataFrame:
    """Exact per (uscc, energy_type, meter_id) totals of any readings frame (bitmap algorithm).

    Columns: uscc, energy_type, meter_id, wh, n (winning readings), flagged, dup.
    """
    groups = reading_groups(lf, interval_seconds).collect(engine="streaming")
    suspect_mask = pl.col("n") != pl.col("bits").bitwise_count_ones().cast(pl.Int64)
    suspects = groups.filter(suspect_mask)
    if suspects.height:
        exact = resolve_suspects(lf, suspects, interval_seconds)
        groups = groups.join(exact, on=["uscc", "energy_type", "meter_id", "w"], how="left").with_columns(
            pl.coalesce("wh_exact", "wh").alias("wh"),
            (pl.col("n") - pl.coalesce("n_exact", "n")).alias("dup"),
            pl.coalesce("n_exact", "n").alias("n"),
        )
    else:
        groups = groups.with_columns(pl.lit(0, pl.Int64).alias("dup"))
    return groups.group_by("uscc", "energy_type", "meter_id").agg(
        pl.col("wh").sum(), pl.col("n").sum(), pl.col("flagged").sum(), pl.col("dup").sum()
    )


def rollup(meters: pl.DataFrame, *, with_meter_ids: bool = True) -> pl.DataFrame:
    """Per (uscc, energy_type) totals from per-meter rows (the same meter may appear more than once)."""
    per_meter = meters.group_by("uscc", "energy_type", "meter_id").agg(
        pl.col("wh").sum(), pl.col("n").sum(), pl.col("flagged").sum(), pl.col("dup").sum()
    )
    aggs = [
        pl.col("wh").sum().cast(pl.Int64).alias("wh"),
        pl.col("n").sum().cast(pl.Int64).alias("readings"),
        pl.col("flagged").sum().cast(pl.Int64).alias("flagged"),
        pl.col("dup").sum().cast(pl.Int64).alias("duplicates"),
        pl.col("meter_id").filter(pl.col("n") > 0).n_unique().alias("meters"),
    ]
    if with_meter_ids:
        aggs.append(pl.col("meter_id").filter(pl.col("n") > 0).unique().sort().alias("meter_ids"))
    return per_meter.group_by("uscc", "energy_type").agg(aggs).sort("uscc", "energy_type")


def aggregate_readings(lf: pl.LazyFrame, interval_seconds: int = 900, *, with_meter_ids: bool = True) -> pl.DataFrame:
    """Exact per (uscc, energy_type) totals of one month's readings (any frame, no index needed).

    Columns: uscc, energy_type, wh, readings, flagged, duplicates, meters
    (count) and, when asked, meter_ids (sorted list).
    """
    return rollup(meter_totals(lf, interval_seconds), with_meter_ids=with_meter_ids)


# ---- indexed fast path ------------------------------------------------------------
#
# Files written by ingest-energy (and the benchmark generator) carry the footer
# index of the raw-data contract (carbon_ingest.rawdata.INDEX_KEY):
# rows sorted into one contiguous segment per (uscc, meter_id, energy_type), and
# per segment rows, [min_ts, max_ts], whether ts is unique inside it, flagged rows.
#
# From metadata alone: a (key, ts) can occur twice only where two segments of
# the same key overlap in time, or inside a segment whose ts are not unique.
# Those (key, [lo, hi)) *windows* are the only rows that need "highest seq
# wins"; each window's rows are resolved exactly (a few rows). Every other row
# is unique, so its segment needs a plain integer sum: read wh (and flag only
# when the segment has flagged rows), np.add.reduceat over segment offsets —
# the key columns are never decoded. Files without an index (older writers)
# count as one non-unique window per key over their whole range (exact path).

CHUNK_ROWS = 8 << 20  # rows per read task of a large file (bounded memory)
FALLBACK_SHARE = 0.25  # more dirty rows than this share -> plain exact algorithm over the month


@dataclass
class ReadingsPlan:
    """Which rows of a month need exact dedup, decided from footer indexes only."""

    files: list[str]
    indexed: list[tuple[str, pl.DataFrame]]  # (path, segments with offset) in file order
    unindexed: list[str]
    windows: pl.DataFrame  # uscc, meter_id, energy_type, lo, hi (half-open, disjoint per key)
    rows: int
    dirty_rows: int  # estimated rows inside windows + rows of unindexed files

    @property
    def fast(self) -> bool:
        """Few enough rows to resolve in memory; else the streaming exact algorithm over the month."""
        return self.dirty_rows <= FALLBACK_SHARE * max(self.rows, 1)


_SUMS = ["wh", "n", "flagged", "dup"]
_WINDOW_SCHEMA = {"uscc": pl.String, "meter_id": pl.String, "energy_type": pl.String, "lo": pl.Int64, "hi": pl.Int64}


def _merge(windows: pl.DataFrame) -> pl.DataFrame:
    """Union of half-open [lo, hi) windows per key, as disjoint windows."""
    if windows.is_empty():
        return windows
    return (
        windows.sort([*INDEX_KEYS, "lo"])
        .with_columns(pl.col("hi").cum_max().shift(1).over(INDEX_KEYS).alias("_prev"))
        .with_columns(
            (pl.col("_prev").is_null() | (pl.col("lo") > pl.col("_prev"))).cast(pl.Int64).cum_sum().alias("_g")
        )
        .group_by([*INDEX_KEYS, "_g"])
        .agg(pl.col("lo").min(), pl.col("hi").max())
        .drop("_g")
        .sort([*INDEX_KEYS, "lo"])
    )


def plan_readings(files: list[str]) -> ReadingsPlan:
    indexed: list[tuple[str, pl.DataFrame]] = []
    unindexed: list[str] = []
    for path in files:
        segments = read_index(path)
        if segments is None:
            unindexed.append(path)
        else:
            indexed.append((path, segments))
    parts = [seg.select(*INDEX_KEYS, "min_ts", "max_ts", "unique", "rows") for _p, seg in indexed]
    unindexed_rows = 0
    if unindexed:
        ranges = (
            rawdata.scan(unindexed)
            .group_by(INDEX_KEYS)
            .agg(pl.col("ts").min().alias("min_ts"), pl.col("ts").max().alias("max_ts"), pl.len().alias("rows"))
            .with_columns(pl.lit(0, pl.Int8).alias("unique"), pl.col("rows").cast(pl.Int64))
            .select(*INDEX_KEYS, "min_ts", "max_ts", "unique", "rows")
            .collect()
        )
        unindexed_rows = int(ranges["rows"].sum())
        parts.append(ranges)
    all_segments = pl.concat(parts) if parts else pl.DataFrame(schema={**_WINDOW_SCHEMA})
    rows = unindexed_rows + sum(int(seg["rows"].sum()) for _p, seg in indexed)
    windows = pl.DataFrame(schema=_WINDOW_SCHEMA)
    if all_segments.height:
        # only keys with more than one segment or a non-unique segment can hold a duplicate
        candidates = all_segments.filter((pl.len().over(INDEX_KEYS) > 1) | (pl.col("unique") == 0))
        if candidates.height:
            own = candidates.filter(pl.col("unique") == 0).select(
                *INDEX_KEYS, pl.col("min_ts").alias("lo"), (pl.col("max_ts") + 1).alias("hi")
            )
            events = pl.concat(
                [
                    candidates.select(*INDEX_KEYS, pl.col("min_ts").alias("pos"), pl.lit(1).alias("d")),
                    candidates.select(*INDEX_KEYS, (pl.col("max_ts") + 1).alias("pos"), pl.lit(-1).alias("d")),
                ]
            )
            depth = (
                events.group_by([*INDEX_KEYS, "pos"])
                .agg(pl.col("d").sum())
                .sort([*INDEX_KEYS, "pos"])
                .with_columns(
                    pl.col("d").cum_sum().over(INDEX_KEYS).alias("depth"),
                    pl.col("pos").shift(-1).over(INDEX_KEYS).alias("next"),
                )
            )
            overlap = depth.filter((pl.col("depth") >= 2) & pl.col("next").is_not_null()).select(
                *INDEX_KEYS, pl.col("pos").alias("lo"), pl.col("next").alias("hi")
            )
            windows = _merge(pl.concat([own, overlap]).cast(_WINDOW_SCHEMA))  # type: ignore[arg-type]  # polars' dtype classes are DataTypeClass, inferred as type[DataType]
    touched = 0
    if windows.height:
        for _path, seg in indexed:
            hit = seg.join(windows, on=INDEX_KEYS, how="inner", nulls_equal=True).filter(
                (pl.col("lo") <= pl.col("max_ts")) & (pl.col("hi") > pl.col("min_ts"))
            )
            if hit.height:
                # rows of the segment inside the window, estimated from the segment's density
                span = pl.col("max_ts") + 1 - pl.col("min_ts")
                inside = pl.min_horizontal("hi", pl.col("max_ts") + 1) - pl.max_horizontal("lo", "min_ts")
                estimate = pl.min_horizontal("rows", (pl.col("rows") * inside / span).ceil().cast(pl.Int64) + 1)
                touched += int(hit.select(estimate.sum()).item())
    return ReadingsPlan(files, indexed, unindexed, windows, rows, touched + unindexed_rows)


def _segment_sums(
    path: str, file_rows: int, seg: pl.DataFrame, windows: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """Clean per-segment totals of one indexed file chunk, and its unflagged window rows.

    Reads wh, flag only if a segment has flagged rows or a window, and ts/seq only if a
    segment has a window; the key columns never. Clean = not flagged and outside every window.
    """
    start = int(seg["offset"][0])
    length = int(seg["rows"].sum())
    local = (seg["offset"] - start).to_numpy()
    counts = seg["rows"].to_numpy()
    hits = (
        seg.with_row_index("_s")
        .join(windows, on=INDEX_KEYS, how="inner", nulls_equal=True)
        .filter((pl.col("lo") <= pl.col("max_ts")) & (pl.col("hi") > pl.col("min_ts")))
        .select("_s", "lo", "hi")
        if windows.height
        else None
    )
    has_windows = hits is not None and hits.height > 0
    need_flag = bool(seg["flagged"].sum()) or has_windows
    columns = ["wh", *(["flag"] if need_flag else []), *(["ts", "seq"] if has_windows else [])]
    lf = rawdata.scan([path], columns)
    frame = (lf if start == 0 and length == file_rows else lf.slice(start, length)).collect()
    if frame.height != length:
        raise ValueError(f"{path}: index says {length} rows from {start}, read {frame.height}")
    wh_series = frame["wh"]
    wh = (wh_series.fill_null(0) if wh_series.null_count() else wh_series).to_numpy()
    seg_wh = np.add.reduceat(wh, local) if length else np.zeros(len(seg), dtype=np.int64)
    seg_n = counts.astype(np.int64)
    seg_flagged = np.zeros(len(seg), dtype=np.int64)
    flagged = np.zeros(0, dtype=np.int64)
    if need_flag:
        flagged = frame["flag"].is_not_null().arg_true().to_numpy().astype(np.int64)
        if flagged.size:
            seg_flagged = np.bincount(np.searchsorted(local, flagged, side="right") - 1, minlength=len(seg))
    dirty = np.zeros(0, dtype=np.int64)
    if has_windows and hits is not None:
        # ts ascends inside a segment (files are sorted by key, ts): windows are row ranges
        ts = frame["ts"].to_numpy()
        ranges = []
        for s_idx, lo, hi in hits.iter_rows():
            a = int(local[s_idx])
            part = ts[a : a + int(counts[s_idx])]
            if part.size > 1 and bool((part[1:] < part[:-1]).any()):  # not as indexed: compare every row
                ranges.append(a + np.flatnonzero((part >= lo) & (part < hi)))
                continue
            i, j = np.searchsorted(part, (lo, hi), side="left")
            if j > i:
                ranges.append(np.arange(a + i, a + j, dtype=np.int64))
        if ranges:
            dirty = np.unique(np.concatenate(ranges))
    excluded = np.union1d(flagged, dirty) if dirty.size else flagged
    if excluded.size:
        if excluded.size * 16 > length:  # dense: mask and sum again
            mask = np.zeros(length, dtype=bool)
            mask[excluded] = True
            seg_wh = np.add.reduceat(np.where(mask, 0, wh), local)
            seg_n = seg_n - np.add.reduceat(mask.astype(np.int64), local)
        else:
            owner = np.searchsorted(local, excluded, side="right") - 1
            np.subtract.at(seg_wh, owner, wh[excluded])
            seg_n = seg_n - np.bincount(owner, minlength=len(seg))
    clean = seg.select(INDEX_KEYS).with_columns(
        pl.Series("wh", seg_wh, dtype=pl.Int64),
        pl.Series("n", seg_n, dtype=pl.Int64),
        pl.Series("flagged", seg_flagged, dtype=pl.Int64),
        pl.lit(0, pl.Int64).alias("dup"),
    )
    dirty_rows = None
    take = np.setdiff1d(dirty, flagged, assume_unique=True) if dirty.size else dirty  # flagged: counted above
    if take.size:
        owner = np.searchsorted(local, take, side="right") - 1
        dirty_rows = seg.select(INDEX_KEYS)[pl.Series(owner)].with_columns(
            pl.Series("ts", frame["ts"].gather(take), dtype=pl.Int64),
            pl.Series("wh", wh[take], dtype=pl.Int64),
            pl.Series("seq", frame["seq"].gather(take), dtype=pl.Int64),
        )
    return clean, dirty_rows


def _chunks(seg: pl.DataFrame) -> list[pl.DataFrame]:
    """Consecutive segments grouped into read tasks of about CHUNK_ROWS rows."""
    rows = seg["rows"].to_numpy()
    out: list[pl.DataFrame] = []
    begin = 0
    acc = 0
    for i, r in enumerate(rows):
        acc += int(r)
        if acc >= CHUNK_ROWS:
            out.append(seg.slice(begin, i + 1 - begin))
            begin, acc = i + 1, 0
    if begin < len(rows):
        out.append(seg.slice(begin, len(rows) - begin))
    return out


def _resolve(dirty: pl.DataFrame) -> pl.DataFrame:
    """Highest seq (ties: larger wh) per (key, ts) among unflagged window rows."""
    winners = dirty.sort(["seq", "wh"], descending=True).unique(
        subset=[*INDEX_KEYS, "ts"], keep="first", maintain_order=True
    )
    won = winners.group_by(INDEX_KEYS).agg(pl.col("wh").sum().alias("wh"), pl.len().cast(pl.Int64).alias("n"))
    seen = dirty.group_by(INDEX_KEYS).agg(pl.len().cast(pl.Int64).alias("all"))
    return won.join(seen, on=INDEX_KEYS).select(
        *INDEX_KEYS,
        pl.col("wh").cast(pl.Int64),
        "n",
        pl.lit(0, pl.Int64).alias("flagged"),
        (pl.col("all") - pl.col("n")).alias("dup"),
    )


def _runs(seg: pl.DataFrame) -> list[pl.DataFrame]:
    """Segments split where their rows stop being contiguous in the file (one slice per run)."""
    if seg.is_empty():
        return []
    starts = (pl.col("offset") != (pl.col("offset") + pl.col("rows")).shift(1)).fill_null(True)
    return seg.with_columns(starts.cum_sum().alias("_run")).partition_by("_run", maintain_order=True, include_key=False)


def aggregate_month_files(
    files: list[str],
    interval_seconds: int = 900,
    *,
    with_meter_ids: bool = True,
    workers: int | None = None,
    plan: ReadingsPlan | None = None,
    usccs: Collection[str] | None = None,
) -> pl.DataFrame:
    """Exact per (uscc, energy_type) totals of one month partition's files (same result as
    aggregate_readings over them), using the footer indexes to skip dedup wherever it cannot matter.
    With `usccs`, only those enterprises: only their indexed segments are read (a micro-batch of
    touched enterprises costs their rows, not the month's)."""
    plan = plan or plan_readings(files)
    wanted = None if usccs is None else pl.Series("uscc", sorted(set(usccs)), dtype=pl.String).implode()
    if not plan.fast:
        lf = rawdata.scan(files, READING_COLUMNS)
        if wanted is not None:
            lf = lf.filter(pl.col("uscc").is_in(wanted))
        return aggregate_readings(lf, interval_seconds, with_meter_ids=with_meter_ids)
    windows = plan.windows if wanted is None else plan.windows.filter(pl.col("uscc").is_in(wanted))
    tasks = []
    for path, seg in plan.indexed:
        file_rows = int(seg["rows"].sum())
        parts = [seg] if wanted is None else _runs(seg.filter(pl.col("uscc").is_in(wanted)))
        tasks += [(path, file_rows, chunk) for part in parts for chunk in _chunks(part) if chunk.height]
    threads = max(1, min(workers or os.cpu_count() or 1, len(tasks) or 1))
    if threads > 1:
        with ThreadPoolExecutor(threads) as pool:
            results = list(pool.map(lambda t: _segment_sums(t[0], t[1], t[2], windows), tasks))
    else:
        results = [_segment_sums(path, rows, chunk, windows) for path, rows, chunk in tasks]
    meters = [clean for clean, _d in results]
    dirty = [d for _c, d in results if d is not None]
    if plan.unindexed:
        # Rows of files without an index may share a (key, ts) with each other and with the
        # window rows of indexed files (the windows cover their ranges): resolve those together.
        unindexed = rawdata.scan(plan.unindexed, READING_COLUMNS)
        lazy_parts = [unindexed if wanted is None else unindexed.filter(pl.col("uscc").is_in(wanted))]
        lazy_parts += [
            d.with_columns(pl.lit(None, pl.String).alias("flag")).select(READING_COLUMNS).lazy() for d in dirty
        ]
        meters.append(
            meter_totals(pl.concat(lazy_parts), interval_seconds).select(*INDEX_KEYS, "wh", "n", "flagged", "dup")
        )
    elif dirty:
        meters.append(_resolve(pl.concat(dirty)))
    if not meters:
        meters = [pl.DataFrame(schema={**dict.fromkeys(INDEX_KEYS, pl.String), **dict.fromkeys(_SUMS, pl.Int64)})]
    return rollup(pl.concat(meters, how="vertical_relaxed"), with_meter_ids=with_meter_ids)


def aggregate_month(
    data_dir: rawdata.Root, month: str, interval_seconds: int = 900, *, with_meter_ids: bool = True
) -> pl.DataFrame | None:
    files = month_files(data_dir, "readings", month)
    if not files:
        return None
    return aggregate_month_files(files, interval_seconds, with_meter_ids=with_meter_ids)


def month_meters(
    data_dir: rawdata.Root, usccs: Iterable[str], month: str, interval_seconds: int = 900
) -> dict[str, list[MeterAgg]]:
    """One month's meter aggregates of several enterprises, computed together from their indexed
    segments (the per-enterprise path is this with one enterprise)."""
    files = month_files(data_dir, "readings", month)
    if not files:
        return {}
    frame = aggregate_month_files(files, interval_seconds, usccs=set(usccs))
    result: dict[str, list[MeterAgg]] = {}
    for row in frame.iter_rows(named=True):
        result.setdefault(row["uscc"], []).append(
            MeterAgg(
                month=month,
                energy_type=row["energy_type"],
                wh=int(row["wh"]),
                readings=int(row["readings"]),
                meters=tuple(row["meter_ids"]),
                flagged=int(row["flagged"]),
                duplicates=int(row["duplicates"]),
            )
        )
    return result


def enterprise_meters(
    data_dir: rawdata.Root, uscc: str, months: Iterable[str], interval_seconds: int = 900
) -> list[MeterAgg]:
    return [agg for month in months for agg in month_meters(data_dir, [uscc], month, interval_seconds).get(uscc, [])]


# ---- invoices -------------------------------------------------------------------


def aggregate_invoices(lf: pl.LazyFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(purchases per uscc/energy_type/unit, sales per uscc) of one month.

    The same (invoice_number, line_number) delivered twice keeps the highest
    seq. Red-letter lines already carry negative amounts and quantities, so
    the sums net them.
    """
    lines = lf.sort(["seq", "amount_cny"], descending=True).unique(
        subset=["uscc", "invoice_number", "line_number"], keep="first", maintain_order=True
    )
    purchases = (
        lines.filter(pl.col("direction") == "purchase")
        .group_by("uscc", pl.col("energy_type").fill_null(""), pl.col("unit").fill_null(""))
        .agg(
            pl.col("quantity").fill_null(0).sum().alias("quantity"),
            pl.col("amount_cny").sum().alias("amount_cny"),
        )
        .sort("uscc", "energy_type", "unit")
    )
    sales = (
        lines.filter(pl.col("direction") == "sale")
        .group_by("uscc")
        .agg(
            pl.col("amount_cny").sum().alias("amount_cny"),
            pl.col("tax_cny").sum().alias("tax_cny"),
            pl.len().alias("lines"),
        )
        .sort("uscc")
    )
    purchases_df, sales_df = pl.collect_all([purchases, sales])
    return purchases_df, sales_df


def _dec(value: object) -> Decimal:
    return Decimal(0) if value is None else Decimal(str(value))


def month_invoices(
    data_dir: rawdata.Root, usccs: Iterable[str], month: str
) -> dict[str, tuple[list[InvoiceAgg], list[Economics]]]:
    """One month's invoice aggregates and economics of several enterprises, computed together."""
    lf = scan_month(data_dir, "invoices", month, INVOICE_COLUMNS)
    if lf is None:
        return {}
    wanted = sorted(set(usccs))
    purchases, sales = aggregate_invoices(lf.filter(pl.col("uscc").is_in(wanted)))
    invoices: dict[str, list[InvoiceAgg]] = {}
    purchase_amount: dict[str, Decimal] = {}
    for row in purchases.iter_rows(named=True):
        uscc = row["uscc"]
        purchase_amount[uscc] = purchase_amount.get(uscc, Decimal(0)) + _dec(row["amount_cny"])
        if row["energy_type"] and row["energy_type"] != "non_energy":
            invoices.setdefault(uscc, []).append(
                InvoiceAgg(month, row["energy_type"], row["unit"], _dec(row["quantity"]), _dec(row["amount_cny"]))
            )
    sold: dict[str, tuple[Decimal, Decimal, int]] = {}
    for row in sales.iter_rows(named=True):  # one row per uscc
        sold[row["uscc"]] = (_dec(row["amount_cny"]), _dec(row["tax_cny"]), int(row["lines"]))
    result: dict[str, tuple[list[InvoiceAgg], list[Economics]]] = {}
    for uscc in sorted(set(purchase_amount) | set(sold)):
        amount, tax, lines = sold.get(uscc, (Decimal(0), Decimal(0), 0))
        economics = Economics(month, amount, tax, purchase_amount.get(uscc, Decimal(0)), lines)
        result[uscc] = (invoices.get(uscc, []), [economics])
    return result


def enterprise_invoices(
    data_dir: rawdata.Root, uscc: str, months: Iterable[str]
) -> tuple[list[InvoiceAgg], list[Economics]]:
    invoices: list[InvoiceAgg] = []
    economics: list[Economics] = []
    for month in months:
        lines, econ = month_invoices(data_dir, [uscc], month).get(uscc, ([], []))
        invoices.extend(lines)
        economics.extend(econ)
    return invoices, economics
