"""Batch accounting benchmark: polars (the service's batch path) against DuckDB.

    python bench/bench_accounting.py [--enterprises 49000] [--months 12] [--year 2024]
                                     [--chunk 2000] [--cache-dir DIR] [--no-duckdb]
                                     [--verify-months 1] [--workers N]

1. Generates (or reuses, keyed by parameters) a synthetic region as Parquet
   partitions with carbon_synth.bulk (months in parallel processes): 15-minute
   electricity readings for every enterprise (default 49,000 x 1 year ~ 1.7
   billion rows), a corrections file per month (same meter and ts, seq 2),
   flagged rows, plus invoices. Reading files are written as ingest-energy
   writes them: sorted by (uscc, meter_id, energy_type, ts) with the
   readings footer index (raw-data contract: carbon_ingest.rawdata).
2. Both engines aggregate the readings exactly per (uscc, month, energy_type):
   flagged rows dropped, per (meter, ts) the highest seq (ties: larger wh).
   Both first build the same plan from the file footers only
   (activity.plan_readings, timed on each side): the (meter, [lo, hi)) windows
   where two segments overlap in time or a segment repeats a ts; only rows in a
   window can be duplicates.
   polars (activity.aggregate_month_files): per file, read wh (+ flag when the
   index counts flagged rows, + ts/seq when a window touches the file) and sum
   per segment with np.add.reduceat over the index's row offsets (key columns
   never decoded); window rows are resolved by sort + unique (highest seq).
   DuckDB (SQL below): plain GROUP BY meter over all rows (sum wh, counts), plus
   the unflagged rows SEMI JOIN the windows on (uscc, meter_id, energy_type,
   lo <= ts < hi) resolved with max({seq, wh}).wh per (meter, ts); per meter:
   sum - window rows + window winners. (A one-scan LEFT JOIN variant measured
   slower on this machine.)
   Then polars computes annual accounts (Decimal factors per enterprise row).
3. --verify-months N (default 1): the plan-free exact algorithm (the previous
   two-pass bitmap SQL in DuckDB, no footer used) over the first N months must
   give the same totals too.
4. Prints both times, the ratio and readings/s; last line is one JSON object.

--backend s3: the generated files are uploaded to a local SeaweedFS (tools/bin/weed, `make seaweedfs`)
and polars reads them from there through the S3 gateway (footers, plan and rows: the same code as
on disk, rawdata's object-store reader); DuckDB and the plan-free check read the local copy of the
same data, so "totals agree" also compares object storage against disk.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
from carbon_accounting import activity
from carbon_accounting import factors as fx
from carbon_accounting.compute import fuel_tco2, per_mwh
from carbon_devkit.s3 import RAW_BUCKET, S3Server, seaweedfs
from carbon_synth.bulk import BulkParams, generate


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024


def readings_by_month(root: str | Path, months: list[str]) -> Iterator[tuple[str, list[str]]]:
    """(month, its readings files) for the months that have any."""
    for month in months:
        files = activity.month_files(root, "readings", month)
        if files:
            yield month, files


def polars_batch(
    root: str | Path, months: list[str], workers: int | None = None
) -> tuple[pl.DataFrame, pl.DataFrame, float, dict[str, int]]:
    started = time.perf_counter()
    frames = []
    stats = {"windows": 0, "window_rows_estimate": 0, "unindexed_files": 0, "fallback_months": 0}
    for month, files in readings_by_month(root, months):
        plan = activity.plan_readings(files)
        stats["windows"] += plan.windows.height
        stats["window_rows_estimate"] += plan.dirty_rows
        stats["unindexed_files"] += len(plan.unindexed)
        stats["fallback_months"] += 0 if plan.fast else 1
        frame = activity.aggregate_month_files(files, with_meter_ids=False, workers=workers, plan=plan)
        frames.append(frame.with_columns(pl.lit(month).alias("month")))
    readings = pl.concat(frames).select("uscc", "month", "energy_type", "wh", "readings", "flagged", "duplicates")
    readings_seconds = time.perf_counter() - started
    purchases = []
    for month in months:
        lf = activity.scan_month(root, "invoices", month, activity.INVOICE_COLUMNS)
        if lf is None:
            continue
        bought, _sales = activity.aggregate_invoices(lf)
        purchases.append(bought.with_columns(pl.lit(month).alias("month")))
    invoices = pl.concat(purchases)
    return readings, invoices, readings_seconds, stats


def annual_accounts(
    readings: pl.DataFrame, invoices: pl.DataFrame, master: pl.DataFrame, year: int
) -> dict[str, object]:
    """Annual tCO2 per enterprise: meters for electricity, invoices for fuels; Decimal per row."""
    factors = fx.load_factor_set()
    selection = fx.Selection()
    elec = readings.group_by("uscc").agg(pl.col("wh").sum()).join(master.select("uscc", "province_code"), on="uscc")
    fuels = (
        invoices.filter(pl.col("energy_type").is_in(list(factors.fuels)))
        .group_by("uscc", "energy_type", "unit")
        .agg(pl.col("quantity").sum())
    )
    grid: dict[str, Decimal] = {}
    totals: dict[str, Decimal] = {}
    for uscc, wh, province in elec.iter_rows():
        if province not in grid:
            grid[province] = fx.grid_factor(factors, "location", province, year, selection).value
        totals[uscc] = per_mwh(Decimal(wh) / 1000, grid[province])
    for uscc, energy, unit, quantity in fuels.iter_rows():
        qty = fx.to_canonical(factors, energy, Decimal(str(quantity)), unit)
        if qty is not None:
            totals[uscc] = totals.get(uscc, Decimal(0)) + fuel_tco2(qty, factors.fuels[energy])
    return {"accounts": len(totals), "total_tco2": str(sum(totals.values(), Decimal(0)))}


DUCK_PLANNED = """
WITH per_meter AS (
  SELECT uscc, energy_type, meter_id,
         sum(wh) FILTER (WHERE flag IS NULL) AS wh,
         count(*) FILTER (WHERE flag IS NULL) AS n,
         count(*) FILTER (WHERE flag IS NOT NULL) AS flagged
  FROM read_parquet($files)
  GROUP BY ALL
),
wrows AS (  -- unflagged rows inside an overlap window: the only possible duplicates
  SELECT r.uscc, r.energy_type, r.meter_id, r.ts, r.wh, r.seq
  FROM read_parquet($files) r
  SEMI JOIN win w
    ON r.uscc = w.uscc AND r.meter_id = w.meter_id AND r.energy_type = w.energy_type
   AND r.ts >= w.lo AND r.ts < w.hi
  WHERE r.flag IS NULL
),
best AS (  -- highest seq wins, ties: larger wh
  SELECT uscc, energy_type, meter_id, ts, max({'s': seq, 'w': wh}).w AS wh, count(*) AS c
  FROM wrows
  GROUP BY ALL
),
fix AS (
  SELECT uscc, energy_type, meter_id, sum(c) AS raw_n, count(*) AS won_n, sum(wh) AS won_wh
  FROM best
  GROUP BY ALL
),
raw AS (SELECT uscc, energy_type, meter_id, sum(wh) AS raw_wh FROM wrows GROUP BY ALL)
SELECT p.uscc, p.energy_type,
       sum(coalesce(p.wh, 0) - coalesce(raw.raw_wh, 0) + coalesce(fix.won_wh, 0))::BIGINT AS wh,
       sum(p.n - coalesce(fix.raw_n, 0) + coalesce(fix.won_n, 0))::BIGINT AS readings,
       sum(p.flagged)::BIGINT AS flagged,
       sum(coalesce(fix.raw_n, 0) - coalesce(fix.won_n, 0))::BIGINT AS duplicates
