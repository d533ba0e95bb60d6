"""Consumer gaps of the micro-batched accounting consumer: entries orphaned by a departed
consumer, ComputeAccount under the cross-replica lease, erasure of derived data."""

from __future__ import annotations

import json
import random
import threading
import time
from pathlib import Path

import grpc
import pytest
import redis
from carbon_accounting.consumer import claim_orphans, consume_events, micro_batch, read_batch
from carbon_accounting.core import AccountingCore
from carbon_accounting.recompute import process_batch
from carbon_accounting.store import ERASED_KEY, AccountStore, Leases, baselines_key, months_key, periods_key
from carbon_common import events
from carbon_common.errors import ServiceError
from carbon_ingest.common import erasure_worker

from tests.accounting.parquet_data import full_meter, write_readings
from tests.accounting.test_consumer import activity, register, replica
from tests.consent.helpers import Edge, consent_process  # noqa: F401  (fixture)

STREAM = events.ACTIVITY.name


def wait_for(predicate: object, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def test_entries_of_a_departed_consumer_are_claimed_after_the_lease(
    consent_process: Edge,  # noqa: F811
    redis_server: str,
    tmp_path: Path,
) -> None:
    """A pod that died mid-batch never comes back under its name: a replica claims its entries
    once they are idle longer than the lease, and recomputes their accounts."""
    rng = random.Random(818)
    client = redis.Redis.from_url(f"{redis_server}/0")
    uscc = register(consent_process, rng)
    write_readings(tmp_path, "2024-01", full_meter(uscc, "m1", "2024-01", 1000), name="a")
    group = f"orphans-{rng.randrange(10**9)}"
    client.xgroup_create(STREAM, group, id="$", mkstream=True)
    client.xadd(STREAM, activity(uscc, "2024-01", "b1"))
    departed = replica(consent_process, redis_server, tmp_path, group, "pod-abc12")
    taken = read_batch(client, departed.settings, ">", threading.Event())  # delivered, then the pod died
    assert len(taken) == 1 and client.xpending(STREAM, group)["pending"] == 1

    survivor = replica(consent_process, redis_server, tmp_path, group, "pod-xyz34")
    survivor.settings = survivor.settings.model_copy(update={"lease_ms": 300, "claim_interval_ms": 100})
    assert survivor.settings.effective_claim_idle_ms() == 600  # twice the lease
    assert claim_orphans(client, survivor.settings) == 0  # not idle long enough yet: a live holder keeps them
    wait_for(lambda: client.xpending_range(STREAM, group, "-", "+", 1)[0]["time_since_delivered"] > 600)
    stopping = threading.Event()
    worker = threading.Thread(target=consume_events, args=(AccountingCore(survivor), client, stopping))
    worker.start()
    try:
        wait_for(lambda: client.xpending(STREAM, group)["pending"] == 0)
    finally:
        stopping.set()
        worker.join(30)
    assert survivor.computed == [f"{uscc}/2024", f"{uscc}/2024-01"]
    assert AccountStore(client).get(f"enterprises/{uscc}/accounts/2024-01") is not None


def test_compute_account_waits_for_the_lease_of_another_replica(
    consent_process: Edge,  # noqa: F811
    redis_server: str,
    tmp_path: Path,
) -> None:
    rng = random.Random(919)
    client = redis.Redis.from_url(f"{redis_server}/0")
    uscc = register(consent_process, rng)
    write_readings(tmp_path, "2024-01", full_meter(uscc, "m1", "2024-01", 1000), name="a")
    accountant = replica(consent_process, redis_server, tmp_path, "g", "pod-1")
    accountant.settings = accountant.settings.model_copy(update={"lease_wait_seconds": 0.3})
    rpc_leases = Leases(client, "pod-1/rpc", 60_000)
    servicer = AccountingCore(accountant, rpc_leases=rpc_leases)
    other = Leases(client, "pod-2", 60_000)
    assert other.acquire(uscc)  # pod-2's consumer is recomputing the enterprise
    name = f"enterprises/{uscc}/accounts/2024-01"
    with pytest.raises(ServiceError) as refused:
        servicer.compute_leased(uscc, "2024-01")
    assert refused.value.code == grpc.StatusCode.UNAVAILABLE and refused.value.reason == "ENTERPRISE_BEING_RECOMPUTED"
    assert accountant.computed == []

    release = threading.Timer(0.1, other.release, args=(uscc,))
    accountant.settings = accountant.settings.model_copy(update={"lease_wait_seconds": 30})
    release.start()
    account = servicer.compute_leased(uscc, "2024-01")  # waits until pod-2 released it
    release.join()
    assert account.name == name and accountant.computed == [f"{uscc}/2024-01"]
    assert client.get(Leases.key(uscc)) is None  # released after storing


def test_erasure_deletes_derived_data_and_ignores_earlier_activity(
    consent_process: Edge,  # noqa: F811
    redis_server: str,
    tmp_path: Path,
) -> None:
    rng = random.Random(2020)
    client = redis.Redis.from_url(f"{redis_server}/0")
    erased, kept = register(consent_process, rng), register(consent_process, rng)
    for uscc in (erased, kept):
        write_readings(tmp_path, "2023-01", full_meter(uscc, "m1", "2023-01", 900), name=f"{uscc}-23")
        write_readings(tmp_path, "2024-01", full_meter(uscc, "m1", "2024-01", 1000), name=f"{uscc}-24")
    group = f"erasure-{rng.randrange(10**9)}"
    client.xgroup_create(STREAM, group, id="$", mkstream=True)
    accountant = replica(consent_process, redis_server, tmp_path, group, "c1")
    for uscc in (erased, kept):
        client.xadd(STREAM, activity(uscc, "2023-01", "a"))
        client.xadd(STREAM, activity(uscc, "2024-01", "b"))
    first = read_batch(client, accountant.settings, ">", threading.Event())
    result = process_batch(accountant, micro_batch(first))
    client.xack(STREAM, group, *result.done)
    store = AccountStore(client)
    assert store.periods(erased) == ["2023", "2023-01", "2024", "2024-01"]
    industry = "carbon:accounting:industry:C2611:2024"
    assert client.sismember(industry, erased)
    client.hset(f"carbon:accounting:declared:{erased}:2024", "revenue_cny", "100")
    # an activity event announced before the erasure, still unprocessed when it happens
    client.xadd(STREAM, activity(erased, "2024-01", "late"))

    # the erasure request as consent publishes it, consumed by accounting's erasure worker
    request = events.ErasureRequested.create(uscc=erased, request_id=f"er-{rng.randrange(10**9)}")
    events.ERASURE.add(client, request)
    stopping = threading.Event()
    reporter = f"accounting-{group}"  # the worker's consumer group and report field (the service name)
    run = erasure_worker(lambda: redis.Redis.from_url(f"{redis_server}/0"), reporter, accountant.erase)
    worker = threading.Thread(target=run, args=(stopping,))
    worker.start()
    try:
        wait_for(lambda: client.hexists(f"carbon:erasure:{request.request_id}", f"accounting-{group}"))
    finally:
        stopping.set()
        worker.join(30)
    report = json.loads(client.hget(f"carbon:erasure:{request.request_id}", f"accounting-{group}") or b"{}")
    assert report == {"accounts_deleted": 4, "declared_deleted": 1}
    for period in ("2023", "2023-01", "2024", "2024-01"):
        assert store.get(f"enterprises/{erased}/accounts/{period}") is None
        assert store.get(f"enterprises/{kept}/accounts/{period}") is not None
    for key in (periods_key(erased), months_key(erased), baselines_key(erased)):
        assert not client.exists(key)
    assert client.exists(months_key(kept)) and client.exists(baselines_key(kept))
    assert not client.sismember(industry, erased) and client.sismember(industry, kept)
    assert not client.exists(f"carbon:accounting:declared:{erased}:2024")
    assert client.hexists(ERASED_KEY, erased)

    # the activity announced before the erasure recomputes nothing from the (not yet erased) raw data
    accountant.computed.clear()
    late = read_batch(client, accountant.settings, ">", threading.Event())
    again = process_batch(accountant, micro_batch(late))
    assert len(again.done) == 1 and not again.recomputed and accountant.computed == []
    assert store.periods(erased) == []
    # data announced after the erasure (a new consent, new data) is accounted again
    client.xadd(STREAM, activity(erased, "2024-01", "new"))
    fresh = read_batch(client, accountant.settings, ">", threading.Event())
    assert process_batch(accountant, micro_batch(fresh)).recomputed == {erased: ["2024", "2024-01"]}
