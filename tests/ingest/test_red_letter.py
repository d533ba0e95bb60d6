"""Red-letter (红字) reversals reduce the period of the invoice they reverse, not the month they
were issued in; the reversal's own date stays for audit; an unknown original is quarantined.
Expected values computed by hand in each test."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal as D
from pathlib import Path

import polars as pl
import pytest
import redis
from carbon.v1 import consent_pb2
from carbon.v1 import ingest_tax_pb2 as pb
from carbon_accounting import activity
from carbon_accounting import factors as fx
from carbon_accounting.compute import Enterprise, PeriodInputs, Rules, compute_account
from carbon_common.redis_conn import connect
from carbon_ingest import rawdata
from carbon_ingest_tax.core import TaxCore
from carbon_ingest_tax.store import TaxStore

from tests.ingest.helpers import AllowList, make_uscc
from tests.ingest.test_tax import invoice, line

USCC = make_uscc(51)
GRID = make_uscc(52)
SHANGHAI = timezone(timedelta(hours=8))
JAN_20 = int(datetime(2022, 1, 20, 10, 0, tzinfo=SHANGHAI).timestamp())
JAN_31_LATE = int(datetime(2022, 1, 31, 23, 30, tzinfo=SHANGHAI).timestamp())  # 15:30 UTC: still January here
FEB_03 = int(datetime(2022, 2, 3, 10, 0, tzinfo=SHANGHAI).timestamp())
FEB_10 = int(datetime(2022, 2, 10, 10, 0, tzinfo=SHANGHAI).timestamp())
ELEC = "1100101020000000000"
FACTORS = fx.load_factor_set(version="cn-2024.1")
# Hebei (130000): location-based grid factor for data year 2022 = 0.7252 tCO2/MWh (grid.csv).
HEBEI = Enterprise(USCC, "C2611", "130000", "130100")


@pytest.fixture
def ingestor(redis_url: str, tmp_path: Path) -> TaxCore:
    return TaxCore(TaxStore(connect(redis_url), tmp_path), AllowList((USCC, consent_pb2.CONSENT_SCOPE_TAX_INVOICES)))


def num(i: int) -> str:
    return f"{13300000000000000000 + i}"


def electricity(number: str, kwh: str, amount: str, t: int, red_of: str = "") -> pb.Invoice:
    return invoice(
        number, line(1, ELEC, "*供电*电费", "千瓦时", kwh, amount, "0.00"), seller=GRID, buyer=USCC, red_of=red_of, t=t
    )


def account(root: Path, month: str) -> tuple[D, D]:
    """(Scope 2 location tCO2, purchase amount CNY) of the month's account, read the way accounting reads."""
    invoices, economics = activity.enterprise_invoices(root, USCC, [month])
    result = compute_account(PeriodInputs(HEBEI, month, invoices=tuple(invoices)), FACTORS, fx.Selection(), Rules())
    purchases = sum((e.purchase_amount_cny for e in economics), D(0))
    return D(result.scope2_location_tco2.value), purchases


def activity_months(redis_url: str) -> list[str]:
    entries = redis.Redis.from_url(redis_url).xrange("carbon:events:activity")
    return [fields[b"months"].decode() for _id, fields in entries]


def test_a_february_reversal_of_a_january_invoice_reduces_january(
    ingestor: TaxCore, tmp_path: Path, redis_url: str
) -> None:
    parent = f"enterprises/{USCC}"
    ingestor.ingest(parent, "jan", [electricity(num(1), "1000", "650.00", JAN_20)])
    ingestor.ingest(parent, "feb", [electricity(num(2), "800", "520.00", FEB_10)])
    response = ingestor.ingest(parent, "red", [electricity(num(3), "-300", "-195.00", FEB_03, red_of=num(1))])
    assert response.energy_lines == 1 and not response.quarantined

    # January: (1,000 - 300) kWh = 0.7 MWh x 0.7252 = 0.50764 tCO2; purchases 650.00 - 195.00 = 455.00 CNY.
    assert account(tmp_path, "2022-01") == (D("0.50764"), D("455.00"))
    # February unchanged: 800 kWh = 0.8 MWh x 0.7252 = 0.58016 tCO2; purchases 520.00 CNY.
    # (Netting in the month of issue would have given January 0.7252 and February 0.5 x 0.7252 = 0.3626.)
    assert account(tmp_path, "2022-02") == (D("0.58016"), D("520.00"))

    # The reversal is filed under January but keeps its own (February) date for audit.
    january = rawdata.scan_month(tmp_path, rawdata.INVOICES, "2022-01")
    assert january is not None
    reversal = january.filter(pl.col("red_letter")).collect().row(0, named=True)
    assert reversal["issue_time"] == FEB_03 and reversal["original_invoice_number"] == num(1)
    assert reversal["quantity"] == D("-300") and reversal["amount_cny"] == D("-195.00")
    # Accounting is told the period that changed: January, not February.
    assert activity_months(redis_url) == ["2022-01", "2022-02", "2022-01"]


