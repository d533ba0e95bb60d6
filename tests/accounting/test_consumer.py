"""The activity consumer in micro-batches: coalescing, acknowledgement after storing, kill -9."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator
from decimal import Decimal as D
from pathlib import Path

import grpc
import pytest
import redis
from carbon.v1 import accounting_pb2, accounting_pb2_grpc, enterprise_pb2_grpc
from carbon_accounting.consumer import consume_events, micro_batch, read_batch
from carbon_accounting.core import AccountingCore
from carbon_accounting.recompute import Accountant, MicroBatch, process_batch
from carbon_accounting.settings import AccountingSettings
from carbon_accounting.store import AccountStore, Leases
from carbon_common import events
from carbon_common.channels import service_channel
from carbon_devkit.ports import free_port
from carbon_devkit.processes import ServiceProcess, start_service
from carbon_devkit.seed import register_enterprise

from tests.accounting.parquet_data import full_meter, invoice, write_invoices, write_readings
from tests.consent.helpers import (  # noqa: F401  (fixture)
    SERVICE_SECRET,
    Edge,
    admin_md,
    consent_process,
    make_uscc,
    service_md,
)

STREAM = events.ACTIVITY.name
# A safety bound only (the wait ends on SERVING): the kill tests restart on a loaded machine.
START_SECONDS = 180.0


def register(edge: Edge, rng: random.Random) -> str:
    uscc = make_uscc(rng)
    register_enterprise(edge.enterprises, admin_md(), uscc, region="330800", display_name="衢州示例企业")
    return uscc


def activity(uscc: str, months: str, batch: str) -> dict[str, str]:
    return {"uscc": uscc, "source": "readings", "months": months, "batch": batch, "time": "0"}


def announced(client: redis.Redis, uscc: str) -> list[str]:
    return [f[b"period"].decode() for _id, f in client.xrange("carbon:events:accounts") if f[b"uscc"] == uscc.encode()]


class CountingAccountant(Accountant):
    """The real Accountant, counting how often each account is recomputed."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.computed: list[str] = []

    def compute(
        self, uscc: str, period: str, ent: object = None, fresh: set[str] | None = None, store: object = None
    ) -> accounting_pb2.Account:
        self.computed.append(f"{uscc}/{period}")
        return super().compute(uscc, period, ent, fresh, store)  # type: ignore[arg-type]


def test_micro_batch_recomputes_each_touched_account_once(
    consent_process: Edge,  # noqa: F811
    redis_server: str,
    tmp_path: Path,
) -> None:
    rng = random.Random(18)
    client = redis.Redis.from_url(f"{redis_server}/0")
    a, b = register(consent_process, rng), register(consent_process, rng)
    write_readings(tmp_path, "2024-01", full_meter(a, "m1", "2024-01", 1000), name="a-1")
    write_readings(tmp_path, "2024-02", full_meter(a, "m1", "2024-02", 1000), name="a-2")
    write_readings(tmp_path, "2024-01", full_meter(b, "m9", "2024-01", 500), name="b-1")
    group = f"coalesce-{rng.randrange(10**9)}"
    client.xgroup_create(STREAM, group, id="$", mkstream=True)
    # 40 events for a's January (one per ingested batch), 5 naming January and February, 3 for b,
    # one malformed and one for an unknown enterprise: one transaction, so one read sees them all.
    pipe = client.pipeline(transaction=True)
    for i in range(40):
        pipe.xadd(STREAM, activity(a, "2024-01", f"a{i}"))
    for i in range(5):
        pipe.xadd(STREAM, activity(a, "2024-01,2024-02", f"a2-{i}"))
    for i in range(3):
        pipe.xadd(STREAM, activity(b, "2024-01", f"b{i}"))
    pipe.xadd(STREAM, {"uscc": a, "source": "readings", "months": "2024-13"})
    unknown = make_uscc(rng)
    pipe.xadd(STREAM, activity(unknown, "2024-01", "u"))
    pipe.execute()

    settings = AccountingSettings(
        redis_url=f"{redis_server}/0",
        consent_target=consent_process.process.target,
        service_secret=SERVICE_SECRET,
        data_dir=tmp_path,
        consumer_group=group,
        consumer_name="c1",
        events_batch_max=512,
        events_batch_ms=0,
    )
    channel = service_channel(settings.consent_target, settings.service_name, SERVICE_SECRET)
    accountant = CountingAccountant(settings, AccountStore(client), channel)
    entries = read_batch(client, settings, ">", threading.Event())
    assert len(entries) == 50
    result = process_batch(accountant, micro_batch(entries))
    channel.close()

    assert not result.failed
    # each touched account once: a's two months and their year, b's month and year
    assert sorted(accountant.computed) == sorted(
        [f"{a}/2024-01", f"{a}/2024-02", f"{a}/2024", f"{b}/2024-01", f"{b}/2024"]
    )
    assert result.recomputed == {a: ["2024", "2024-01", "2024-02"], b: ["2024", "2024-01"]}
    assert sorted(result.done) == sorted(entry_id for entry_id, _f in entries)  # malformed + unknown too
    assert sorted(announced(client, a)) == ["2024", "2024-01", "2024-02"]
    # 2.976 MWh x 0.55 (East China 2023 grid) per full month
    stored = AccountStore(client).get(f"enterprises/{a}/accounts/2024-01")
    assert stored is not None and D(stored.total_tco2.value) == D("1.6368")
    # nothing acknowledged yet: process_batch leaves XACK to the loop, after storing
    assert client.xpending(STREAM, group)["pending"] == 50


