"""Immutable raw objects and the commit record (carbon_ingest.rawdata "Commit record"), on both
backends: every write attempt writes under a new name; a crash between the PUT and the commit
leaves an object no reader sees (accounting, compaction, erasure); the retry or the sweep deletes
it; and only the acknowledging MULTI makes an object visible."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import grpc
import polars as pl
import pytest
import redis
from carbon.v1 import consent_pb2
from carbon.v1 import ingest_energy_pb2 as pb
from carbon.v1 import ingest_tax_pb2 as tax_pb
from carbon_accounting import activity
from carbon_common.errors import ServiceError
from carbon_common.redis_conn import connect
from carbon_devkit.credentials import SERVICE_SECRET as SECRET
from carbon_ingest import parquet_io, rawdata
from carbon_ingest_energy.app import build as build_energy
from carbon_ingest_energy.core import EnergyCore
from carbon_ingest_energy.grpc_api import EnergyServicer
from carbon_ingest_energy.settings import EnergySettings
from carbon_ingest_energy.store import ReadingStore, Staged
from carbon_ingest_tax.core import TaxCore
from carbon_ingest_tax.store import TaxStore

from tests.ingest.helpers import AllowList, batch, create_meter, in_process, make_uscc, raw_readings, raw_rows

USCC = make_uscc(71)
SCOPE = consent_pb2.CONSENT_SCOPE_ENERGY_METERING
T0 = int(datetime(2024, 2, 29, 16, 0, tzinfo=UTC).timestamp())  # 2024-03-01 00:00 Asia/Shanghai
Q = 900
MONTH = "2024-03"


@pytest.fixture
def root(new_data_root: Callable[[], Path]) -> Path:
    return new_data_root()


@pytest.fixture
def svc(redis_url: str, root: Path) -> EnergyServicer:
    settings = EnergySettings(redis_url=redis_url, data_dir=root, grpc_port=0, http_port=0, max_power_kw=1000)
    return EnergyServicer(EnergyCore(settings, ReadingStore(connect(redis_url), root), AllowList((USCC, SCOPE))))


def listed(root: Path) -> list[str]:
    """Every object under the root, committed or not (what a reader without the record would see)."""
    return rawdata.month_files(root, rawdata.READINGS, MONTH)


def visible(root: Path, client: redis.Redis) -> list[str]:
    return rawdata.month_files(rawdata.Committed(root, client), rawdata.READINGS, MONTH)


def pending(client: redis.Redis) -> list[bytes]:
    return list(client.zrange(rawdata.PENDING_KEY, 0, -1))


def stage(svc: EnergyServicer, *batches: pb.ReadingBatch) -> list[Staged]:
    """Batches validated and staged as the service does before writing their window."""
    return [svc.core._stage(svc.core.validate(b)) for b in batches]


def crash_after_put(svc: EnergyServicer, *batches: pb.ReadingBatch) -> str:
    """Write a window durably and 'die' before its commit; the orphan's location."""
    _, _, files = svc.core.store.write_window(stage(svc, *batches))
    (orphan,) = [f for f in listed(svc.core.store.root.parent) if f.endswith(files[0].name)]
    return orphan


