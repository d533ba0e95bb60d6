"""Ingestion on object storage (raw data under s3://bucket/prefix on a real SeaweedFS): the disk
guarantees hold — an orphaned window (PUT done, commit never happened) is removed by any regrouped
retry, a tax batch whose months changed removes its stale object, compaction and erasure work on
objects — and a data root that is neither a directory nor s3:// stops a service at start."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
import redis
from carbon.v1 import consent_pb2
from carbon.v1 import ingest_tax_pb2 as tax_pb
from carbon_accounting.__main__ import build as build_accounting
from carbon_accounting.shard import main as recompute_shard
from carbon_common.redis_conn import connect
from carbon_devkit.s3 import RAW_BUCKET, S3Server
from carbon_ingest import parquet_io, rawdata
from carbon_ingest_energy.app import build as build_energy
from carbon_ingest_energy.core import EnergyCore
from carbon_ingest_energy.grpc_api import EnergyServicer
from carbon_ingest_energy.settings import EnergySettings
from carbon_ingest_energy.store import ReadingStore
from carbon_ingest_tax.app import build as build_tax
from carbon_ingest_tax.core import TaxCore
from carbon_ingest_tax.settings import TaxSettings
from carbon_ingest_tax.store import TaxStore

from tests.ingest.helpers import AllowList, batch, create_meter, make_uscc, raw_readings, raw_rows, winning_readings

USCC = make_uscc(61)
OTHER = make_uscc(62)
SCOPE = consent_pb2.CONSENT_SCOPE_ENERGY_METERING
T0 = int(datetime(2024, 2, 29, 16, 0, tzinfo=UTC).timestamp())  # 2024-03-01 00:00 Asia/Shanghai
Q = 900


@pytest.fixture
def root(s3_env: S3Server) -> Path:
    return Path(f"s3://{RAW_BUCKET}/{uuid.uuid4().hex}")


@pytest.fixture
def svc(redis_url: str, root: Path) -> EnergyServicer:
    settings = EnergySettings(redis_url=redis_url, data_dir=root, grpc_port=0, http_port=0, max_power_kw=1000)
    return EnergyServicer(
        EnergyCore(settings, ReadingStore(connect(redis_url), root), AllowList((USCC, SCOPE), (OTHER, SCOPE)))
    )


def objects(root: Path) -> list[str]:
    return sorted(rawdata.iter_files(root, rawdata.READINGS))


def test_an_orphaned_window_is_removed_by_a_regrouped_retry(svc: EnergyServicer, root: Path) -> None:
    m1, m2, m3 = create_meter(svc, USCC, "m1"), create_meter(svc, USCC, "m2"), create_meter(svc, USCC, "m3")
    a, b, c = batch(m1, "a", [T0, T0 + Q], [1, 2]), batch(m2, "b", [T0], [3]), batch(m3, "c", [T0 + Q], [4])
    crashed = [svc.core._stage(svc.core.validate(x)) for x in (a, b)]
    svc.core.store.write_window(crashed)  # the PUT completed, then the process died before the commit
    (orphan,) = objects(root)
    assert orphan.startswith(f"s3://{RAW_BUCKET}/{root.name}/readings/month=2024-03/b-")
    assert raw_readings(root).height == 3

    svc.StreamReadings(iter([b, c]), None)  # b again, grouped with c: the orphan (a + b) is deleted
    assert orphan not in objects(root) and raw_readings(root).height == 2
    svc.StreamReadings(iter([a]), None)
    raw = raw_readings(root)
    assert raw.height == 4 and raw.select("meter_id", "ts").n_unique() == 4
    assert svc.StreamReadings(iter([a, b, c]), None).readings_stored == 0
    assert not list(redis.Redis.from_url(svc.core.settings.redis_url).scan_iter("carbon:ingest-energy:intent:*"))
    # every object carries the footer index, read back from the object's footer
    for url in objects(root):
        index = rawdata.read_index(url)
        assert index is not None and int(index["rows"].sum()) == rawdata.row_count(url)


def test_compaction_and_erasure_on_objects(svc: EnergyServicer, root: Path) -> None:
    mine, theirs = create_meter(svc, USCC, "m1"), create_meter(svc, OTHER, "m1")
    svc.StreamReadings(iter([batch(mine, "a", [T0 + Q, T0], [2, 1]), batch(theirs, "b", [T0], [7])]), None)
    svc.StreamReadings(iter([batch(mine, "c", [T0], [5])]), None)  # a correction in a second object
    before = winning_readings(root)
    assert len(objects(root)) == 2
    assert svc.core.store.compact() == 2
    (compact,) = objects(root)
    assert compact.rsplit("/", 1)[1].startswith("compact-")
    index = rawdata.decode_index(rawdata.read_footer(compact))
    assert index is not None and rawdata.read_index(compact) is not None
    assert winning_readings(root).drop("seq").equals(before.drop("seq"))
    counts = svc.core.store.erase(USCC)
    assert counts["rows_deleted"] == 2 and counts["files_rewritten"] == 1
    assert set(raw_readings(root)["uscc"]) == {OTHER}
    assert parquet_io.months(root / "readings") == ["2024-03"]


def test_a_tax_batch_moved_to_other_months_leaves_no_stale_object(redis_url: str, root: Path) -> None:
    """A crashed first attempt wrote March; the retry's lines all fall in April (another issue time
    after a client fix is a different request; here the same request's intent still names March)."""
    ingestor = TaxCore(TaxStore(connect(redis_url), root), AllowList((USCC, consent_pb2.CONSENT_SCOPE_TAX_INVOICES)))
    name = parquet_io.batch_file_name("invoices", USCC, "r1")
    stale = root / "invoices" / "month=2024-03" / name
    frame = pl.DataFrame(
        [
            (USCC, "1", 1, T0, "sale", None, None, None, Decimal("1.00"), Decimal("0.13"), False, None, None, 1),
        ],
        schema=rawdata.INVOICES_SCHEMA,
        orient="row",
    )
    redis.Redis.from_url(redis_url).sadd(f"carbon:ingest-tax:intent:{USCC}:r1", "2024-03")
    parquet_io.write_atomic(frame, stale)  # the crashed attempt's object
    assert raw_rows(root, rawdata.INVOICES).height == 1
    invoice = tax_pb.Invoice(
        invoice_number="24330000000000000001",
        seller_uscc=USCC,
        buyer_uscc=OTHER,
        kind=tax_pb.Invoice.KIND_NORMAL,
        lines=[tax_pb.InvoiceLine(line_number=1, tax_code="3040203000000000000", item_name="*服务*x")],
    )
    invoice.lines[0].amount.value = "100.00"
    invoice.issue_time.FromSeconds(T0 + 40 * 86400)  # April
    ingestor.ingest(f"enterprises/{USCC}", "r1", [invoice])
    # the stale object is gone (an emptied month may still be listed, as an empty directory on disk is)
    assert rawdata.month_files(root, rawdata.INVOICES, "2024-03") == []
    assert len(rawdata.month_files(root, rawdata.INVOICES, "2024-04")) == 1
    assert raw_rows(root, rawdata.INVOICES)["invoice_number"].to_list() == ["24330000000000000001"]


