"""Incremental periods: months from their own data, years summed from stored month records, bases
from the stored base account — always equal to a full recompute from the raw data."""

from __future__ import annotations

import dataclasses
import itertools
import random
import tempfile
from decimal import Decimal as D
from pathlib import Path

import grpc
import polars as pl
import pytest
import redis
from carbon_accounting import activity
from carbon_accounting.compute import (
    Economics,
    Enterprise,
    PeriodInputs,
    base_period_of,
    combine,
    compute_account,
    decode_month,
    encode_month,
    inputs_digest,
    month_part,
    period_months,
)
from carbon_accounting.recompute import Accountant
from carbon_accounting.settings import AccountingSettings
from carbon_accounting.store import AccountStore, months_key
from carbon_ingest import parquet_io, rawdata
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.accounting.parquet_data import full_meter, invoice, month_start, write_invoices, write_readings
from tests.consent.helpers import make_uscc

MONTHS = ["2023-01", "2023-02", "2024-01", "2024-02"]
EXAMPLES = itertools.count()  # a new enterprise per example: nothing stored is shared between examples


def accountant_for(redis_server: str, data_dir: Path) -> Accountant:
    client = redis.Redis.from_url(f"{redis_server}/0")
    config = AccountingSettings(redis_url=f"{redis_server}/0", data_dir=data_dir)
    # enterprises are passed in: the consent channel is never called
    return Accountant(config, AccountStore(client), grpc.insecure_channel("127.0.0.1:9"))


def full_recompute(accountant: Accountant, ent: Enterprise, period: str) -> PeriodInputs | object:
    """The account as the per-event path computed it before: every month of the period and of
    its base period read from the raw data, the base account computed from its raw inputs."""
    data = accountant.settings.data_dir

    def raw(p: str) -> PeriodInputs:
        months = period_months(p)
        meters = activity.enterprise_meters(data, ent.uscc, months, 900)
        invoices, economics = activity.enterprise_invoices(data, ent.uscc, months)
        declared = accountant.store.declared(ent.uscc, p) if len(p) == 4 else {}
        return PeriodInputs(ent, p, tuple(meters), tuple(invoices), tuple(economics), declared)

    current = raw(period)
    base = raw(base_period_of(period, None))
    has_base = bool(base.meters or base.invoices)
    return compute_account(
        current, accountant.factors, accountant.selection, accountant.rules, base if has_base else None
    )


def comparable(account: object) -> bytes:
    copy = type(account)()  # type: ignore[operator]
    copy.CopyFrom(account)
    copy.ClearField("compute_time")
    return copy.SerializeToString(deterministic=True)


# ---- operations on the raw data, each announced by an activity event naming its month ---------

readings_op = st.tuples(
    st.just("readings"),
    st.sampled_from(MONTHS),
    st.sampled_from(["m1", "m2"]),
    st.integers(0, 40),  # first slot
    st.integers(1, 30),  # slots
    st.integers(0, 5000),  # Wh per reading
    st.integers(1, 3),  # seq: a re-sent reading with a higher seq corrects the earlier one
)
full_op = st.tuples(st.just("full"), st.sampled_from(MONTHS), st.integers(100, 2000))
invoice_op = st.tuples(
    st.just("invoice"),
    st.sampled_from(MONTHS),
    st.integers(0, 3),  # invoice number: the same number again is a duplicate / correction
    st.integers(1, 9000),  # kWh
    st.integers(1, 2),  # seq
)
sale_op = st.tuples(st.just("sale"), st.sampled_from(MONTHS), st.integers(1, 500_000))
red_op = st.tuples(st.just("red"), st.integers(0, 3), st.integers(1, 3000))
operation = st.one_of(readings_op, full_op, invoice_op, sale_op, red_op)