def test_a_crash_between_put_and_commit_leaves_no_visible_object_and_the_sweep_removes_it(
    svc: EnergyServicer, root: Path, redis_url: str
) -> None:
    client = connect(redis_url)
    a, b = create_meter(svc, USCC, "m1"), create_meter(svc, USCC, "m2")
    orphan = crash_after_put(svc, batch(a, "a", [T0, T0 + Q], [1, 2]))
    assert listed(root) == [orphan] and len(pending(client)) == 1
    assert visible(root, client) == []  # accounting, the shard job, compaction and erasure read this
    assert activity.month_meters(rawdata.Committed(root, client), [USCC], MONTH) == {}

    svc.StreamReadings(iter([batch(b, "b", [T0], [5])]), None)  # an acknowledged window
    (committed,) = visible(root, client)
    assert committed != orphan and sorted(listed(root)) == sorted([orphan, committed])
    meters = activity.month_meters(rawdata.Committed(root, client), [USCC], MONTH)
    assert [(m.readings, m.wh) for m in meters[USCC]] == [(1, 5)]  # the orphan's two readings are not counted

    # maintenance reads only committed objects: compaction merges the committed one, erasure
    # rewrites committed ones; neither touches (nor publishes) the orphan
    svc.core.store.compact(min_files=1)
    assert orphan in listed(root) and orphan not in visible(root, client)
    assert svc.core.store.erase(make_uscc(72))["files_rewritten"] == 0

    store = svc.core.store
    assert store.ledger.sweep(3600) == 0  # announced just now: within the lease, maybe still being written
    assert store.ledger.sweep(0) == 1
    assert orphan not in listed(root) and pending(client) == []
    assert raw_readings(root).height == 1

    # the client retries the batch it never got an answer for: stored once, visible
    assert svc.StreamReadings(iter([batch(a, "a", [T0, T0 + Q], [1, 2])]), None).readings_stored == 2
    assert sorted(listed(root)) == sorted(visible(root, client)) and raw_readings(root).height == 3


def test_every_attempt_writes_a_new_object_and_the_retry_deletes_the_uncommitted_one(
    svc: EnergyServicer, root: Path, redis_url: str
) -> None:
    client = connect(redis_url)
    a = create_meter(svc, USCC, "m1")
    first = crash_after_put(svc, batch(a, "a", [T0], [1]))
    second = crash_after_put(svc, batch(a, "a", [T0], [1]))  # the identical retry: a new name, not an overwrite
    assert first != second and first.rsplit("-", 1)[0] == second.rsplit("-", 1)[0]  # same window, new attempt
    assert listed(root) == [second] and visible(root, client) == []  # the retry deleted the first attempt

    svc.StreamReadings(iter([batch(a, "a", [T0], [1])]), None)
    (stored,) = visible(root, client)
    assert stored not in (first, second) and listed(root) == [stored]
    assert pending(client) == [] and not list(client.scan_iter("carbon:ingest-energy:intent:*"))


def test_a_tax_batch_that_crashed_before_its_commit_is_invisible_until_its_retry_commits(
    redis_url: str, root: Path
) -> None:
    client = connect(redis_url)
    store = TaxStore(client, root)
    ingestor = TaxCore(store, AllowList((USCC, consent_pb2.CONSENT_SCOPE_TAX_INVOICES)))
    invoice = tax_pb.Invoice(
        invoice_number="24330000000000000009",
        seller_uscc=USCC,
        buyer_uscc=make_uscc(72),
        kind=tax_pb.Invoice.KIND_NORMAL,
        lines=[tax_pb.InvoiceLine(line_number=1, tax_code="3040203000000000000", item_name="*服务*x")],
    )
    invoice.lines[0].amount.value = "100.00"
    invoice.issue_time.FromSeconds(T0 + 86400)

    real_commit = store.commit
    store.commit = lambda commit: None  # type: ignore[method-assign]  # the process dies before its MULTI
    ingestor.ingest(f"enterprises/{USCC}", "r1", [invoice])
    store.commit = real_commit  # type: ignore[method-assign]
    (orphan,) = rawdata.month_files(root, rawdata.INVOICES, MONTH)
    assert rawdata.month_files(rawdata.Committed(root, client), rawdata.INVOICES, MONTH) == []
    assert activity.month_invoices(rawdata.Committed(root, client), [USCC], MONTH) == {}

    ingestor.ingest(f"enterprises/{USCC}", "r1", [invoice])  # the retry deletes the orphan, commits its own
    (stored,) = rawdata.month_files(rawdata.Committed(root, client), rawdata.INVOICES, MONTH)
    assert stored != orphan and rawdata.month_files(root, rawdata.INVOICES, MONTH) == [stored]
    assert raw_rows(root, rawdata.INVOICES).height == 1 and pending(client) == []
    assert USCC in activity.month_invoices(rawdata.Committed(root, client), [USCC], MONTH)


