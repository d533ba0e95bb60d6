"""Batch accounting benchmark: polars (the service's batch path) against DuckDB.

    python bench/bench_accounting.py [--enterprises 49000] [--months 12] [--year 2024]
                                     [--chunk 2000] [--cache-dir DIR] [--no-duckdb]

1. Generates (or reuses, keyed by parameters) a synthetic region as Parquet
   partitions with carbon_synth.bulk: 15-minute electricity readings for every
   enterprise (default 49,000 x 1 year ~ 1.7 billion rows) plus invoices.
2. polars: per month, scan_parquet lazily and aggregate the readings exactly
   (flagged rows dropped, highest seq wins per (meter_id, ts)) with
   carbon_accounting.activity.aggregate_readings (streaming engine), and the
   invoices with aggregate_invoices; then annual accounts per enterprise:
   Decimal factor multiplication per (enterprise, energy type) row.
3. DuckDB: the same two-pass exact algorithm in SQL over the same files.
4. Checks that both agree exactly on every (uscc, month, energy_type) total,
   prints both times, the ratio and the readings/s; last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
from carbon_accounting import activity
from carbon_accounting import factors as fx
from carbon_accounting.compute import fuel_tco2, per_mwh
from carbon_synth.bulk import BulkParams, generate


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024


def polars_batch(root: Path, months: list[str]) -> tuple[pl.DataFrame, pl.DataFrame, float]:
    started = time.perf_counter()
    frames = []
    for month in months:
        lf = activity.scan_month(root, "readings", month, activity.READING_COLUMNS)
        if lf is None:
            continue
        frame = activity.aggregate_readings(lf, with_meter_ids=False)
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
    return readings, invoices, readings_seconds


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


def duckdb_batch(root: Path, months: list[str]) -> tuple[pl.DataFrame, float]:
    con = duckdb.connect()
    con.execute(f"SET threads = {os.cpu_count() or 1}")
    con.execute(f"SET temp_directory = '{tempfile.gettempdir()}/duckdb-bench'")
    started = time.perf_counter()
    rows = []
    for month in months:
        files = activity.month_files(root, "readings", month)
        if not files:
            continue
        con.execute(DUCK_GROUPS, {"files": files})
        for row in con.execute(DUCK_EXACT, {"files": files}).fetchall():
            rows.append((row[0], month, *row[1:]))
    seconds = time.perf_counter() - started
    frame = pl.DataFrame(
        rows, schema=["uscc", "month", "energy_type", "wh", "readings", "flagged", "duplicates"], orient="row"
    )
    return frame, seconds


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
    args = parser.parse_args(argv)

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

    started = time.perf_counter()
    readings, invoices, readings_seconds = polars_batch(root, months)
    master = pl.read_parquet(root / "enterprises.parquet")
    accounts = annual_accounts(readings, invoices, master, args.year)
    polars_seconds = time.perf_counter() - started
    polars_rss = peak_rss_gib()
    print(
        f"polars: readings {readings_seconds:.2f} s ({rows / readings_seconds / 1e6:.1f} M readings/s), "
        f"batch incl. invoices and accounts {polars_seconds:.2f} s, peak RSS {polars_rss:.2f} GiB",
        flush=True,
    )

    result: dict[str, object] = {
        "bench": "accounting",
        "enterprises": args.enterprises,
        "months": args.months,
        "readings": rows,
        "polars_readings_seconds": round(readings_seconds, 3),
        "polars_readings_per_second": round(rows / readings_seconds),
        "polars_batch_seconds": round(polars_seconds, 3),
        "polars_peak_rss_gib": round(polars_rss, 2),
        "accounts": accounts["accounts"],
        "total_tco2": accounts["total_tco2"],
        "duplicates_resolved": int(readings["duplicates"].sum()),
        "flagged": int(readings["flagged"].sum()),
    }
    ok = True
    if not args.no_duckdb:
        duck, duck_seconds = duckdb_batch(root, months)
        keys = ["uscc", "month", "energy_type"]
        ours = readings.sort(keys)
        theirs = duck.select(ours.columns).cast(dict(ours.schema)).sort(keys)
        ok = ours.equals(theirs)
        ratio = duck_seconds / readings_seconds
        print(
            f"duckdb: readings {duck_seconds:.2f} s ({rows / duck_seconds / 1e6:.1f} M readings/s); "
            f"duckdb/polars time ratio {ratio:.2f}; totals agree: {ok}",
            flush=True,
        )
        result.update(
            duckdb_readings_seconds=round(duck_seconds, 3),
            duckdb_readings_per_second=round(rows / duck_seconds),
            duckdb_over_polars_ratio=round(ratio, 3),
            totals_agree=ok,
            peak_rss_gib=round(peak_rss_gib(), 2),
        )
    print(json.dumps(result))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
