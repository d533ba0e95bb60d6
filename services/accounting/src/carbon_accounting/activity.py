"""Activity data from the ingest services' Parquet partitions (polars, lazy).

Readings: `readings/month=YYYY-MM/*.parquet`; invoices:
`invoices/month=YYYY-MM/*.parquet` (contract in services/accounting/README.md).

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

from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path

import polars as pl

from carbon_accounting.compute import Economics, InvoiceAgg, MeterAgg

READING_COLUMNS = ["uscc", "meter_id", "energy_type", "ts", "wh", "seq", "flag"]
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


def month_files(data_dir: Path, kind: str, month: str) -> list[str]:
    directory = Path(data_dir) / kind / f"month={month}"
    return sorted(str(p) for p in directory.glob("*.parquet")) if directory.is_dir() else []


def scan_month(data_dir: Path, kind: str, month: str, columns: list[str]) -> pl.LazyFrame | None:
    files = month_files(data_dir, kind, month)
    if not files:
        return None
    return pl.scan_parquet(files, hive_partitioning=False).select(columns)


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


def aggregate_readings(lf: pl.LazyFrame, interval_seconds: int = 900, *, with_meter_ids: bool = True) -> pl.DataFrame:
    """Exact per (uscc, energy_type) totals of one month's readings.

    Columns: uscc, energy_type, wh, readings, flagged, duplicates, meters
    (count) and, when asked, meter_ids (sorted list).
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
    aggs = [
        pl.col("wh").sum().alias("wh"),
        pl.col("n").sum().alias("readings"),
        pl.col("flagged").sum().alias("flagged"),
        pl.col("dup").sum().alias("duplicates"),
        pl.col("meter_id").filter(pl.col("n") > 0).n_unique().alias("meters"),
    ]
    if with_meter_ids:
        aggs.append(pl.col("meter_id").filter(pl.col("n") > 0).unique().sort().alias("meter_ids"))
    return groups.group_by("uscc", "energy_type").agg(aggs).sort("uscc", "energy_type")


def enterprise_meters(data_dir: Path, uscc: str, months: Iterable[str], interval_seconds: int = 900) -> list[MeterAgg]:
    result: list[MeterAgg] = []
    for month in months:
        lf = scan_month(data_dir, "readings", month, READING_COLUMNS)
        if lf is None:
            continue
        frame = aggregate_readings(lf.filter(pl.col("uscc") == uscc), interval_seconds)
        for row in frame.iter_rows(named=True):
            result.append(
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


def enterprise_invoices(data_dir: Path, uscc: str, months: Iterable[str]) -> tuple[list[InvoiceAgg], list[Economics]]:
    invoices: list[InvoiceAgg] = []
    economics: list[Economics] = []
    for month in months:
        lf = scan_month(data_dir, "invoices", month, INVOICE_COLUMNS)
        if lf is None:
            continue
        purchases, sales = aggregate_invoices(lf.filter(pl.col("uscc") == uscc))
        purchase_amount = Decimal(0)
        for row in purchases.iter_rows(named=True):
            purchase_amount += _dec(row["amount_cny"])
            if row["energy_type"] and row["energy_type"] != "non_energy":
                invoices.append(
                    InvoiceAgg(month, row["energy_type"], row["unit"], _dec(row["quantity"]), _dec(row["amount_cny"]))
                )
        sales_amount = sales_tax = Decimal(0)
        sales_lines = 0
        for row in sales.iter_rows(named=True):
            sales_amount += _dec(row["amount_cny"])
            sales_tax += _dec(row["tax_cny"])
            sales_lines += int(row["lines"])
        if purchases.height or sales.height:
            economics.append(Economics(month, sales_amount, sales_tax, purchase_amount, sales_lines))
    return invoices, economics
