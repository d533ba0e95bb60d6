"""Property: replaying any permutation of the same batches, with duplicates
(retried request ids and overlapping batches), yields identical stored activity."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import polars as pl
import redis
from carbon.v1 import consent_pb2
from carbon.v1 import ingest_energy_pb2 as pb
from carbon.v1 import ingest_tax_pb2 as tax_pb
from carbon_common.redis_conn import connect
from carbon_ingest import rawdata
from carbon_ingest_energy.core import EnergyCore
from carbon_ingest_energy.grpc_api import EnergyServicer
from carbon_ingest_energy.settings import EnergySettings
from carbon_ingest_energy.store import ReadingStore
from carbon_ingest_tax.core import TaxCore
from carbon_ingest_tax.store import TaxStore
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.ingest.helpers import AllowList, make_uscc, raw_rows, winning_readings

USCC = make_uscc(51)
T0 = 1_709_222_400  # 2024-03-01 00:00 Asia/Shanghai
Q = 900
SLOTS = 40
CHECK = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@st.composite
def energy_scenario(draw: st.DrawFn) -> tuple[list[int], list[int], list[tuple[str, list[int]]], list[int]]:
    # the truth: interval values (some absurd) and a register with a rollover
    interval = draw(st.lists(st.integers(-5, 300_000), min_size=SLOTS, max_size=SLOTS))
    steps = draw(st.lists(st.integers(0, 400), min_size=SLOTS, max_size=SLOTS))
    register = []
    value = draw(st.integers(0, 9_999))
    for step in steps:
        value = (value + step) % 10_000  # register_max 9999
        register.append(value)
    # batches: overlapping random subsets of slots, for either meter
    batches = []
    for b in range(draw(st.integers(2, 6))):
        kind = draw(st.sampled_from(["i", "r"]))
        slots = draw(st.lists(st.integers(0, SLOTS - 1), min_size=1, max_size=15))
        batches.append((f"{kind}{b}", slots))
    # replay order: a permutation of the batches with duplicated (retried) entries
    order = draw(st.permutations(list(range(len(batches)))))
    extra = draw(st.lists(st.integers(0, len(batches) - 1), max_size=4))
    sequence = list(order)
    for position, index in enumerate(extra):
        sequence.insert(draw(st.integers(0, len(sequence))), index)
        del position
    return interval, register, batches, sequence


def run_energy(
    redis_url: str,
    data: Path,
    interval: list[int],
    register: list[int],
    batches: list[tuple[str, list[int]]],
    sequence: list[int],
) -> pl.DataFrame:
    redis.Redis.from_url(redis_url).flushall()
    svc = EnergyServicer(
        EnergyCore(
            EnergySettings(redis_url=redis_url, data_dir=data, max_power_kw=1000),
            ReadingStore(connect(redis_url), data),
            AllowList((USCC, consent_pb2.CONSENT_SCOPE_ENERGY_METERING)),
        )
    )
    for meter_id, kind, rmax in (("i", 1, 0), ("r", 2, 9999)):
        svc.CreateMeter(
            pb.CreateMeterRequest(
                parent=f"enterprises/{USCC}",
                meter_id=meter_id,
                meter=pb.Meter(energy_type=1, reading_kind=kind, register_max=rmax, multiplier={"value": "1.5"}),
            ),
            None,
        )
    for index in sequence:
        request_id, slots = batches[index]
        truth = interval if request_id[0] == "i" else register
        svc.StreamReadings(
            iter(
                [
                    pb.ReadingBatch(
                        meter=f"enterprises/{USCC}/meters/{request_id[0]}",
                        request_id=request_id,
                        timestamps=[T0 + s * Q for s in slots],
                        values=[truth[s] for s in slots],
                    )
                ]
            ),
            None,
        )
    stored = winning_readings(data)
    return stored.drop("seq") if stored.height else stored


@CHECK
@given(scenario=energy_scenario())
def test_energy_replay_order_and_duplicates_do_not_matter(redis_url: str, new_data_root, scenario) -> None:  # type: ignore[no-untyped-def]
    interval, register, batches, sequence = scenario
    canonical = run_energy(redis_url, new_data_root(), interval, register, batches, sorted(set(sequence)))
    replayed = run_energy(redis_url, new_data_root(), interval, register, batches, sequence)
    assert replayed.equals(canonical)


ELEC = "1100101020000000000"
SERVICE = "3040203000000000000"
SUPPLIER = make_uscc(52)


@st.composite
def tax_scenario(draw: st.DrawFn) -> tuple[list[list[int]], list[int]]:
    batches = [
        draw(st.lists(st.integers(0, 11), min_size=1, max_size=6, unique=True)) for _ in range(draw(st.integers(2, 5)))
    ]
    order = list(draw(st.permutations(list(range(len(batches))))))
    for index in draw(st.lists(st.integers(0, len(batches) - 1), max_size=3)):
        order.insert(draw(st.integers(0, len(order))), index)
    return batches, order


def tax_invoice(i: int) -> tax_pb.Invoice:
    """Invoice i: electricity (i even) or a service, red-letter reversal of invoice i-1 when i % 4 == 3."""
    red = i % 4 == 3
    number = f"{24330000000000000000 + i}"
    code, name, unit, qty = (
        (ELEC, "*供电*电费", "千瓦时", f"{100 + i}") if i % 2 == 0 or red else (SERVICE, "*服务*x", "", "")
    )
    amount = Decimal(10 * i + 1)
    line = tax_pb.InvoiceLine(line_number=1, tax_code=code, item_name=name, unit=unit)
    if red:
        qty = f"-{100 + i - 1}"
        amount = -amount
    if qty:
        line.quantity.value = qty
    line.amount.value = str(amount)
    invoice = tax_pb.Invoice(
        invoice_number=number,
        seller_uscc=SUPPLIER,
        buyer_uscc=USCC,
        kind=tax_pb.Invoice.KIND_RED_LETTER if red else tax_pb.Invoice.KIND_NORMAL,
        original_invoice_number=f"{24330000000000000000 + i - 1}" if red else "",
        lines=[line],
    )
    invoice.issue_time.FromSeconds(T0 + i * 86400 * 7)
    return invoice


def run_tax(
    redis_url: str, data: Path, batches: list[list[int]], order: list[int]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    redis.Redis.from_url(redis_url).flushall()
    ingestor = TaxCore(TaxStore(connect(redis_url), data), AllowList((USCC, consent_pb2.CONSENT_SCOPE_TAX_INVOICES)))
    for index in order:
        ingestor.ingest(f"enterprises/{USCC}", f"b{index}", [tax_invoice(i) for i in batches[index]])
    # A reversal that arrived before its original was held (ORIGINAL_INVOICE_UNKNOWN); the
    # enterprise re-submits: everything again under new request ids (stored lines are duplicates).
    for index in sorted(set(order)):
        ingestor.ingest(f"enterprises/{USCC}", f"again-b{index}", [tax_invoice(i) for i in batches[index]])
    frame = raw_rows(data, rawdata.INVOICES).drop("seq")
    lines = frame.filter(pl.col("invoice_number") != "").sort(["invoice_number", "line_number"])
    sums = (
        frame.filter(pl.col("invoice_number") == "")
        .with_columns(month=pl.from_epoch("issue_time").dt.strftime("%Y-%m"))
        .group_by("month")
        .agg(pl.col("amount_cny").sum(), pl.col("tax_cny").sum())
        .sort("month")
    )
    return lines, sums


@CHECK
@given(scenario=tax_scenario())
@example(scenario=([[3], [3]], [0, 1]))  # only a reversal of an invoice never sent: nothing stored
def test_tax_replay_order_and_overlaps_do_not_matter(redis_url: str, new_data_root, scenario) -> None:  # type: ignore[no-untyped-def]
    batches, order = scenario
    lines_a, sums_a = run_tax(redis_url, new_data_root(), batches, sorted(set(order)))
    lines_b, sums_b = run_tax(redis_url, new_data_root(), batches, order)
    assert lines_a.equals(lines_b) and sums_a.equals(sums_b)
    # no double counting: each distinct line once; a reversal only if its original was ingested
    sent = {i for b in batches for i in b}
    assert lines_a.height == len({i for i in sent if i % 2 == 0 or (i % 4 == 3 and i - 1 in sent)})