def test_registered_enterprises_are_asked_of_the_registry_once_unknown_ones_every_time(
    consent_process: Edge,  # noqa: F811
    redis_server: str,
    tmp_path: Path,
) -> None:
    """Enterprise attributes never change in the registry once created: a micro-batch asks consent
    only for enterprises it has not seen (so a registry outage does not stop the ones it has), and
    an enterprise unknown at its first event is asked again (registered later, it gets its account)."""
    rng = random.Random(1818)
    client = redis.Redis.from_url(f"{redis_server}/0")
    known = register(consent_process, rng)
    late = make_uscc(rng)
    for uscc, meter in ((known, "m1"), (late, "m2")):
        write_readings(tmp_path, "2024-03", full_meter(uscc, meter, "2024-03", 700), name=f"{uscc}-3")
    settings = AccountingSettings(
        redis_url=f"{redis_server}/0",
        consent_target=consent_process.process.target,
        service_secret=SERVICE_SECRET,
        data_dir=tmp_path,
        consumer_name="c1",
    )
    live = service_channel(settings.consent_target, settings.service_name, SERVICE_SECRET)
    accountant = Accountant(settings, AccountStore(client), live)

    def batch(*usccs: str) -> MicroBatch:
        micro = MicroBatch(size=len(usccs))
        for k, uscc in enumerate(usccs):
            micro.add(f"{k + 1}-0".encode(), uscc, ["2024-03"])
        return micro

    first = process_batch(accountant, batch(known, late))
    assert not first.failed and set(first.recomputed) == {known}  # late: not registered yet, acknowledged
    register_enterprise(consent_process.enterprises, admin_md(), late, region="330800", display_name="后来的企业")
    second = process_batch(accountant, batch(late))
    assert not second.failed and set(second.recomputed) == {late}  # asked again: now registered

    # the registry unreachable: enterprises seen before are recomputed, a new one waits (pending)
    dead = service_channel(f"127.0.0.1:{free_port()}", settings.service_name, SERVICE_SECRET)
    accountant.enterprises = enterprise_pb2_grpc.EnterpriseServiceStub(dead)
    again = process_batch(accountant, batch(known, late))
    assert not again.failed and set(again.recomputed) == {known, late}
    stored = AccountStore(client).get(f"enterprises/{known}/accounts/2024-03")
    assert stored is not None and stored.industry_code and stored.province_code
    newcomer = register(consent_process, rng)
    assert process_batch(accountant, batch(known, newcomer)).failed
    live.close()
    dead.close()


