"""The raw-data contract (carbon_ingest.rawdata): files written by every writer — ingest-energy,
ingest-tax, the synthetic bulk generator, the accounting tests' own writer — conform exactly to
the contract's schemas and are read by accounting's reader; drift is caught."""

from __future__ import annotations

import dataclasses
import subprocess
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from carbon.v1 import consent_pb2
from carbon_accounting import activity
from carbon_common.redis_conn import connect
from carbon_ingest import parquet_io, rawdata
from carbon_ingest_energy.core import EnergyCore
from carbon_ingest_energy.grpc_api import EnergyServicer
from carbon_ingest_energy.settings import EnergySettings
from carbon_ingest_energy.store import ReadingStore
from carbon_ingest_tax.core import TaxCore
from carbon_ingest_tax.domain import InvoiceRow
from carbon_ingest_tax.store import TaxStore
from carbon_synth import bulk

from tests.accounting import parquet_data
from tests.ingest.helpers import AllowList, make_uscc
from tests.ingest.test_energy import USCC as METERED
from tests.ingest.test_energy import batch, meter, stream
from tests.ingest.test_tax import invoice, line

REPO = Path(__file__).resolve().parents[2]
USCC = make_uscc(41)
SUPPLIER = make_uscc(42)
CUSTOMER = make_uscc(43)
T0 = int(datetime(2024, 2, 29, 16, 0, tzinfo=UTC).timestamp())  # 2024-03-01 00:00 Asia/Shanghai
MONTH = "2024-03"


def energy_writer(redis_url: str, root: Path) -> None:
    settings = EnergySettings(redis_url=redis_url, data_dir=root, grpc_port=0, http_port=0, max_power_kw=1000)
    svc = EnergyServicer(
        EnergyCore(
            settings,
            ReadingStore(connect(redis_url), root),
            AllowList((METERED, consent_pb2.CONSENT_SCOPE_ENERGY_METERING)),
        )
    )
    name = meter(svc)
    stream(svc, batch(name, "r1", [T0, T0 + 900], [1000, 2000]))
    stream(svc, batch(name, "r2", [T0 + 900], [2500]))  # a second file, with a correction


def tax_writer(redis_url: str, root: Path) -> None:
    ingestor = TaxCore(TaxStore(connect(redis_url), root), AllowList((USCC, consent_pb2.CONSENT_SCOPE_TAX_INVOICES)))
    t = T0 + 86_400
    elec = line(1, "1100101020000000000", "*供电*电费", "千瓦时", "3", "1.95", "0.00")
    service = "3040203000000000000"
    ingestor.ingest(
        f"enterprises/{USCC}",
        "t1",
        [
            invoice("24330000000000000101", elec, seller=SUPPLIER, buyer=USCC, t=t),
            invoice(
                "24330000000000000102", line(1, service, "*服务*咨询", amount="50.00"), seller=SUPPLIER, buyer=USCC, t=t
            ),
            invoice(
                "24330000000000000103", line(1, service, "*服务*咨询", amount="80.00"), seller=USCC, buyer=CUSTOMER, t=t
            ),
        ],
    )


def bulk_writer(root: Path) -> None:
    params = bulk.BulkParams(enterprises=3, months=1, chunk=3, year=2024, correction_rate=0.01, flag_rate=0.01)
    bulk.generate(root, params, log=False, workers=1)


def accounting_tests_writer(root: Path) -> None:
    parquet_data.write_readings(root, MONTH, parquet_data.full_meter(USCC, "m1", MONTH, 5)[:3])
    parquet_data.write_invoices(
        root, MONTH, [parquet_data.invoice(USCC, "1", "purchase", "electricity", "3", "kWh", "1.95", "0.00")]
    )


@pytest.fixture
def roots(redis_url: str, tmp_path: Path) -> dict[str, Path]:
    roots = {name: tmp_path / name for name in ("energy", "tax", "bulk", "tests")}
    energy_writer(redis_url, roots["energy"])
    tax_writer(redis_url, roots["tax"])
    bulk_writer(roots["bulk"])
    accounting_tests_writer(roots["tests"])
    return roots


def test_every_writer_writes_the_contract_and_accounting_reads_it(roots: dict[str, Path]) -> None:
    written = {(name, kind) for name, root in roots.items() for kind in rawdata.KINDS if rawdata.months(root, kind)}
    assert written == {
        ("energy", "readings"),
        ("tax", "invoices"),
        ("bulk", "readings"),
        ("bulk", "invoices"),
        ("tests", "readings"),
        ("tests", "invoices"),
    }
    for name, kind in sorted(written):
        root = roots[name]
        for file in rawdata.iter_files(root, kind):
            assert rawdata.schema_drift(file, kind) == [], f"{name} wrote {file}"
            if kind == rawdata.READINGS and name != "tests":  # the services' and the generator's files are indexed
                assert rawdata.read_index(file) is not None, f"{name}: {file} has no valid footer index"
        for month in rawdata.months(root, kind):
            if kind == rawdata.READINGS:
                fast = activity.aggregate_month(root, month)
                plain = activity.aggregate_readings(rawdata.scan(rawdata.month_files(root, kind, month)))
                assert fast is not None and fast.height > 0 and fast.equals(plain), name
            else:
                frame = rawdata.scan_month(root, kind, month, rawdata.INVOICE_COLUMNS)
                assert frame is not None
                purchases, _sales = activity.aggregate_invoices(frame)
                assert purchases.height > 0, name