def test_the_period_is_the_originals_month_in_asia_shanghai(ingestor: TaxCore, tmp_path: Path) -> None:
    parent = f"enterprises/{USCC}"
    ingestor.ingest(parent, "jan", [electricity(num(1), "100", "65.00", JAN_31_LATE)])  # 2022-01-31 15:30 UTC
    ingestor.ingest(parent, "red", [electricity(num(2), "-100", "-65.00", FEB_03, red_of=num(1))])
    # January: 100 - 100 = 0 kWh -> 0 tCO2, 0.00 CNY; February has no invoice data at all.
    assert account(tmp_path, "2022-01") == (D("0"), D("0.00"))
    assert rawdata.month_files(tmp_path, rawdata.INVOICES, "2022-02") == []


def test_a_reversal_of_an_unknown_invoice_is_quarantined_then_accepted_when_resubmitted(
    ingestor: TaxCore, tmp_path: Path, redis_url: str
) -> None:
    parent = f"enterprises/{USCC}"
    red = electricity(num(3), "-300", "-195.00", FEB_03, red_of=num(1))
    held = ingestor.ingest(parent, "red-1", [red])
    assert held.energy_lines == 0
    (line,) = held.quarantined
    assert line.reason == "ORIGINAL_INVOICE_UNKNOWN" and num(1) in line.message and "submit" in line.message
    assert rawdata.months(tmp_path, rawdata.INVOICES) == [] and activity_months(redis_url) == []
    listed = ingestor.list_quarantined(parent, 10, "")
    assert [q.reason for q in listed.lines] == ["ORIGINAL_INVOICE_UNKNOWN"]

    ingestor.ingest(parent, "jan", [electricity(num(1), "1000", "650.00", JAN_20)])
    # The held reversal is not released by itself: January is the original alone, 1 MWh x 0.7252.
    assert account(tmp_path, "2022-01") == (D("0.7252"), D("650.00"))
    again = ingestor.ingest(parent, "red-2", [red])  # re-submitted with a new request_id
    assert again.energy_lines == 1 and not again.quarantined
    # January: 0.7 MWh x 0.7252 = 0.50764 tCO2; 650.00 - 195.00 = 455.00 CNY.
    assert account(tmp_path, "2022-01") == (D("0.50764"), D("455.00"))
    assert ingestor.list_quarantined(parent, 10, "").lines == []


def test_original_and_reversal_in_one_batch_in_any_order(ingestor: TaxCore, tmp_path: Path) -> None:
    red = electricity(num(2), "-1000", "-650.00", FEB_03, red_of=num(1))
    response = ingestor.ingest(f"enterprises/{USCC}", "both", [red, electricity(num(1), "1000", "650.00", JAN_20)])
    assert response.energy_lines == 2 and not response.quarantined
    # January: 1,000 - 1,000 = 0 kWh; February: nothing.
    assert account(tmp_path, "2022-01") == (D("0"), D("0.00"))
    assert rawdata.months(tmp_path, rawdata.INVOICES) == ["2022-01"]


def test_a_reversal_naming_another_reversal_is_not_guessed(ingestor: TaxCore) -> None:
    parent = f"enterprises/{USCC}"
    ingestor.ingest(parent, "jan", [electricity(num(1), "1000", "650.00", JAN_20)])
    ingestor.ingest(parent, "red", [electricity(num(2), "-100", "-65.00", FEB_03, red_of=num(1))])
    response = ingestor.ingest(parent, "red2", [electricity(num(3), "-100", "-65.00", FEB_10, red_of=num(2))])
    assert [q.reason for q in response.quarantined] == ["ORIGINAL_INVOICE_UNKNOWN"]


def test_periods_of_invoices_stored_before_periods_existed_are_backfilled(
    ingestor: TaxCore, tmp_path: Path, redis_url: str
) -> None:
    parent = f"enterprises/{USCC}"
    ingestor.ingest(parent, "jan", [electricity(num(1), "1000", "650.00", JAN_20)])
    client = redis.Redis.from_url(redis_url)
    client.delete(f"carbon:ingest-tax:periods:{USCC}")  # as data written before this change
    red = electricity(num(3), "-300", "-195.00", FEB_03, red_of=num(1))
    assert [q.reason for q in ingestor.ingest(parent, "red-1", [red]).quarantined] == ["ORIGINAL_INVOICE_UNKNOWN"]
    assert ingestor.backfill_periods() == 1  # read from the January partition
    assert ingestor.backfill_periods() == 0  # once per data set
    assert ingestor.ingest(parent, "red-2", [red]).energy_lines == 1
    # January: 0.7 MWh x 0.7252 = 0.50764 tCO2; 650.00 - 195.00 = 455.00 CNY.
    assert account(tmp_path, "2022-01") == (D("0.50764"), D("455.00"))