def test_read_batch_bounds(
    redis_server: str,
    tmp_path: Path,
) -> None:
    client = redis.Redis.from_url(f"{redis_server}/0")
    group = f"bounds-{random.randrange(10**9)}"
    client.xgroup_create(STREAM, group, id="$", mkstream=True)
    settings = AccountingSettings(
        redis_url=f"{redis_server}/0", consumer_group=group, consumer_name="c1", events_batch_max=7, events_block_ms=50
    )
    stopping = threading.Event()
    assert read_batch(client, settings, ">", stopping) == []  # nothing within the block time
    for i in range(10):
        client.xadd(STREAM, activity("91330000MA00000001", "2024-01", str(i)))
    first = read_batch(client, settings, ">", stopping)
    assert len(first) == 7  # capped at events_batch_max
    second = read_batch(client, settings, ">", stopping)
    assert len(second) == 3
    # the consumer's pending entries come back from "0", walked with a cursor
    pending = read_batch(client, settings, "0", stopping)
    assert [e for e, _f in pending] == [e for e, _f in first]
    rest = read_batch(client, settings, pending[-1][0].decode(), stopping)
    assert [e for e, _f in rest] == [e for e, _f in second]

    # an event arriving while the window of the first is open joins the same micro-batch
    slow = settings.model_copy(update={"events_batch_ms": 60_000, "events_block_ms": 60_000})
    got: list[list[tuple[bytes, dict[bytes, bytes]]]] = []
    reader = threading.Thread(target=lambda: got.append(read_batch(client, slow, ">", stopping)))
    reader.start()
    for i in range(7):  # the 7th fills the batch and ends the window
        client.xadd(STREAM, activity("91330000MA00000001", "2024-02", f"w{i}"))
    reader.join(60)
    assert not reader.is_alive() and len(got[0]) == 7


# ---- a real accounting process killed -9 in the middle of a micro-batch ---------------------


@pytest.fixture
def accounting_env(consent_process: Edge, redis_server: str, tmp_path: Path) -> dict[str, str]:  # noqa: F811
    return {
        "CARBON_REDIS_URL": f"{redis_server}/0",
        "CARBON_SERVICE_SECRET": SERVICE_SECRET,
        "CARBON_CONSENT_TARGET": consent_process.process.target,
        "CARBON_RATING_TARGET": f"127.0.0.1:{free_port()}",
        "CARBON_DATA_DIR": str(tmp_path / "data"),
        "CARBON_EVENTS_BLOCK_MS": "200",
        "CARBON_EVENTS_BATCH_MS": "200",
        "CARBON_CONSUMER_GROUP": f"kill9-{random.randrange(10**9)}",
        "CARBON_CONSUMER_NAME": "accounting-0",
    }


def micro_batches(process: ServiceProcess) -> list[dict[str, object]]:
    out = []
    for line in process.logs().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("message") == "micro-batch processed":
            out.append(entry)
    return out


@pytest.fixture
def started() -> Iterator[list[ServiceProcess]]:
    processes: list[ServiceProcess] = []
    yield processes
    for process in processes:
        process.stop()