def test_a_data_root_that_is_not_a_directory_or_s3_stops_the_service_at_start(redis_url: str) -> None:
    with pytest.raises(rawdata.UnsupportedLocation, match="local directory or s3://bucket/prefix"):
        build_energy(EnergySettings(redis_url=redis_url, data_dir=Path("gs://bucket/raw")))


def test_a_missing_bucket_stops_every_service_that_reads_raw_data_at_start(
    redis_url: str, s3_env: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One LIST at start: a bucket that does not exist (or cannot be listed with these credentials)
    is a clear error before any request is served, not a failure on the first batch."""
    rawdata.check_root(Path(f"s3://{RAW_BUCKET}/{uuid.uuid4().hex}"))  # the existing bucket (an empty prefix) is fine
    missing = Path(f"s3://carbon-missing-{uuid.uuid4().hex[:8]}/raw")
    message = r"bucket 'carbon-missing-\w+' does not exist or cannot be listed .*create it or fix AWS_ENDPOINT_URL"
    with pytest.raises(rawdata.UnreachableLocation, match=message):
        build_energy(EnergySettings(redis_url=redis_url, data_dir=missing))
    with pytest.raises(rawdata.UnreachableLocation, match=message):
        build_tax(TaxSettings(redis_url=redis_url, data_dir=missing))
    monkeypatch.setenv("CARBON_REDIS_URL", redis_url)
    monkeypatch.setenv("CARBON_DATA_DIR", f"s3://{missing.parts[1]}/raw")
    with pytest.raises(rawdata.UnreachableLocation, match=message):
        build_accounting()  # reads its settings from the environment
    with pytest.raises(rawdata.UnreachableLocation, match=message):
        recompute_shard(["--shards", "2", "--index", "0", "--period", "2024"])
