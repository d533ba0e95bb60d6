"""ingest-tax: classification, units, red-letter, minimisation, idempotency, REST upload."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import grpc
import polars as pl
import pytest
import redis
from carbon.v1 import consent_pb2
from carbon.v1 import ingest_tax_pb2 as pb
from carbon.v1 import ingest_tax_pb2_grpc as pb_grpc
from carbon_common.errors import ServiceError
from carbon_common.identity import SERVICE_HEADER, TOKEN_HEADER, ServiceVerifier, sign_service_token
from carbon_common.redis_conn import connect
from carbon_common.server import Service
from carbon_ingest import rawdata
from carbon_ingest.common import ERASURE_STREAM, handle_erasure
from carbon_ingest_tax.app import create_http_app
from carbon_ingest_tax.classify import Tables
from carbon_ingest_tax.core import TaxCore
from carbon_ingest_tax.grpc_api import register
from carbon_ingest_tax.settings import TaxSettings
from carbon_ingest_tax.store import TaxStore
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.ingest.helpers import AllowList, in_process, make_uscc, rpc_error

USCC = make_uscc(11)
SUPPLIER = make_uscc(12)
CUSTOMER = make_uscc(13)
STRANGER = make_uscc(14)
SCOPE = consent_pb2.CONSENT_SCOPE_TAX_INVOICES
ELEC = "1100101020000000000"
HEAT = "1100102000000000000"
DIESEL = "1070101030000000000"
GASOLINE = "1070101010000000000"
KEROSENE = "1070101020000000000"
GAS_UNKNOWN = "1100202010000000000"
SERVICE = "3040203000000000000"
T = int(datetime(2024, 3, 5, 2, 0, tzinfo=UTC).timestamp())  # 2024-03-05 10:00 Asia/Shanghai


@pytest.fixture
def ingestor(redis_url: str, tmp_path: Path) -> TaxCore:
    return TaxCore(TaxStore(connect(redis_url), tmp_path), AllowList((USCC, SCOPE)))


def line(
    n: int, code: str, name: str, unit: str = "", qty: str = "", amount: str = "100.00", tax: str = "13.00"
) -> pb.InvoiceLine:
    result = pb.InvoiceLine(line_number=n, tax_code=code, item_name=name, unit=unit)
    if qty:
        result.quantity.value = qty
    result.amount.value = amount
    if tax:
        result.tax_amount.value = tax
    return result


def invoice(
    number: str, *lines: pb.InvoiceLine, seller: str = SUPPLIER, buyer: str = USCC, red_of: str = "", t: int = T
) -> pb.Invoice:
    result = pb.Invoice(
        invoice_number=number,
        seller_uscc=seller,
        buyer_uscc=buyer,
        kind=pb.Invoice.KIND_RED_LETTER if red_of else pb.Invoice.KIND_NORMAL,
        original_invoice_number=red_of,
        lines=list(lines),
    )
    result.issue_time.FromSeconds(t)
    return result


def num(i: int) -> str:
    return f"{24330000000000000000 + i}"


def rows(tmp_path: Path) -> pl.DataFrame:
    files = sorted((tmp_path / "invoices").glob("month=*/*.parquet"))
    return pl.concat([pl.read_parquet(f) for f in files]) if files else pl.DataFrame()


def energy(tmp_path: Path) -> dict[str, Decimal]:
    frame = rows(tmp_path).filter(pl.col("direction") == "purchase", pl.col("energy_type") != "non_energy")
    return {
        r["energy_type"]: r["quantity"]
        for r in frame.group_by("energy_type").agg(pl.col("quantity").sum()).iter_rows(named=True)
    }


@pytest.mark.parametrize(
    ("code", "name", "unit", "qty", "expected_type", "expected_qty", "expected_unit"),
    [
        (ELEC, "*供电*电费", "千瓦时", "1200", "electricity", "1200", "kWh"),
        (ELEC, "*供电*电费", "度", "5", "electricity", "5", "kWh"),
        (ELEC, "*供电*电费", "万千瓦时", "1.5", "electricity", "15000", "kWh"),
        (ELEC, "*电力*电费", "MWh", "2.25", "electricity", "2250", "kWh"),
        (HEAT, "*热力*蒸汽", "吉焦", "30", "heat", "30", "GJ"),
        (DIESEL, "*成品油*车用柴油0#", "吨", "2", "diesel", "2", "t"),
        (DIESEL, "*成品油*车用柴油0#", "千克", "500", "diesel", "0.5", "t"),
        # litres stay litres: the density is accounting's choice (tests/accounting/test_densities.py)
        (DIESEL, "*成品油*车用柴油0#", "升", "1176", "diesel", "1176", "L"),
        (GASOLINE, "*成品油*92号汽油", "公升", "100", "gasoline", "100", "L"),
    ],
)
def test_energy_purchases_are_classified_and_normalised(
    ingestor: TaxCore,
    tmp_path: Path,
    code: str,
    name: str,
    unit: str,
    qty: str,
    expected_type: str,
    expected_qty: str,
    expected_unit: str,
) -> None:
    response = ingestor.ingest(f"enterprises/{USCC}", "r1", [invoice(num(1), line(1, code, name, unit, qty))])
    assert response.energy_lines == 1 and not response.quarantined
    frame = rows(tmp_path)
    assert frame.height == 1
    row = frame.row(0, named=True)
    assert row["energy_type"] == expected_type and row["unit"] == expected_unit
    assert row["quantity"] == Decimal(expected_qty)
    assert row["direction"] == "purchase" and row["amount_cny"] == Decimal("100.00") and row["seq"] > 0


def test_parquet_schema_is_the_contract(ingestor: TaxCore, tmp_path: Path) -> None:
    ingestor.ingest(f"enterprises/{USCC}", "r1", [invoice(num(1), line(1, ELEC, "*供电*电费", "千瓦时", "1"))])
    files = list((tmp_path / "invoices").glob("month=*/*.parquet"))
    assert [f.parent.name for f in files] == ["month=2024-03"]
    assert rawdata.schema_drift(str(files[0]), rawdata.INVOICES) == []


@pytest.mark.parametrize(
    ("code", "name", "unit", "qty", "reason"),
    [
        (ELEC, "*供电*电费", "桶", "3", "UNKNOWN_UNIT"),
        (ELEC, "*供电*电费", "吨", "3", "UNIT_NOT_CONVERTIBLE"),
        (KEROSENE, "*成品油*航空煤油", "升", "3", "UNIT_NEEDS_DENSITY"),
        (ELEC, "*供电*电费", "千瓦时", "", "MISSING_QUANTITY"),
        (ELEC, "*供电*电费", "", "5", "UNKNOWN_UNIT"),
        (GAS_UNKNOWN, "*燃气*管道天然气", "立方米", "5", "UNKNOWN_TAX_CODE"),
        (SERVICE, "*供电*电费", "千瓦时", "5", "TAX_CODE_NAME_MISMATCH"),
        (DIESEL, "*供电*电费", "吨", "5", "TAX_CODE_NAME_MISMATCH"),
        ("9000000000000000000", "*其他*杂项", "", "", "UNKNOWN_TAX_CODE"),
    ],
)
def test_unknown_codes_and_units_are_quarantined_never_guessed(
    ingestor: TaxCore, tmp_path: Path, code: str, name: str, unit: str, qty: str, reason: str
) -> None:
    response = ingestor.ingest(f"enterprises/{USCC}", "r1", [invoice(num(1), line(1, code, name, unit, qty))])
    assert [q.reason for q in response.quarantined] == [reason]
    assert "/" in response.quarantined[0].message  # Chinese / English
    assert response.energy_lines == 0 and rows(tmp_path).is_empty()
    listed = ingestor.list_quarantined(f"enterprises/{USCC}", 0, "")
    assert [(q.invoice_number, q.line_number, q.reason) for q in listed.lines] == [(num(1), 1, reason)]


def test_quarantined_line_is_released_when_accepted_later(ingestor: TaxCore) -> None:
    ingestor.ingest(f"enterprises/{USCC}", "r1", [invoice(num(1), line(1, ELEC, "*供电*电费", "桶", "3"))])
    ingestor.ingest(f"enterprises/{USCC}", "r2", [invoice(num(1), line(1, ELEC, "*供电*电费", "千瓦时", "3"))])
    assert not ingestor.list_quarantined(f"enterprises/{USCC}", 0, "").lines


def test_sales_give_revenue_and_non_energy_purchases_are_only_summed(ingestor: TaxCore, tmp_path: Path) -> None:
    response = ingestor.ingest(
        f"enterprises/{USCC}",
        "r1",
        [
            invoice(
                num(1),
                line(1, SERVICE, "*信息技术服务*软件维护", amount="300.00", tax="18.00"),
                line(2, "1060511990000000000", "*办公用品*纸", amount="50.50", tax="6.57"),
                line(3, ELEC, "*供电*电费", "千瓦时", "10", amount="8.00", tax="1.04"),
            ),
            invoice(
                num(2),
                line(1, "1090000000000000000", "*机械设备*泵", "台", "2", amount="9000.00", tax="1170.00"),
                seller=USCC,
                buyer=CUSTOMER,
            ),
        ],
    )
    assert (response.invoices, response.energy_lines, response.revenue_lines, response.non_energy_lines) == (2, 1, 1, 2)
    frame = rows(tmp_path)
    assert frame.height == 3  # electricity line, sale line, one aggregate
    aggregate = frame.filter(pl.col("energy_type") == "non_energy").row(0, named=True)
    assert aggregate["invoice_number"] == "" and aggregate["quantity"] is None
    assert aggregate["amount_cny"] == Decimal("350.50") and aggregate["tax_cny"] == Decimal("24.57")
    assert "纸" not in json.dumps(frame.to_dicts(), default=str)  # item names are not stored
    sale = frame.filter(pl.col("direction") == "sale").row(0, named=True)
    assert sale["energy_type"] is None and sale["quantity"] is None and sale["amount_cny"] == Decimal("9000.00")


def test_red_letter_invoice_reverses_the_referenced_lines(ingestor: TaxCore, tmp_path: Path) -> None:
    blue = invoice(
        num(1),
        line(1, ELEC, "*供电*电费", "千瓦时", "1000", "800.00", "104.00"),
        line(2, DIESEL, "*成品油*柴油", "吨", "2", "16000.00", "2080.00"),
    )
    ingestor.ingest(f"enterprises/{USCC}", "b", [blue])
    red = invoice(num(2), line(1, ELEC, "*供电*电费", "千瓦时", "-1000", "-800.00", "-104.00"), red_of=num(1))
    response = ingestor.ingest(f"enterprises/{USCC}", "r", [red])
    assert response.energy_lines == 1
    assert energy(tmp_path) == {"electricity": Decimal(0), "diesel": Decimal(2)}
    frame = rows(tmp_path).filter(pl.col("red_letter"))
    assert frame["original_invoice_number"].to_list() == [num(1)]
    assert frame["amount_cny"].sum() == Decimal("-800.00")


def test_red_letter_signs_and_reference_are_validated(ingestor: TaxCore) -> None:
    red = invoice(num(2), line(1, ELEC, "*供电*电费", "千瓦时", "1000", "800.00", "104.00"), red_of=num(1))
    red.original_invoice_number = ""
    with pytest.raises(ServiceError) as error:
        ingestor.ingest(f"enterprises/{USCC}", "r", [red])
    assert [f for f, _ in error.value.field_violations] == [
        "invoices[0].original_invoice_number",
        "invoices[0].lines[0].amount",
        "invoices[0].lines[0].quantity",
        "invoices[0].lines[0].tax_amount",
    ]


def test_retries_and_overlapping_batches_never_double_count(ingestor: TaxCore, tmp_path: Path) -> None:
    inv = invoice(num(1), line(1, ELEC, "*供电*电费", "千瓦时", "10"), line(2, SERVICE, "*服务*咨询"))
    first = ingestor.ingest(f"enterprises/{USCC}", "r1", [inv])
    again = ingestor.ingest(f"enterprises/{USCC}", "r1", [inv])
    assert again.replayed and not first.replayed and again.energy_lines == first.energy_lines == 1
    overlap = ingestor.ingest(
        f"enterprises/{USCC}", "r2", [inv, invoice(num(3), line(1, ELEC, "*供电*电费", "千瓦时", "5"))]
    )
    assert overlap.duplicate_lines == 2 and overlap.energy_lines == 1
    assert energy(tmp_path) == {"electricity": Decimal(15)}
    assert rows(tmp_path).filter(pl.col("energy_type") == "non_energy").height == 1
    changed = invoice(num(1), line(1, ELEC, "*供电*电费", "千瓦时", "11"))
    conflict = ingestor.ingest(f"enterprises/{USCC}", "r3", [changed])
    assert [q.reason for q in conflict.quarantined] == ["CONFLICTING_DUPLICATE"]
    with pytest.raises(ServiceError) as error:
        ingestor.ingest(f"enterprises/{USCC}", "r1", [changed])
    assert error.value.reason == "REQUEST_ID_REUSED"


def test_every_field_is_validated_and_named(ingestor: TaxCore) -> None:
    bad = invoice("12", line(0, "123", "", "x" * 30, "abc", "1.001", "2"), seller=STRANGER, buyer=SUPPLIER, t=5)
    bad.lines.append(line(0, ELEC, "*供电*电费", "千瓦时", "-1"))
    bad.kind = pb.Invoice.KIND_UNSPECIFIED
    with pytest.raises(ServiceError) as error:
        ingestor.ingest(f"enterprises/{USCC}", "r1", [bad])
    assert error.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in error.value.field_violations] == [
        "invoices[0].invoice_number",
        "invoices[0].issue_time",
        "invoices[0].buyer_uscc",
        "invoices[0].kind",
        "invoices[0].lines[0].line_number",
        "invoices[0].lines[0].tax_code",
        "invoices[0].lines[0].item_name",
        "invoices[0].lines[0].unit",
        "invoices[0].lines[0].quantity",
        "invoices[0].lines[0].amount",
        "invoices[0].lines[1].line_number",
        "invoices[0].lines[1].quantity",
    ]
    for parent, rid, field in ((f"enterprises/{USCC}", "", "request_id"), ("enterprises/123", "r", "parent")):
        with pytest.raises(ServiceError) as error:
            ingestor.ingest(parent, rid, [invoice(num(1), line(1, ELEC, "*供电*电费", "千瓦时", "1"))])
        assert error.value.field_violations[0][0] == field


def test_over_grpc_consent_refusal_and_drain(ingestor: TaxCore, tmp_path: Path, redis_url: str) -> None:
    settings = TaxSettings(redis_url=redis_url, data_dir=tmp_path, grpc_port=0, http_port=0)
    service = Service("ingest-tax", settings, register(ingestor))
    with in_process(service) as channel:
        stub = pb_grpc.TaxIngestionServiceStub(channel)
        request = pb.IngestInvoicesRequest(
            parent=f"enterprises/{STRANGER}",
            request_id="r1",
            invoices=[invoice(num(1), line(1, ELEC, "*供电*电费", "千瓦时", "1"), buyer=STRANGER)],
        )
        error = rpc_error(lambda: stub.IngestInvoices(request))
        assert error.code == grpc.StatusCode.PERMISSION_DENIED and error.reason == "CONSENT_REQUIRED"
        assert error.metadata["scope"] == "CONSENT_SCOPE_TAX_INVOICES"
        redis.Redis.from_url(redis_url).set("carbon:ingest:drain", "1")
        request.parent = f"enterprises/{USCC}"
        request.invoices[0].buyer_uscc = USCC
        error = rpc_error(lambda: stub.IngestInvoices(request))
        assert error.code == grpc.StatusCode.UNAVAILABLE and error.reason == "INGESTION_DRAINED"
        redis.Redis.from_url(redis_url).delete("carbon:ingest:drain")
        assert stub.IngestInvoices(request).energy_lines == 1
        bad = pb.IngestInvoicesRequest(parent=f"enterprises/{USCC}", request_id="r2", invoices=[pb.Invoice()])
        error = rpc_error(lambda: stub.IngestInvoices(bad))
        assert error.code == grpc.StatusCode.INVALID_ARGUMENT and error.field_violations


UPLOAD_SECRET = "upload-test-secret"

CSV_HEADER = (
    "发票号码,开票日期,销方识别号,销方名称,购方识别号,购方名称,税收分类编码,"
    "货物或应税劳务名称,规格型号,单位,数量,单价,金额,税率,税额,发票状态,蓝字发票号码\n"
)


def csv_file(*lines: str) -> bytes:
    return (CSV_HEADER + "".join(x + "\n" for x in lines)).encode("utf-8-sig")


def portal_app(ingestor: TaxCore) -> FastAPI:
    return create_http_app(
        ingestor, 1 << 20, "Asia/Shanghai", ServiceVerifier("ingest-tax", UPLOAD_SECRET, ingestor.store.redis)
    )


def portal_identity(secret: str = UPLOAD_SECRET) -> dict[str, str]:
    """A fresh (one-use) identity of the upload portal calling ingest-tax."""
    return {SERVICE_HEADER: "upload-portal", TOKEN_HEADER: sign_service_token("upload-portal", "ingest-tax", secret)}


@pytest.fixture
def http(ingestor: TaxCore) -> TestClient:
    client = TestClient(portal_app(ingestor))
    client.event_hooks = {"request": [lambda request: request.headers.update(portal_identity())], "response": []}
    return client


def test_rest_upload_requires_the_platform_portal_identity(ingestor: TaxCore) -> None:
    anonymous = TestClient(portal_app(ingestor))
    files = {"file": ("invoices.csv", csv_file(), "text/csv")}
    response = anonymous.post(f"/v1/enterprises/{USCC}/invoiceUploads", files=files, headers={"Idempotency-Key": "a"})
    assert response.status_code == 401
    assert response.json()["error"]["details"][0]["reason"] == "UNAUTHENTICATED_SERVICE"
    for headers in (portal_identity("wrong-secret"), {**portal_identity(), SERVICE_HEADER: "intruder"}):
        response = anonymous.post(
            f"/v1/enterprises/{USCC}/invoiceUploads", files=files, headers={"Idempotency-Key": "a", **headers}
        )
        assert response.status_code == 401
    # A token is good for one request: the same headers again are a replay.
    once = portal_identity()
    first = anonymous.post(
        f"/v1/enterprises/{USCC}/invoiceUploads", files=files, headers={"Idempotency-Key": "b", **once}
    )
    assert first.status_code == 400, first.text  # past identity: the empty file is the client's mistake
    replay = anonymous.post(
        f"/v1/enterprises/{USCC}/invoiceUploads", files=files, headers={"Idempotency-Key": "c", **once}
    )
    assert replay.status_code == 401
    assert "already used" in replay.json()["error"]["message"]


def test_rest_csv_upload(http: TestClient, tmp_path: Path) -> None:
    body = csv_file(
        f"{num(1)},2024-03-05 10:00:00,{SUPPLIER},国网某供电公司,{USCC},某厂,{ELEC},*供电*电费,,千瓦时,1000,0.8,"
        "800.00,13%,104.00,正常,",
        f"{num(1)},2024-03-05 10:00:00,{SUPPLIER},国网某供电公司,{USCC},某厂,{SERVICE},*服务*费,,,,,"
        "50.00,6%,3.00,正常,",
        f"{num(2)},2024-03-06,{SUPPLIER},国网某供电公司,{USCC},某厂,{ELEC},*供电*电费,,千瓦时,-200,0.8,-160.00,13%,-20.80,红字,{num(1)}",
        f"{num(3)},2024-03-07,{USCC},某厂,{CUSTOMER},客户,1090000000000000000,*机械设备*泵,,台,1,500,500.00,13%,65.00,正常,",
        f"{num(4)},2024-03-07,{SUPPLIER},x,{USCC},某厂,{ELEC},*供电*电费,,千瓦时,1,1,1.00,13%,0.13,作废,",
    )
    files = {"file": ("发票.csv", body, "text/csv")}
    response = http.post(f"/v1/enterprises/{USCC}/invoiceUploads", files=files, headers={"Idempotency-Key": "u1"})
    assert response.status_code == 200, response.text
    data = response.json()
    assert (data["invoices"], data["energy_lines"], data["revenue_lines"], data["non_energy_lines"]) == (3, 2, 1, 1)
    assert data["skipped_void_rows"] == 1 and data["replayed"] is False
    assert energy(tmp_path) == {"electricity": Decimal(800)}
    again = http.post(f"/v1/enterprises/{USCC}/invoiceUploads", files=files, headers={"Idempotency-Key": "u1"})
    assert again.json()["replayed"] is True


def test_rest_xlsx_upload_and_errors_name_the_cell(http: TestClient, tmp_path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(CSV_HEADER.strip().split(","))
    sheet.append(
        [
            num(1),
            datetime(2024, 3, 5, 10),
            SUPPLIER,
            "供电",
            USCC,
            "厂",
            ELEC,
            "*供电*电费",
            "",
            "万千瓦时",
            0.5,
            None,
            4000,
            "13%",
            520,
            "正常",
            None,
        ]
    )
    buffer = io.BytesIO()
    book.save(buffer)
    files = {"file": ("list.xlsx", buffer.getvalue(), "application/octet-stream")}
    response = http.post(f"/v1/enterprises/{USCC}/invoiceUploads", files=files, headers={"Idempotency-Key": "x1"})
    assert response.status_code == 200, response.text
    assert energy(tmp_path) == {"electricity": Decimal(5000)}
    missing = http.post(f"/v1/enterprises/{USCC}/invoiceUploads", files=files)
    assert missing.status_code == 400
    assert missing.json()["error"]["details"][1]["fieldViolations"][0]["field"] == "Idempotency-Key"
    bad = csv_file(
        f"{num(5)},2024-03-05,{SUPPLIER},x,{USCC},y,{ELEC},*供电*电费,,千瓦时,abc,,10.00,13%,1.30,正常,",
        f"{num(6)},2024-03-05,{SUPPLIER},x,{USCC},y,{ELEC},*供电*电费,,千瓦时,-1,,10.00,13%,1.30,正常,",
    )
    response = http.post(
        f"/v1/enterprises/{USCC}/invoiceUploads",
        files={"file": ("a.csv", bad, "text/csv")},
        headers={"Idempotency-Key": "x2"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["details"][1]["fieldViolations"][0]["field"] == "rows[2].数量"
    bad = csv_file(f"{num(6)},2024-03-05,{SUPPLIER},x,{USCC},y,{ELEC},*供电*电费,,千瓦时,-1,,10.00,13%,1.30,正常,")
    response = http.post(
        f"/v1/enterprises/{USCC}/invoiceUploads",
        files={"file": ("a.csv", bad, "text/csv")},
        headers={"Idempotency-Key": "x3"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["details"][1]["fieldViolations"][0]["field"] == "rows[2].数量"
    refused = http.post(f"/v1/enterprises/{STRANGER}/invoiceUploads", files=files, headers={"Idempotency-Key": "x4"})
    assert refused.status_code in (400, 403)


def test_erasure_and_compaction(ingestor: TaxCore, tmp_path: Path, redis_url: str) -> None:
    ingestor.gate = AllowList((USCC, SCOPE), (CUSTOMER, SCOPE))
    ingestor.ingest(f"enterprises/{USCC}", "a", [invoice(num(1), line(1, ELEC, "*供电*电费", "千瓦时", "1"))])
    ingestor.ingest(
        f"enterprises/{USCC}",
        "b",
        [invoice(num(2), line(1, ELEC, "*供电*电费", "千瓦时", "2"), line(2, SERVICE, "*服务*x"))],
    )
    ingestor.ingest(
        f"enterprises/{CUSTOMER}", "c", [invoice(num(3), line(1, ELEC, "*供电*电费", "千瓦时", "3"), buyer=CUSTOMER)]
    )
    assert ingestor.compact() == 3
    assert len(list((tmp_path / "invoices").glob("month=*/*.parquet"))) == 1
    assert rows(tmp_path).height == 4
    client = redis.Redis.from_url(redis_url)
    client.xgroup_create(ERASURE_STREAM, "ingest-tax", id="0", mkstream=True)
    client.xadd(ERASURE_STREAM, {"uscc": USCC, "request_id": "e1"})
    entry_id, fields = client.xreadgroup("ingest-tax", "t", {ERASURE_STREAM: ">"})[0][1][0]
    handle_erasure(client, "ingest-tax", ingestor.erase, entry_id, fields)
    report = json.loads(client.hget("carbon:erasure:e1", "ingest-tax"))
    assert report["rows_deleted"] == 3 and report["files_rewritten"] == 1
    assert set(rows(tmp_path)["uscc"]) == {CUSTOMER}


def test_mapping_table_rows_all_have_sources() -> None:
    tables = Tables()
    assert all(row.source for row in tables.rows)
    assert tables.units.density("diesel", "tax") is not None