FROM per_meter p
LEFT JOIN fix USING (uscc, energy_type, meter_id)
LEFT JOIN raw USING (uscc, energy_type, meter_id)
GROUP BY ALL
"""

# Plan-free reference (no footer index): the previous two-pass exact algorithm.
DUCK_GROUPS = """
CREATE OR REPLACE TEMP TABLE g AS
SELECT uscc, energy_type, meter_id, (ts // 900) // 64 AS w,
       sum(CASE WHEN flag IS NULL THEN wh ELSE 0 END)::BIGINT AS wh,
       count(*) FILTER (WHERE flag IS NULL) AS n,
       count(*) FILTER (WHERE flag IS NOT NULL) AS flagged,
       bit_or(CASE WHEN flag IS NULL THEN (1::UBIGINT << ((ts // 900) % 64)::INTEGER) ELSE 0::UBIGINT END) AS bits
FROM read_parquet($files)
GROUP BY ALL
"""
DUCK_EXACT = """
WITH s AS (SELECT DISTINCT meter_id, w FROM g WHERE n <> bit_count(bits)),
r AS (
  SELECT uscc, energy_type, meter_id, ts, max({'s': seq, 'w': wh}).w AS wh
  FROM read_parquet($files)
  WHERE flag IS NULL AND meter_id IN (SELECT meter_id FROM s)
  GROUP BY ALL
),
x AS (
  SELECT r.uscc, r.energy_type, r.meter_id, (r.ts // 900) // 64 AS w, sum(r.wh)::BIGINT AS wh_exact,
         count(*) AS n_exact
  FROM r SEMI JOIN s ON r.meter_id = s.meter_id AND (r.ts // 900) // 64 = s.w
  GROUP BY ALL
)
SELECT g.uscc, g.energy_type, sum(coalesce(x.wh_exact, g.wh))::BIGINT AS wh,
       sum(coalesce(x.n_exact, g.n))::BIGINT AS readings, sum(g.flagged)::BIGINT AS flagged,
       sum(g.n - coalesce(x.n_exact, g.n))::BIGINT AS duplicates
FROM g LEFT JOIN x USING (uscc, energy_type, meter_id, w)
GROUP BY ALL
"""
COLUMNS = ["uscc", "month", "energy_type", "wh", "readings", "flagged", "duplicates"]


def duck_connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"SET threads = {os.cpu_count() or 1}")
    con.execute(f"SET temp_directory = '{tempfile.gettempdir()}/duckdb-bench'")
    return con


def duckdb_batch(root: Path, months: list[str]) -> tuple[pl.DataFrame, float]:
    """The same plan (windows from the footers, computed here again and timed), then SQL."""
    con = duck_connect()
    scratch = Path(tempfile.mkdtemp(prefix="duck-windows-"))
    started = time.perf_counter()
    rows = []
    for month, files in readings_by_month(root, months):
        plan = activity.plan_readings(files)
        windows = scratch / f"{month}.parquet"
        plan.windows.write_parquet(windows)
        con.execute("CREATE OR REPLACE TEMP TABLE win AS SELECT * FROM read_parquet($w)", {"w": str(windows)})
        for row in con.execute(DUCK_PLANNED, {"files": files}).fetchall():
            rows.append((row[0], month, *row[1:]))
    seconds = time.perf_counter() - started
    for path in scratch.iterdir():
        path.unlink()
    scratch.rmdir()
    return pl.DataFrame(rows, schema=[*COLUMNS], orient="row"), seconds


def duckdb_plan_free(root: Path, months: list[str]) -> tuple[pl.DataFrame, float]:
    con = duck_connect()
    started = time.perf_counter()
    rows = []
    for month, files in readings_by_month(root, months):
        con.execute(DUCK_GROUPS, {"files": files})
        for row in con.execute(DUCK_EXACT, {"files": files}).fetchall():
            rows.append((row[0], month, *row[1:]))
    return pl.DataFrame(rows, schema=[*COLUMNS], orient="row"), time.perf_counter() - started


def same_totals(ours: pl.DataFrame, theirs: pl.DataFrame) -> bool:
    keys = ["uscc", "month", "energy_type"]
    ours = ours.select(COLUMNS).sort(keys)
    return ours.equals(theirs.select(COLUMNS).cast(dict(ours.schema)).sort(keys))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--enterprises", type=int, default=49_000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--year", type=int, default=2024)
    parser.add_argument("--chunk", type=int, default=2_000, help="enterprises per Parquet file")
    parser.add_argument("--seed", type=int, default=20240101)
    parser.add_argument("--correction-rate", type=float, default=1e-5)
    parser.add_argument("--flag-rate", type=float, default=1e-4)
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "carbon-bench")
    parser.add_argument("--no-duckdb", action="store_true")
    parser.add_argument("--verify-months", type=int, default=1, help="plan-free exact check of the first N months")
    parser.add_argument("--workers", type=int, default=None, help="polars file threads (default: cores)")
    parser.add_argument("--backend", choices=["local", "s3"], default="local", help="where polars reads raw data")
    args = parser.parse_args(argv)
    with contextlib.ExitStack() as cleanup:
        return run(args, cleanup)


def upload(root: Path, server: S3Server) -> tuple[str, float]:
    """The generated raw files into the server's bucket (same layout); returns the s3:// root, seconds."""
    import obstore

    os.environ.update(server.environ())  # the AWS_* variables rawdata reads
    server.create_bucket(RAW_BUCKET)
    store, prefix = server.store(RAW_BUCKET), "bench"
    started = time.perf_counter()
    for kind in ("readings", "invoices"):
        for path in sorted((root / kind).rglob("*.parquet")):
            obstore.put(store, f"{prefix}/{path.relative_to(root).as_posix()}", path)
    return f"s3://{RAW_BUCKET}/{prefix}", time.perf_counter() - started


def run(args: argparse.Namespace, cleanup: contextlib.ExitStack) -> int:

    params = BulkParams(
        args.enterprises, args.year, args.months, args.chunk, args.seed, args.correction_rate, args.flag_rate
    )
    root = args.cache_dir / params.key()
    print(f"data: {root}", flush=True)
    manifest = generate(root, params)
    months = params.month_names()
    rows = int(manifest["readings_rows"])  # type: ignore[arg-type]
    print(
        f"readings rows: {rows:,} (generated in {manifest['generate_seconds']} s, reused={manifest['reused']})",
        flush=True,
    )

    source: str | Path = root
    upload_seconds = None
    if args.backend == "s3":
        server = cleanup.enter_context(seaweedfs(Path(cleanup.enter_context(tempfile.TemporaryDirectory()))))
        source, upload_seconds = upload(root, server)
        print(f"uploaded to {source} in {upload_seconds:.2f} s", flush=True)
    started = time.perf_counter()
    readings, invoices, readings_seconds, plan_stats = polars_batch(source, months, args.workers)
    master = pl.read_parquet(root / "enterprises.parquet")
    accounts = annual_accounts(readings, invoices, master, args.year)
    polars_seconds = time.perf_counter() - started
    polars_rss = peak_rss_gib()
    print(
        f"plan (footers only): {plan_stats['windows']:,} overlap windows, ~{plan_stats['window_rows_estimate']:,} "
        f"rows to dedup, {plan_stats['unindexed_files']} unindexed files, {plan_stats['fallback_months']} "
        "fallback months",
        flush=True,
    )
    print(
        f"polars: readings {readings_seconds:.2f} s ({rows / readings_seconds / 1e6:.1f} M readings/s), "
        f"batch incl. invoices and accounts {polars_seconds:.2f} s, peak RSS {polars_rss:.2f} GiB",
        flush=True,
    )

    result: dict[str, object] = {
        "bench": "accounting",
        "backend": args.backend,
        "upload_seconds": None if upload_seconds is None else round(upload_seconds, 3),
        "enterprises": args.enterprises,
        "months": args.months,
        "readings": rows,
        "polars_method": "footer plan; per-segment np.add.reduceat of wh (flag/ts/seq only where needed); "
        "window rows: highest seq by sort+unique",
        "polars_readings_seconds": round(readings_seconds, 3),
        "polars_readings_per_second": round(rows / readings_seconds),
        "readings_per_second": round(rows / readings_seconds),
        "polars_batch_seconds": round(polars_seconds, 3),
        "polars_peak_rss_gib": round(polars_rss, 2),
        "accounts": accounts["accounts"],
        "total_tco2": accounts["total_tco2"],
        "duplicates_resolved": int(readings["duplicates"].sum()),
        "flagged": int(readings["flagged"].sum()),
        **plan_stats,
    }
    ok = True
    if not args.no_duckdb:
        duck, duck_seconds = duckdb_batch(root, months)
        ok = same_totals(readings, duck)
        ratio = duck_seconds / readings_seconds
        print(
            f"duckdb: readings {duck_seconds:.2f} s ({rows / duck_seconds / 1e6:.1f} M readings/s); "
            f"duckdb/polars time ratio {ratio:.2f}; totals agree: {ok}",
            flush=True,
        )
        result.update(
            duckdb_method="same footer plan; SQL GROUP BY meter over all rows, window rows (SEMI JOIN) "
            "resolved by max({seq,wh}) per (meter, ts) and swapped in",
            duckdb_readings_seconds=round(duck_seconds, 3),
            duckdb_readings_per_second=round(rows / duck_seconds),
            duckdb_over_polars_ratio=round(ratio, 3),
            totals_agree=ok,
        )
    if args.verify_months > 0:
        checked = months[: args.verify_months]
        reference, ref_seconds = duckdb_plan_free(root, checked)
        plan_free_ok = same_totals(readings.filter(pl.col("month").is_in(checked)), reference)
        ok = ok and plan_free_ok
        print(
            f"plan-free check (DuckDB two-pass bitmap dedup, no footers) on {', '.join(checked)}: "
            f"{ref_seconds:.2f} s, totals agree: {plan_free_ok}",
            flush=True,
        )
        result.update(
            plan_free_months=len(checked), plan_free_seconds=round(ref_seconds, 3), plan_free_agree=plan_free_ok
        )
    result.update(totals_equal=ok, peak_rss_gib=round(peak_rss_gib(), 2))
    print(json.dumps(result))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