class Feed:
    """Writes operations as ingest does and keeps the events it would publish."""

    def __init__(self, root: Path, uscc: str) -> None:
        self.root, self.uscc = root, uscc
        self.files = 0
        self.originals: dict[str, str] = {}  # invoice number -> month of the blue invoice

    def apply(self, op: tuple) -> str | None:
        self.files += 1
        name = f"f{self.files}"
        kind = op[0]
        if kind == "readings":
            _k, month, meter, first, count, wh, seq = op
            start = month_start(month)
            rows = [(self.uscc, meter, "electricity", start + (first + i) * 900, wh, seq, None) for i in range(count)]
            write_readings(self.root, month, rows, name=name)
            return month
        if kind == "full":
            _k, month, wh = op
            write_readings(self.root, month, full_meter(self.uscc, "m3", month, wh), name=name)
            return month
        if kind == "invoice":
            _k, month, number, kwh, seq = op
            number_text = f"1{month.replace('-', '')}{number}"
            amount = D(kwh) * D("0.65")
            write_invoices(
                self.root,
                month,
                [
                    invoice(
                        self.uscc,
                        number_text,
                        "purchase",
                        "electricity",
                        str(kwh),
                        "kWh",
                        f"{amount:.2f}",
                        "0",
                        seq=seq,
                    )
                ],
                name=name,
            )
            self.originals.setdefault(number_text, month)
            return month
        if kind == "sale":
            _k, month, amount = op
            line = invoice(
                self.uscc, f"9{month.replace('-', '')}{self.files}", "sale", None, None, "", f"{amount}.00", "0"
            )
            write_invoices(self.root, month, [line], name=name)
            return month
        _k, pick, kwh = op  # red letter: reverses part of a known original, in the original's month
        if not self.originals:
            return None
        number, month = sorted(self.originals.items())[pick % len(self.originals)]
        amount = -D(kwh) * D("0.65")
        line = invoice(
            self.uscc, f"8{self.files:07d}", "purchase", "electricity", str(-kwh), "kWh", f"{amount:.2f}", "0",
            red=True, original=number,
        )  # fmt: skip
        write_invoices(self.root, month, [line], name=name)
        return month


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(
    ops=st.lists(operation, min_size=1, max_size=9),
    seed=st.integers(0, 2**32 - 1),
)
def test_incremental_equals_full_recompute(redis_server: str, ops: list[tuple], seed: int) -> None:
    rng = random.Random(seed)
    ent = Enterprise(make_uscc(random.Random(f"{seed}-{next(EXAMPLES)}")), "C2611", "330000", "330800")
    with tempfile.TemporaryDirectory() as tmp:
        accountant = accountant_for(redis_server, Path(tmp))
        feed = Feed(Path(tmp), ent.uscc)
        pending: list[str] = []
        named: set[str] = set()
        for op in ops:
            month = feed.apply(op)
            if month is not None:
                pending.append(month)
                named.add(month)
            if rng.random() < 0.5:
                continue
            # deliver a random part of the pending events, in random order, as one micro-batch;
            # sometimes one is delivered again (a redelivery after a crash)
            rng.shuffle(pending)
            take = rng.randint(1, len(pending)) if pending else 0
            batch, pending = pending[:take], pending[take:]
            if batch and rng.random() < 0.3:
                pending.append(rng.choice(batch))
            if batch and rng.random() < 0.5:
                accountant.recompute_months(ent.uscc, batch, ent)
            elif batch:  # the micro-batch path: months read by the vectorised reader first
                accountant.record_months({ent.uscc: set(batch)}, {ent.uscc: ent})
                accountant.recompute_months(ent.uscc, batch, ent, recorded=True)
        if pending:
            accountant.recompute_months(ent.uscc, sorted(set(pending)), ent)

        periods = accountant.store.periods(ent.uscc)
        assert set(periods) >= named | {m[:4] for m in named}  # (a red letter without an original names none)
        for period in periods:
            stored = accountant.store.get(f"enterprises/{ent.uscc}/accounts/{period}")
            assert stored is not None
            expected = full_recompute(accountant, ent, period)
            assert comparable(stored) == comparable(expected), period


def test_year_summed_from_month_records_base_from_stored_account(redis_server: str, tmp_path: Path) -> None:
    """A year's account reads no raw data of months it was not told about; its reduction uses the
    stored base account; month digests chain into the year's digest."""
    rng = random.Random(7)
    ent = Enterprise(make_uscc(rng), "C2611", "330000", "330800")
    accountant = accountant_for(redis_server, tmp_path)
    feed = Feed(tmp_path, ent.uscc)
    feed.apply(("full", "2023-01", 1000))
    feed.apply(("invoice", "2024-01", 0, 3000, 1))
    accountant.recompute_months(ent.uscc, ["2023-01"], ent)
    accountant.recompute_months(ent.uscc, ["2024-01"], ent)
    year = accountant.store.get(f"enterprises/{ent.uscc}/accounts/2024")
    assert year is not None
    # the reduction's base is the stored 2023 account (recorded as a baseline with it)
    base_2023 = accountant.store.get(f"enterprises/{ent.uscc}/accounts/2023")
    assert base_2023 is not None and year.base_period == "2023"
    assert D(year.base_total_tco2.value) == D(base_2023.total_tco2.value)
    recorded = accountant.store.baseline(ent.uscc, "2023")
    assert recorded is not None and recorded.total_tco2 == D(base_2023.total_tco2.value) == D("1.6368")

    # raw data of February 2024 written without an event: the year is summed from the records,
    # so it does not see it until an event names February (then it does)
    feed.apply(("invoice", "2024-02", 1, 1000, 1))
    accountant.recompute_months(ent.uscc, ["2024-01"], ent)
    unchanged = accountant.store.get(f"enterprises/{ent.uscc}/accounts/2024")
    assert unchanged is not None and unchanged.input_digest == year.input_digest
    accountant.recompute_months(ent.uscc, ["2024-02"], ent)
    changed = accountant.store.get(f"enterprises/{ent.uscc}/accounts/2024")
    assert changed is not None and changed.input_digest != year.input_digest
    # 4 MWh of invoices x 0.55
    assert D(changed.total_tco2.value) == D("2.2")

    # month records round-trip and chain: the year's inputs digest is over the month digests
    client = accountant.store.redis
    records = {k.decode(): v for k, v in client.hgetall(months_key(ent.uscc)).items()}
    assert set(records) >= {f"2024-{m:02d}" for m in range(1, 13)} | {"2023-01"}
    parts = [decode_month(ent, m, records[m]) for m in period_months("2024")]
    for part in parts:
        assert encode_month(part) == records[part.period]
    year_inputs = accountant.inputs(ent, "2024", set())
    assert [inputs_digest(month_part(year_inputs, m)) for m in period_months("2024")] == [
        inputs_digest(p) for p in parts
    ]
    # the year carries its months' digests into its chain: the same digest as canonicalising each
    # month of the year again (a year built without them, as a full read does)
    assert year_inputs.month_digests == {p.period: inputs_digest(p) for p in parts}
    rebuilt = dataclasses.replace(year_inputs, month_digests={})
    assert not rebuilt.month_digests and inputs_digest(rebuilt) == inputs_digest(year_inputs)
    # a month holding another month's aggregate is not carried (the chain recomputes that year)
    stray = dataclasses.replace(parts[1], economics=(*parts[1].economics, Economics("2024-01", D("1.00"))))
    assert combine(ent, "2024", [parts[0], stray, *parts[2:]], {}).month_digests == {}
    # a damaged record is never summed: it is read again from the raw data
    client.hset(months_key(ent.uscc), "2024-02", records["2024-02"].replace(b"1000", b"9000"))
    with pytest.raises(ValueError, match="digest"):
        decode_month(ent, "2024-02", client.hget(months_key(ent.uscc), "2024-02"))  # type: ignore[arg-type]
    again = accountant.compute(ent.uscc, "2024", ent, set())
    assert again.input_digest == changed.input_digest


