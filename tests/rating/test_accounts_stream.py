"""Rating's accounts-stream consumer on event-carried state: an AccountStored message carries the
figures of the account it announces, so the population row comes from the message (exactly the row
GetAccount's answer gives) and no account is fetched per change; a message of an earlier producer
that only names its account is still fetched, and stays pending while accounting is unreachable.
And the population rebuild, which such a feed triggers continuously, keeps to its share of a core."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

import pytest
import redis
from carbon.v1 import accounting_pb2, accounting_pb2_grpc, common_pb2
from carbon_common import events
from carbon_common.channels import service_channel
from carbon_common.decimals import from_proto
from carbon_common.redis_conn import group_entries
from carbon_devkit.credentials import SERVICE_SECRET
from carbon_devkit.ports import free_port
from carbon_rating.model import Row, intensity, to_cents, to_micro
from carbon_rating.population import (
    EPOCH_KEY,
    GROUP,
    POPULATION_KEY,
    PopulationCache,
    apply_accounts_batch,
    load_frame,
    row_from_account,
    row_from_stored,
    store_frame,
    upsert,
)
from carbon_rating.synthetic import population
from carbon_rating.vectorised import population_frame

USCC = "91330800MA2XXXXX1A"


def reference_row(account: accounting_pb2.Account) -> Row:
    """The row as rating built it from a fetched Account before the figures travelled on the event
    (the oracle: an independent reading of the proto)."""

    def dec(message: Any, name: str) -> Decimal | None:
        return from_proto(getattr(message, name), name) if message.HasField(name) else None

    parts = account.name.split("/")
    tco2, tce = to_micro(dec(account, "total_tco2")), to_micro(dec(account, "energy_tce"))
    va, revenue, tax = (to_cents(dec(account, f)) for f in ("value_added_cny", "revenue_cny", "tax_cny"))
    l_va, l_rev, l_tax = (
        to_micro(dec(account, f)) for f in ("intensity_value_added", "intensity_revenue", "intensity_tax")
    )
    clean = None
    if account.energy_structure:
        clean = sum(
            (to_micro(dec(s, "share")) or 0)
            for s in account.energy_structure
            if s.energy_type == common_pb2.ENERGY_TYPE_GREEN_ELECTRICITY
        )
    return Row(
        uscc=parts[1],
        period=account.period,
        industry=account.industry_code.strip().upper(),
        region=account.region_code,
        province=account.province_code,
        tco2=tco2,
        tce=tce,
        va=va,
        revenue=revenue,
        tax=tax,
        l_va=l_va if l_va is not None else intensity(tco2, va),
        l_rev=l_rev if l_rev is not None else intensity(tco2, revenue),
        l_tax=l_tax if l_tax is not None else intensity(tco2, tax),
        e_va=intensity(tce, va),
        e_rev=intensity(tce, revenue),
        clean=clean,
        quality=to_micro(dec(account.quality, "score")) if account.HasField("quality") else None,
        reduction=to_micro(dec(account, "reduction_rate")),
        reduction_tco2=to_micro(dec(account, "reduction_tco2")),
        account_digest=account.input_digest,
        factor_set_version=account.factor_set_version,
    )


def account(period: str, digest: str, **figures: str) -> accounting_pb2.Account:
    out = accounting_pb2.Account(
        name=f"enterprises/{USCC}/accounts/{period}",
        period=period,
        input_digest=digest,
        industry_code=" c2611 ",
        province_code="330000",
        region_code="330800",
        factor_set_version="cn-2024.1",
    )
    out.compute_time.GetCurrentTime()
    for name, value in figures.items():
        if name == "quality_score":
            out.quality.score.value = value
        elif name == "green_share":
            out.energy_structure.add(energy_type=common_pb2.ENERGY_TYPE_ELECTRICITY).share.value = "0.75"
            out.energy_structure.add(energy_type=common_pb2.ENERGY_TYPE_GREEN_ELECTRICITY).share.value = value
        else:
            getattr(out, name).value = value
    return out


ACCOUNTS = [
    account("2024", "d1"),  # nothing computed: no figure at all
    account(
        "2023",
        "d2",
        total_tco2="1234.567891",
        energy_tce="456.000001",
        revenue_cny="98765432.10",
        value_added_cny="12345678.90",
        tax_cny="1234567.89",
        intensity_value_added="1.000004",
        quality_score="0.912345",
        reduction_rate="-0.031250",
        reduction_tco2="-37.5",
        green_share="0.25",
    ),
    # intensities not published (no revenue): derived by rating as before; no energy structure
    account("2022", "d3", total_tco2="50", value_added_cny="0.00", energy_tce="0"),
    account("2025-01", "d4", total_tco2="3.3", quality_score="1.000000"),
]


@pytest.fixture
def client(redis_server: str) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(f"{redis_server}/11")
    connection.flushdb()
    yield connection
    connection.flushdb()
    connection.close()


@pytest.mark.parametrize("stored", ACCOUNTS, ids=lambda a: a.period)
def test_the_row_from_the_announcement_is_the_row_of_the_account(client: redis.Redis, stored: Any) -> None:
    events.ACCOUNTS.add(client, events.AccountStored.of(stored))
    [(_id, fields)] = client.xrange(events.ACCOUNTS.name)
    announced = events.ACCOUNTS.decode(fields)
    assert announced.carries_figures and announced.input_digest == stored.input_digest
    assert row_from_stored(announced) == reference_row(stored) == row_from_account(stored)


def test_rows_come_from_the_events_an_old_event_is_fetched_and_waits_for_accounting(client: redis.Redis) -> None:
    events.ACCOUNTS.ensure_group(client, GROUP)
    newer = account("2023", "d2-new", total_tco2="99.000001", value_added_cny="1000000.00")
    for message in (
        events.AccountStored.of(ACCOUNTS[1]),  # superseded by `newer` in the same micro-batch
        events.AccountStored.of(ACCOUNTS[3]),  # a month: acknowledged, never a row
        events.AccountStored.of(newer),
        events.AccountStored.of(ACCOUNTS[2]),
        # an earlier producer's message names the account only: fetched with GetAccount
        events.AccountStored.create(uscc=USCC, period="2021", input_digest="d-old"),
    ):
        events.ACCOUNTS.add(client, message)
    entries = group_entries(client.xreadgroup(GROUP, "r1", {events.ACCOUNTS.name: ">"}, count=100))
    assert len(entries) == 5
    unreachable = service_channel(f"127.0.0.1:{free_port()}", "rating", SERVICE_SECRET)  # accounting is down
    try:
        stub = accounting_pb2_grpc.AccountingServiceStub(unreachable)
        changed: list[set[str]] = []
        retry = apply_accounts_batch(client, stub, events.ACCOUNTS.name, entries, changed.append)
    finally:
        unreachable.close()

    assert retry  # the old message's account could not be fetched
    rows = {
        period: Row.from_json(client.hget(POPULATION_KEY, f"{USCC}|{period}") or b"") for period in ("2023", "2022")
    }
    assert rows == {"2023": reference_row(newer), "2022": reference_row(ACCOUNTS[2])}
    assert not client.hexists(POPULATION_KEY, f"{USCC}|2021") and not client.hexists(POPULATION_KEY, f"{USCC}|2025-01")
    assert changed == [{USCC}]
    pending = client.xpending_range(events.ACCOUNTS.name, GROUP, "-", "+", 10)
    assert [p["message_id"] for p in pending] == [entries[4][0]]  # only the old message waits


class Waits(threading.Event):
    """A stop signal recording how long the worker waits each time; set after `rounds` waits."""

    def __init__(self, rounds: int) -> None:
        super().__init__()
        self.rounds, self.waited = rounds, []

    def wait(self, timeout: float | None = None) -> bool:
        self.waited.append(timeout)
        if len(self.waited) >= self.rounds:
            self.set()
        return self.is_set()


def test_a_costly_population_rebuild_waits_in_proportion(client: redis.Redis) -> None:
    """Under a live feed the epoch moves all the time: a rebuild taking t waits t / max_share in all
    (so it takes at most that share of a core), a cheap one or none the configured interval."""
    now = [0.0]
    rebuild_seconds = iter([0.5, 0.01, None])

    class Timed(PopulationCache):
        def refresh(self, warm: Iterable[Any] = ()) -> bool:
            took = next(rebuild_seconds)
            now[0] += took or 0.0
            return took is not None

    stop = Waits(3)
    Timed(client).worker(2.0, list, max_share=0.1, clock=lambda: now[0])(stop)
    assert stop.waited == [pytest.approx(4.5), 2.0, 2.0]


def test_the_population_frame_is_decoded_column_wise_as_row_by_row(client: redis.Redis) -> None:
    """load_frame decodes the rows' JSON with polars: the same frame as one Row per stored row."""
    store_frame(client, population(300, seed=5))
    upsert(client, [reference_row(a) for a in ACCOUNTS if len(a.period) == 4])  # nulls, unstripped text
    later = {"uscc": "91330800MA2XXXXX2B", "period": "2024", "industry": "C", "tco2": 5, "a_later_field": 1}
    client.hset(POPULATION_KEY, "91330800MA2XXXXX2B|2024", json.dumps(later))  # unknown fields are ignored
    expected = population_frame([Row.from_json(v) for v in client.hvals(POPULATION_KEY)])
    frame = load_frame(client)
    assert frame.height == expected.height == 900 + 3 + 1 and frame.schema == expected.schema
    assert frame.sort("uscc", "period").equals(expected.sort("uscc", "period"))


