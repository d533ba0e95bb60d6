"""Account facts projected from the accounts stream (real Redis), read in bulk."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from decimal import Decimal as D

import redis
from carbon_common import events
from carbon_pricing.portfolio import frames
from carbon_pricing.portfolio.accounts import ProjectedAccountFacts, facts_key
from carbon_pricing.portfolio.domain import BorrowerAccount


def _stored(client: redis.Redis, uscc: str, period: str, digest: str) -> None:
    events.ACCOUNTS.add(client, events.AccountStored.create(uscc=uscc, period=period, input_digest=digest))


def test_worker_projects_announced_accounts_and_reads_them_in_one_call(redis_url: str):
    client = redis.Redis.from_url(redis_url)
    client.delete(events.ACCOUNTS.name, facts_key("2024"))
    store = {
        ("U1", "2024"): BorrowerAccount("U1", "2024", D("12.5"), "d1", "cn-2024.1", D("1.25")),
        ("U2", "2024"): BorrowerAccount("U2", "2024", D("7"), "d2", "cn-2024.1"),
    }
    fetched: list[tuple[str, str]] = []
    failed_once = threading.Event()

    def fetch(uscc: str, period: str) -> BorrowerAccount | None:
        if uscc == "U2" and not failed_once.is_set():
            failed_once.set()
            raise RuntimeError("accounting unavailable")  # the entry stays pending and is read again
        fetched.append((uscc, period))
        return store.get((uscc, period))

    _stored(client, "U1", "2024", "d1")
    _stored(client, "U2", "2024", "d2")
    _stored(client, "U3", "2024", "gone")  # announced, no longer stored: no facts
    client.xadd(events.ACCOUNTS.name, {"version": "99", "uscc": "U9"})  # malformed: skipped
    facts = ProjectedAccountFacts(client)
    stopping = threading.Event()
    thread = threading.Thread(target=facts.worker(fetch), args=(stopping,), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(facts.accounts(["U1", "U2"], "2024")) < 2:
            stopping.wait(0.05)
    finally:
        stopping.set()
        thread.join(5)
    got = facts.accounts(["U1", "U2", "U3", "U1"], "2024")
    assert got == {"U1": store[("U1", "2024")], "U2": store[("U2", "2024")]}
    assert failed_once.is_set() and ("U2", "2024") in fetched
    assert facts.accounts(["U1"], "2023") == {} and facts.accounts([], "2024") == {}
    frame = facts.frame(["U2", "U1", "U3"], "2024").sort("uscc")
    assert frame.rows() == [
        ("U1", 12_500_000, 1_250_000, "d1", "cn-2024.1", False),
        ("U2", 7_000_000, None, "d2", "cn-2024.1", False),
    ]
    assert frame.schema == frames.ACCOUNT_SCHEMA
    pending = client.xpending(events.ACCOUNTS.name, "pricing-books")
    assert pending["pending"] == 0


def test_an_announcement_carrying_the_figures_is_projected_without_a_fetch(redis_url: str):
    client = redis.Redis.from_url(redis_url)
    client.delete(events.ACCOUNTS.name, facts_key("2024"))
    carried = events.AccountStored.create(
        uscc="U4",
        period="2024",
        input_digest="d4",
        compute_time=datetime(2025, 1, 2, tzinfo=UTC),
        factor_set_version="cn-2024.1",
        total_tco2=D("1234.5678904"),  # more places than the book keeps: quantised as a fetched account is
        reduction_tco2=D("3.5"),
    )
    empty = events.AccountStored.create(
        uscc="U5", period="2024", input_digest="d5", compute_time=datetime(2025, 1, 2, tzinfo=UTC)
    )
    events.ACCOUNTS.add(client, carried)
    events.ACCOUNTS.add(client, empty)  # stored without a total: no facts

    def fetch(uscc: str, period: str) -> BorrowerAccount | None:
        raise AssertionError(f"fetched {uscc} {period}: the message carried the figures")

    facts = ProjectedAccountFacts(client)
    entries = client.xrange(events.ACCOUNTS.name)
    assert facts.apply(entries, fetch) == 1
    assert facts.accounts(["U4", "U5"], "2024") == {
        "U4": BorrowerAccount("U4", "2024", D("1234.567890"), "d4", "cn-2024.1", D("3.500000"))
    }