def test_kill9_mid_micro_batch_loses_no_account(
    consent_process: Edge,  # noqa: F811
    redis_server: str,
    tmp_path: Path,
    accounting_env: dict[str, str],
    started: list[ServiceProcess],
) -> None:
    rng = random.Random(1809)
    client = redis.Redis.from_url(f"{redis_server}/0")
    data = tmp_path / "data"
    group = accounting_env["CARBON_CONSUMER_GROUP"]
    client.xgroup_create(STREAM, group, id="$", mkstream=True)
    enterprises = [register(consent_process, rng) for _ in range(12)]
    pipe = client.pipeline(transaction=True)
    for n, uscc in enumerate(enterprises):
        wh = 1000 + n  # distinct totals: a mixed-up account would show
        write_readings(data, "2024-01", full_meter(uscc, "m1", "2024-01", wh), name=f"{uscc}-1")
        write_readings(data, "2024-02", full_meter(uscc, "m1", "2024-02", wh), name=f"{uscc}-2")
        write_invoices(
            data,
            "2024-02",
            [invoice(uscc, f"S{n}", "sale", None, None, "", "100000.00", "13000.00")],
            name=f"{uscc}-i",
        )
        pipe.xadd(STREAM, activity(uscc, "2024-01", f"{n}-r1"))
        pipe.xadd(STREAM, activity(uscc, "2024-02", f"{n}-r2"))
        pipe.xadd(STREAM, {**activity(uscc, "2024-02", f"{n}-i"), "source": "invoices"})
    pipe.execute()
    events_sent = 3 * len(enterprises)
    accounts_total = 3 * len(enterprises)  # 2024-01, 2024-02, 2024 each

    log_dir = tmp_path / "logs"
    first = start_service("accounting", accounting_env, log_dir / "first", wait=START_SECONDS)
    started.append(first)
    # kill -9 once the micro-batch holds its enterprises' leases (taken before any raw data is
    # read), long before it can store and acknowledge them
    deadline = time.monotonic() + 60
    while not any(client.exists(Leases.key(u)) for u in enterprises):
        assert time.monotonic() < deadline, first.logs()
        assert first.process.poll() is None, first.logs()
        time.sleep(0.002)
    first.process.kill()
    first.process.wait(10)
    stored_before = sum(len(announced(client, u)) for u in enterprises)
    pending = client.xpending(STREAM, group)
    # mid-batch: a micro-batch's accounts are stored in one transaction (all or none), and none
    # of its entries was acknowledged
    assert stored_before in (0, accounts_total), stored_before
    assert pending["pending"] == events_sent, pending

    second = start_service("accounting", accounting_env, log_dir / "second", wait=START_SECONDS)
    started.append(second)
    deadline = time.monotonic() + 120
    while client.xpending(STREAM, group)["pending"]:
        assert time.monotonic() < deadline, second.logs()
        assert second.process.poll() is None, second.logs()
        time.sleep(0.05)

    channel = grpc.insecure_channel(second.target)
    stub = accounting_pb2_grpc.AccountingServiceStub(channel)

    def md() -> list[tuple[str, str]]:  # service tokens are single-use
        return service_md("rating", "accounting")

    for n, uscc in enumerate(enterprises):
        assert sorted(set(announced(client, uscc))) == ["2024", "2024-01", "2024-02"]
        for period in ("2024-01", "2024-02", "2024"):
            name = f"enterprises/{uscc}/accounts/{period}"
            stored = stub.GetAccount(accounting_pb2.GetAccountRequest(name=name), metadata=md())
            # a full recompute from the raw data finds the same inputs: the stored account is kept bit for bit
            fresh = stub.ComputeAccount(accounting_pb2.ComputeAccountRequest(name=name), metadata=md())
            assert fresh.SerializeToString(deterministic=True) == stored.SerializeToString(deterministic=True)
        january = stub.GetAccount(
            accounting_pb2.GetAccountRequest(name=f"enterprises/{uscc}/accounts/2024-01"),
            metadata=md(),
        )
        # (1000 + n) Wh x 2976 slots = MWh x 0.55 tCO2/MWh
        assert D(january.total_tco2.value) == (D(1000 + n) * 2976 / 1_000_000 * D("0.55")).quantize(D("0.000001"))
    channel.close()
    # the restarted consumer replayed the whole pending micro-batch, coalesced
    replayed = micro_batches(second)
    assert replayed and replayed[0].get("events") == events_sent and replayed[0].get("accounts") == accounts_total


# ---- replicas sharing the consumer group --------------------------------------------------------


def replica(consent: Edge, redis_server: str, data_dir: Path, group: str, name: str) -> CountingAccountant:
    settings = AccountingSettings(
        redis_url=f"{redis_server}/0",
        consent_target=consent.process.target,
        service_secret=SERVICE_SECRET,
        data_dir=data_dir,
        consumer_group=group,
        consumer_name=name,
        events_batch_ms=0,
        events_block_ms=100,
    )
    channel = service_channel(settings.consent_target, settings.service_name, SERVICE_SECRET)
    return CountingAccountant(settings, AccountStore(redis.Redis.from_url(f"{redis_server}/0")), channel)