def test_accounting_reads_what_ingestion_wrote(roots: dict[str, Path]) -> None:
    (meters,) = activity.enterprise_meters(roots["energy"], METERED, [MONTH])
    assert (meters.wh, meters.readings, meters.duplicates) == (1000 + 2500, 2, 1)  # the correction wins
    invoices, economics = activity.enterprise_invoices(roots["tax"], USCC, [MONTH])
    assert [(i.energy_type, i.unit, i.quantity, i.amount_cny) for i in invoices] == [
        ("electricity", "kWh", Decimal("3"), Decimal("1.95"))
    ]
    (month,) = economics
    assert (month.sales_amount_cny, month.purchase_amount_cny) == (Decimal("80.00"), Decimal("51.95"))


def test_schema_drift_is_caught(tmp_path: Path) -> None:
    good = pl.DataFrame([(USCC, "m1", "electricity", T0, 10, 1, None)], schema=rawdata.READINGS_SCHEMA, orient="row")
    drifted = {
        "wh_as_float": good.with_columns(pl.col("wh").cast(pl.Float64)),
        "renamed": good.rename({"flag": "quality"}),
        "extra": good.with_columns(pl.lit("x").alias("note")),
        "reordered": good.select("ts", *[c for c in good.columns if c != "ts"]),
    }
    good.write_parquet(tmp_path / "good.parquet")
    assert rawdata.schema_drift(str(tmp_path / "good.parquet"), rawdata.READINGS) == []
    for name, frame in drifted.items():
        frame.write_parquet(tmp_path / f"{name}.parquet")
        assert rawdata.schema_drift(str(tmp_path / f"{name}.parquet"), rawdata.READINGS), name
    with pytest.raises(ValueError, match="missing \\['flag'\\], extra \\['quality'\\]"):
        rawdata.conform(drifted["renamed"], rawdata.READINGS)


def test_index_codec_round_trips_and_rejects_other_versions(tmp_path: Path) -> None:
    rows = [(USCC, "m1", "electricity", T0 + i * 900, i, 1, "SPIKE" if i == 1 else None) for i in range(4)]
    frame = pl.DataFrame(rows, schema=rawdata.READINGS_SCHEMA, orient="row")
    path = tmp_path / "x.parquet"
    parquet_io.write_atomic(frame, path, index=True)
    segments = rawdata.read_index(str(path))
    assert segments is not None
    assert segments.select("rows", "min_ts", "max_ts", "unique", "flagged", "offset").row(0) == (
        4,
        T0,
        T0 + 3 * 900,
        1,
        1,
        0,
    )
    assert rawdata.read_index(str(path)) is segments  # the decoded index is kept per file version
    # the same path written again (tests and copies do; ingestion never does): its new index is read
    parquet_io.write_atomic(frame.head(3), path, index=True)
    again = rawdata.read_index(str(path))
    assert again is not None and again["rows"].to_list() == [3]
    footer = rawdata.read_footer(str(path))
    assert (
        rawdata.decode_index({rawdata.INDEX_KEY: footer[rawdata.INDEX_KEY].replace('"version":1', '"version":2')})
        is None
    )
    assert rawdata.decode_index({rawdata.INDEX_KEY: "{not json"}) is None
    assert rawdata.decode_index({}) is None


def test_data_roots_are_local_paths_or_s3_urls_and_nothing_else() -> None:
    for url in ("gs://bucket/prefix", "https://host/data", "file:///tmp/data"):
        with pytest.raises(rawdata.UnsupportedLocation, match=r"local directory or s3://bucket/prefix"):
            rawdata.check_root(url)
        with pytest.raises(rawdata.UnsupportedLocation):
            rawdata.month_files(url, rawdata.READINGS, MONTH)
    # a Path collapses s3://b/p to s3:/b/p: both name the same object root, never a relative directory
    assert rawdata.object_root("s3://bucket/some/prefix/") == rawdata.ObjectRoot("bucket", "some/prefix")
    assert rawdata.object_root(Path("s3://bucket/some/prefix")) == rawdata.ObjectRoot("bucket", "some/prefix")
    assert rawdata.object_root("s3://bucket") == rawdata.ObjectRoot("bucket", "")
    assert rawdata.object_root(Path("relative/dir")) is None
    assert rawdata.storage_options(
        {
            "AWS_ENDPOINT_URL": "http://127.0.0.1:8333",
            "AWS_DEFAULT_REGION": "x",
            "AWS_REGION": "cn-north-1",
            "HOME": "/",
        }
    ) == {"aws_endpoint": "http://127.0.0.1:8333", "aws_region": "cn-north-1"}


def test_the_footer_key_and_schemas_are_spelt_in_one_module() -> None:
    """Production code names the footer key and the column lists only in carbon_ingest.rawdata."""
    hits = subprocess.run(
        [
            "git",
            "grep",
            "--untracked",
            "-l",
            "-F",
            rawdata.INDEX_KEY,
            "--",
            "libs",
            "services",
            "bench",
            "scripts",
            "ops",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    assert [h for h in hits if not h.endswith((".md", ".txt"))] == ["libs/carbon-ingest/src/carbon_ingest/rawdata.py"]
    schema_entry = '"original_invoice_number": ' + r"pl\.(String|Utf8)"  # split: this file must not match
    hits = subprocess.run(
        ["git", "grep", "--untracked", "-l", "-E", schema_entry, "--", "libs", "services", "bench", "scripts"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    assert hits == ["libs/carbon-ingest/src/carbon_ingest/rawdata.py"]


def test_the_tax_row_type_is_the_contract_in_column_order() -> None:
    """ingest-tax builds its frames from InvoiceRow.values(): fields and values in the contract's order."""
    assert [f.name for f in dataclasses.fields(InvoiceRow)] == list(rawdata.INVOICES_SCHEMA)
    row = InvoiceRow(*(f"v{i}" for i in range(len(rawdata.INVOICES_SCHEMA))))  # type: ignore[arg-type]
    assert row.values() == tuple(getattr(row, f.name) for f in dataclasses.fields(InvoiceRow))