def test_an_older_announcement_applied_late_does_not_replace_a_newer_row(client: redis.Redis) -> None:
    """Two rating replicas share the accounts stream: one may apply an account's earlier announcement
    after the other applied a later one. The row of the later-computed account stays."""
    events.ACCOUNTS.ensure_group(client, GROUP)
    older = account("2023", "d-older", total_tco2="10")
    newer = account("2023", "d-newer", total_tco2="20")
    newer.compute_time.FromMilliseconds(older.compute_time.ToMilliseconds() + 1)
    for message in (events.AccountStored.of(older), events.AccountStored.of(newer)):
        events.ACCOUNTS.add(client, message)
    first, second = group_entries(client.xreadgroup(GROUP, "r1", {events.ACCOUNTS.name: ">"}, count=100))
    unreachable = service_channel(f"127.0.0.1:{free_port()}", "rating", SERVICE_SECRET)
    try:
        stub = accounting_pb2_grpc.AccountingServiceStub(unreachable)
        assert not apply_accounts_batch(client, stub, events.ACCOUNTS.name, [second])  # replica B: the newer
        epoch = client.get(EPOCH_KEY)
        assert not apply_accounts_batch(client, stub, events.ACCOUNTS.name, [first])  # replica A, late
    finally:
        unreachable.close()
    assert Row.from_json(client.hget(POPULATION_KEY, f"{USCC}|2023") or b"") == reference_row(newer)
    assert client.get(EPOCH_KEY) == epoch  # nothing changed: no rebuild
    # a row without a compute time (seeding) is stored as it is
    assert upsert(client, [reference_row(older)]) == 1