def test_an_enterprise_leased_by_another_replica_is_deferred(
    consent_process: Edge,  # noqa: F811
    redis_server: str,
    tmp_path: Path,
) -> None:
    rng = random.Random(404)
    client = redis.Redis.from_url(f"{redis_server}/0")
    x, y = register(consent_process, rng), register(consent_process, rng)
    write_readings(tmp_path, "2024-01", full_meter(x, "m1", "2024-01", 1000), name="x")
    write_readings(tmp_path, "2024-01", full_meter(y, "m1", "2024-01", 1000), name="y")
    group = f"replicas-{rng.randrange(10**9)}"
    client.xgroup_create(STREAM, group, id="$", mkstream=True)
    client.xadd(STREAM, activity(x, "2024-01", "x1"))
    client.xadd(STREAM, activity(y, "2024-01", "y1"))
    b = replica(consent_process, redis_server, tmp_path, group, "b")
    leases_a = Leases(client, "a", 60_000)
    leases_b = Leases(client, "b", 60_000)
    assert leases_a.acquire(x)  # replica a is recomputing x

    entries = read_batch(client, b.settings, ">", threading.Event())
    result = process_batch(b, micro_batch(entries), leases_b)
    assert result.deferred == [x] and set(result.recomputed) == {y}
    assert not any(c.startswith(x) for c in b.computed)  # b never touched x
    assert len(result.done) == 1  # only y's entry may be acknowledged; x's stays pending at b
    client.xack(STREAM, group, *result.done)
    assert AccountStore(client).get(f"enterprises/{x}/accounts/2024-01") is None
    assert not leases_b.acquire(x)  # still a's
    leases_b.release(x)  # not b's to release: a's lease survives
    assert client.get(Leases.key(x)) == leases_a.token.encode()
    assert Leases(client, "a", 60_000).acquire(x)  # replica a restarted after a kill -9 takes it back at once

    leases_a.release(x)
    pending = read_batch(client, b.settings, "0", threading.Event())
    assert [e for e, _f in pending] == [entries[0][0]]
    again = process_batch(b, micro_batch(pending), leases_b)
    assert again.recomputed == {x: ["2024", "2024-01"]} and not again.deferred
    assert client.get(Leases.key(x)) is None  # released after storing


def test_two_replicas_never_recompute_one_enterprise_at_once(
    consent_process: Edge,  # noqa: F811
    redis_server: str,
    tmp_path: Path,
) -> None:
    rng = random.Random(2)
    client = redis.Redis.from_url(f"{redis_server}/0")
    ents = [register(consent_process, rng) for _ in range(3)]
    group = f"pair-{rng.randrange(10**9)}"
    client.xgroup_create(STREAM, group, id="$", mkstream=True)
    active: dict[str, str] = {}
    overlaps: list[str] = []
    guard = threading.Lock()

    class Watched(CountingAccountant):
        def recompute_months(
            self, uscc: str, months: object, ent: object = None, *, recorded: bool = False, store: object = None
        ) -> list[str]:
            with guard:
                if uscc in active:
                    overlaps.append(uscc)
                active[uscc] = self.settings.consumer_name
            try:
                return super().recompute_months(uscc, months, ent, recorded=recorded, store=store)  # type: ignore[arg-type]
            finally:
                with guard:
                    active.pop(uscc, None)

    replicas = []
    for name in ("r1", "r2"):
        base = replica(consent_process, redis_server, tmp_path, group, name)
        watched = Watched(
            base.settings, base.store, service_channel(base.settings.consent_target, "accounting", SERVICE_SECRET)
        )
        replicas.append(watched)
    stopping = threading.Event()
    threads = [
        threading.Thread(
            target=consume_events, args=(AccountingCore(r), redis.Redis.from_url(f"{redis_server}/0"), stopping)
        )
        for r in replicas
    ]
    for t in threads:
        t.start()
    try:
        for round_ in range(12):
            for n, uscc in enumerate(ents):
                write_readings(
                    tmp_path, "2024-01", full_meter(uscc, "m1", "2024-01", 100 + round_), name=f"{uscc}-{round_}"
                )
                client.xadd(STREAM, activity(uscc, "2024-01", f"{n}-{round_}"))
        final = (D(111) * 2976 / 1_000_000 * D("0.55")).quantize(D("0.000001"))  # max wh wins equal seq

        def settled() -> bool:
            accounts = [AccountStore(client).get(f"enterprises/{u}/accounts/2024-01") for u in ents]
            done = all(a is not None and D(a.total_tco2.value) == final for a in accounts)
            return done and client.xpending(STREAM, group)["pending"] == 0

        deadline = time.monotonic() + 120
        while not settled():
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        stopping.set()
        for t in threads:
            t.join(30)
    assert not overlaps
    assert sum(len(r.computed) for r in replicas) > 0