def test_two_replicas_storing_the_same_batch_at_once_publish_it_once(
    svc: EnergyServicer, root: Path, redis_url: str
) -> None:
    """A client retry that reaches another replica while the first attempt still runs: the intent
    fences them, so whichever attempt is superseded answers UNAVAILABLE (the client retries and
    gets the stored result) and never makes its files visible or deletes committed ones."""
    client = connect(redis_url)
    replica = EnergyServicer(
        EnergyCore(svc.core.settings, ReadingStore(connect(redis_url), root), AllowList((USCC, SCOPE)))
    )
    a = batch(create_meter(svc, USCC, "m1"), "a", [T0, T0 + Q], [1, 2])
    first, second = svc.core.store, replica.core.store

    # the retry writes after the first attempt wrote (and deletes its uncommitted object): the
    # first attempt's commit is refused, the retry's goes through
    window_1, _, files_1 = first.write_window(stage(svc, a))
    window_2, _, files_2 = second.write_window(stage(replica, a))
    with pytest.raises(ServiceError) as refused:
        first.commit(window_1, [{}], files_1)
    assert (refused.value.code, refused.value.reason) == (grpc.StatusCode.UNAVAILABLE, "CONCURRENT_ATTEMPT")
    second.commit(window_2, [{}], files_2)
    (stored,) = visible(root, client)
    assert listed(root) == [stored] and stored.endswith(files_2[0].name)

    # the first attempt commits before the retry writes: the retry stops before writing anything
    b = batch(create_meter(svc, USCC, "m2"), "b", [T0], [3])
    late = stage(replica, b)  # looked up the idempotency record before the first attempt committed
    window_1, _, files_1 = first.write_window(stage(svc, b))
    first.commit(window_1, [{}], files_1)
    with pytest.raises(ServiceError, match="another attempt of the same batch"):
        second.write_window(late)
    assert sorted(listed(root)) == sorted(visible(root, client)) and len(listed(root)) == 2
    assert raw_readings(root).height == 3 and pending(client) == []
    assert replica.StreamReadings(iter([b]), None).batches[0].replayed  # the client's retry: the stored result


def test_a_started_service_sweeps_orphans_announced_longer_ago_than_the_lease(redis_url: str, root: Path) -> None:
    """Recovery: objects of a writer that died between its PUT and its commit an hour ago, whose
    client never retried, are deleted by the service's start-up sweep; a fresh announcement (maybe
    a write in progress on another replica) is left alone."""
    client = connect(redis_url)
    ledger = parquet_io.Ledger(client, root / rawdata.READINGS)
    directory = root / rawdata.READINGS / rawdata.month_dirname(MONTH)
    frame = pl.DataFrame([(USCC, "m1", "electricity", T0, 1, 1, None)], schema=rawdata.READINGS_SCHEMA, orient="row")
    old, fresh = directory / rawdata.attempt_name("b-old.parquet"), directory / rawdata.attempt_name("b-new.parquet")
    for path, announced in ((old, time.time() - 3600), (fresh, time.time())):
        client.zadd(rawdata.PENDING_KEY, {ledger.name(path): announced})
        parquet_io.write_atomic(frame, path, index=True)
    assert len(listed(root)) == 2 and visible(root, client) == []

    settings = EnergySettings(
        redis_url=redis_url,
        data_dir=root,
        grpc_port=0,
        http_port=0,
        service_secret=SECRET,
        pending_lease_seconds=600,
        projection_warm_up_seconds=0,  # no consent service here: no batch is sent, nothing to wait for
    )
    with in_process(build_energy(settings)):
        deadline = time.monotonic() + 60
        # The sweep runs in the service's background worker; it deletes an orphan before forgetting its
        # name, so it is done when both the object and its announcement are gone.
        while (len(listed(root)) == 2 or len(pending(client)) == 2) and time.monotonic() < deadline:
            time.sleep(0.05)
    assert [f.rsplit("/", 1)[1] for f in listed(root)] == [fresh.name]
    assert [n.decode() for n in pending(client)] == [ledger.name(fresh)] and visible(root, client) == []
