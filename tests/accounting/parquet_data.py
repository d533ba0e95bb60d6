"""Writers of the ingest Parquet contract for the accounting tests."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
from carbon_ingest import parquet_io
from carbon_ingest.rawdata import INVOICES_SCHEMA as INVOICE_SCHEMA
from carbon_ingest.rawdata import READINGS_SCHEMA

__all__ = ["INVOICE_SCHEMA", "READINGS_SCHEMA"]


def month_start(month: str) -> int:
    return int(datetime(int(month[:4]), int(month[5:7]), 1, tzinfo=UTC).timestamp())


def write_readings(root: Path, month: str, rows: list[tuple], name: str = "part-0") -> None:
    """rows: (uscc, meter_id, energy_type, ts, wh, seq, flag). Plain file (no footer index), on
    either backend (root: a directory or an s3:// root)."""
    frame = pl.DataFrame(rows, schema=READINGS_SCHEMA, orient="row")
    parquet_io.write_atomic(frame, root / "readings" / f"month={month}" / f"{name}.parquet")


def full_meter(uscc: str, meter: str, month: str, wh: int, energy: str = "electricity") -> list[tuple]:
    import calendar

    days = calendar.monthrange(int(month[:4]), int(month[5:7]))[1]
    start = month_start(month)
    return [(uscc, meter, energy, start + i * 900, wh, 1, None) for i in range(days * 96)]


def invoice(
    uscc: str,
    number: str,
    direction: str,
    energy: str | None,
    quantity: str | None,
    unit: str,
    amount: str,
    tax: str,
    *,
    red: bool = False,
    original: str | None = None,
    line: int = 1,
    seq: int = 1,
) -> tuple:
    return (
        uscc,
        number,
        line,
        1_700_000_000,
        direction,
        energy,
        Decimal(quantity) if quantity else None,
        unit,
        Decimal(amount),
        Decimal(tax),
        red,
        original,
        None,
        seq,
    )


def write_invoices(root: Path, month: str, rows: list[tuple], name: str = "part-0") -> None:
    frame = pl.DataFrame(rows, schema=INVOICE_SCHEMA, orient="row")
    parquet_io.write_atomic(frame, root / "invoices" / f"month={month}" / f"{name}.parquet")
