"""The polars layer over the ingest Parquet contract: dedup, flags, red-letter netting."""

from __future__ import annotations

import random
from collections.abc import Callable
from decimal import Decimal as D
from pathlib import Path

import polars as pl
from carbon_accounting import activity
from carbon_accounting import factors as fx
from carbon_accounting.compute import Enterprise, PeriodInputs, Rules, compute_account
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.accounting.parquet_data import (
    READINGS_SCHEMA,
    full_meter,
    invoice,
    month_start,
    write_invoices,
    write_readings,
)

HEBEI = Enterprise("91130100MA0000000X", "C2611", "130000")
U = HEBEI.uscc
FACTORS = fx.load_factor_set(version="cn-2024.1")


def naive(frame: pl.DataFrame) -> dict[tuple[str, str], tuple[int, int]]:
    """Reference: drop flagged, then per (meter, ts) the max (seq, wh) row."""
    best: dict[tuple[str, str, str, int], tuple[int, int]] = {}
    for uscc, meter, energy, ts, wh, seq, flag in frame.iter_rows():
        if flag is not None:
            continue
        key = (uscc, energy, meter, ts)
        if key not in best or (seq, wh) > best[key]:
            best[key] = (seq, wh)
    out: dict[tuple[str, str], tuple[int, int]] = {}
    for (uscc, energy, _m, _t), (_s, wh) in best.items():
        total, count = out.get((uscc, energy), (0, 0))
        out[(uscc, energy)] = (total + wh, count + 1)
    return out


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 300), st.floats(0, 0.5), st.floats(0, 0.3))
def test_bitmap_dedup_equals_naive_dedup(seed: int, rows: int, dup_share: float, flag_share: float) -> None:
    rng = random.Random(seed)
    start = month_start("2024-01")
    data = []
    for _ in range(rows):
        meter = rng.choice(["m1", "m2", "m3"])
        uscc = "A" if meter != "m3" else "B"
        # aligned timestamps mostly, a few unaligned ones
        ts = start + rng.randrange(0, 200) * 900 + (rng.choice([0, 0, 0, 17]))
        data.append(
            (
                uscc,
                meter,
                "electricity",
                ts,
                rng.randrange(0, 5000),
                rng.randrange(1, 3),
                "est" if rng.random() < flag_share else None,
            )
        )
        if rng.random() < dup_share:
            data.append((uscc, meter, "electricity", ts, rng.randrange(0, 5000), rng.randrange(1, 4), None))
    frame = pl.DataFrame(data, schema=READINGS_SCHEMA, orient="row")
    result = activity.aggregate_readings(frame.lazy())
    got = {(r["uscc"], r["energy_type"]): (r["wh"], r["readings"]) for r in result.iter_rows(named=True)}
    want = naive(frame)
    assert {k: v for k, v in got.items() if v[1]} == want


def test_meter_month_with_correction_duplicate_and_flag(new_data_root: Callable[[], Path]) -> None:
    tmp_path = new_data_root()  # a local directory or an s3:// root (the test runs on both)
    rows = full_meter(U, "m1", "2024-02", 1000)  # 29 days x 96 = 2784 readings of 1 kWh
    write_readings(tmp_path, "2024-02", rows)
    write_readings(
        tmp_path,
        "2024-02",
        [
            (U, "m1", "electricity", rows[10][3], 3000, 2, None),  # correction: 1 kWh -> 3 kWh
            (U, "m1", "electricity", rows[11][3], 1000, 1, None),  # verbatim re-send
            (U, "m1", "electricity", rows[12][3], 9000, 5, "spike"),  # flagged correction: ignored
            ("91330100MA0000001X", "m9", "electricity", rows[0][3], 777, 1, None),  # someone else
        ],
        name="part-1",
    )
    (agg,) = activity.enterprise_meters(tmp_path, U, ["2024-02"])
    # 2784 kWh + 2 kWh from the correction = 2786 kWh
    assert agg.wh == 2_786_000 and agg.readings == 2784
    assert agg.duplicates == 2 and agg.flagged == 1 and agg.meters == ("m1",)


def test_red_letter_reversal_nets_and_feeds_the_account(new_data_root: Callable[[], Path]) -> None:
    tmp_path = new_data_root()
    write_invoices(
        tmp_path,
        "2022-03",
        [
            invoice(U, "P1", "purchase", "electricity", "100000", "kWh", "60000.00", "7800.00"),
            # red-letter reversal of 10% of P1: negative quantity and amount
            invoice(
                U, "R1", "purchase", "electricity", "-10000", "kWh", "-6000.00", "-780.00", red=True, original="P1"
            ),
            invoice(U, "N1", "purchase", "non_energy", None, "", "300000.00", "39000.00"),
            invoice(U, "S1", "sale", None, None, "", "1000000.00", "130000.00"),
            # the same line delivered twice: highest seq wins
            invoice(U, "S2", "sale", None, None, "", "1.00", "0.13"),
            invoice(U, "S2", "sale", None, None, "", "2.00", "0.26", seq=2),
        ],
    )
    invoices, economics = activity.enterprise_invoices(tmp_path, U, ["2022-03"])
    assert [(i.energy_type, i.quantity) for i in invoices] == [("electricity", D("90000"))]
    (econ,) = economics
    assert econ.sales_amount_cny == D("1000002.00") and econ.sales_tax_cny == D("130000.26")
    assert econ.purchase_amount_cny == D("354000.00")
    inputs = PeriodInputs(HEBEI, "2022", invoices=tuple(invoices), economics=tuple(economics))
    account = compute_account(inputs, FACTORS, fx.Selection(), Rules())
    # 90 MWh x 0.7252 = 65.268; value added 1,000,002 - 354,000 = 646,002
    assert D(account.total_tco2.value) == D("65.268")
    assert D(account.value_added_cny.value) == D("646002.00")
    # March carries it all
    assert D(account.monthly[2].scope2_tco2.value) == D("65.268")