def test_micro_batch_reader_equals_per_enterprise_reader(redis_server: str, tmp_path: Path) -> None:
    """Enterprises read together (one scan per month) get exactly what each gets read alone,
    with shared files, shared meter ids, duplicates (seq corrections), flagged rows and invoices."""
    rng = random.Random(31)
    ents = [Enterprise(make_uscc(rng), "C2611", "330000", "330800") for _ in range(6)]
    accountant = accountant_for(redis_server, tmp_path)
    start = month_start("2024-03")
    for f in range(4):
        rows = []
        for ent in ents:
            for meter in ("m1", "m2"):  # the same meter ids at every enterprise
                first = rng.randrange(0, 200)
                for i in range(rng.randrange(0, 60)):
                    flag = "NEGATIVE" if rng.random() < 0.05 else None
                    rows.append(
                        (ent.uscc, meter, "electricity", start + (first + i) * 900, rng.randrange(0, 900), f, flag)
                    )
        rng.shuffle(rows)
        if f % 2:  # as ingest-energy writes them: sorted, with the footer index
            directory = tmp_path / "readings" / "month=2024-03"
            directory.mkdir(parents=True, exist_ok=True)
            frame = pl.DataFrame(rows, schema=rawdata.READINGS_SCHEMA, orient="row")
            parquet_io.write_atomic(frame, directory / f"shared-{f}.parquet", index=True)
        else:
            write_readings(tmp_path, "2024-03", rows, name=f"shared-{f}")
        lines = [
            invoice(ent.uscc, f"{f}{n:07d}", "purchase", "electricity", str(rng.randrange(1, 5000)), "kWh", "1.00",
                    "0", seq=rng.randrange(1, 3))
            for n, ent in enumerate(ents) if rng.random() < 0.7
        ]  # fmt: skip
        lines += [invoice(ents[0].uscc, "55555555", "sale", None, None, "", f"{1000 + f}.00", "130.00", seq=f + 1)]
        write_invoices(tmp_path, "2024-03", lines, name=f"shared-inv-{f}")
    together = accountant.read_months(ents, "2024-03")
    files = rawdata.month_files(tmp_path, "readings", "2024-03")
    for ent in ents:
        # the plan-free exact algorithm over the enterprise's rows agrees
        plain = activity.aggregate_readings(
            rawdata.scan(files, activity.READING_COLUMNS).filter(pl.col("uscc") == ent.uscc)
        )
        assert sorted(
            (r["energy_type"], r["wh"], r["readings"], r["duplicates"]) for r in plain.iter_rows(named=True)
        ) == (sorted((m.energy_type, m.wh, m.readings, m.duplicates) for m in together[ent.uscc].meters))
    for ent in ents:
        alone = full_recompute(accountant, ent, "2024-03")
        assert together[ent.uscc].canonical() == accountant.read_month(ent, "2024-03").canonical()
        # and the account from the micro-batch reader equals the per-enterprise full recompute
        assert comparable(
            compute_account(together[ent.uscc], accountant.factors, accountant.selection, accountant.rules)
        ) == (comparable(alone))
    assert any(rawdata.read_index(f) is not None for f in rawdata.month_files(tmp_path, "readings", "2024-03"))
    assert any(together[e.uscc].meters for e in ents) and any(
        m.duplicates for e in ents for m in together[e.uscc].meters
    )
