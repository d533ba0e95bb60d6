"""Book uploads: Excel like CSV (row-level errors by sheet row and column, never half-applied), and the
upload route's own body bound (a 49,000-position book uploads; other requests keep the 1 MiB bound)."""

from __future__ import annotations

import io
from datetime import date

from carbon_common import limits
from carbon_common.http import install_error_handlers
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from openpyxl import Workbook

from tests.portfolio.world import E1, E2, E3, GOOD_CSV, auth, upload
from tests.pricing.support import uscc

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
COLUMNS = [
    "position_id",
    "enterprise",
    "product",
    "outstanding_cny",
    "drawn_date",
    "equity_plus_debt_cny",
    "listed",
    "evic_cny",
    "revenue_cny",
    "industry_code",
    "region_code",
]


def workbook(rows: list[list[object]]) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(COLUMNS)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


# GOOD_CSV's three positions as a spreadsheet would hold them: numbers as numbers, a date cell, a boolean.
GOOD_ROWS: list[list[object]] = [
    ["L1", f"enterprises/{E1}", "loan", 2000000, None, 50000000.0, False, None, None, "C3011", "330000"],
    ["L2", E2, "loan", 500000.00, None, 10000000, "false", None, None, "C3011", 330000],
    ["L3", E3, "loan", 1000000, None, 4000000, True, 8000000, 30000000, "C3011", "510000"],
]


def xlsx_upload(http: TestClient, data: bytes, snapshot: str = "2024-12-31", key: str = "ck_b1"):  # type: ignore[no-untyped-def]
    return http.post(
        "/v1/banks/b1/books/main/snapshots:upload",
        params={"snapshotId": snapshot},
        content=data,
        headers={**auth(key), "Content-Type": XLSX},
    )


def violations(response) -> set[str]:  # type: ignore[no-untyped-def]
    return {
        v["field"] for d in response.json()["error"]["details"] if "fieldViolations" in d for v in d["fieldViolations"]
    }


def test_excel_upload_is_the_same_book_as_the_csv(http: TestClient) -> None:
    created = xlsx_upload(http, workbook(GOOD_ROWS))
    assert created.status_code == 201, created.text
    assert created.json()["positionCount"] == 3 and created.json()["outstandingCny"] == "3500000.00"
    # the same positions from the CSV are the same snapshot (same digest): a replay, not a conflict
    replay = upload(http, GOOD_CSV)
    assert replay.status_code == 200 and replay.headers["X-Idempotent-Replay"] == "true"
    assert replay.json()["digest"] == created.json()["digest"]
    figures = http.get(
        "/v1/banks/b1/books/main/snapshots/2024-12-31:financedEmissions",
        params={"reportingPeriod": "2024", "includePositions": "false"},
        headers=auth("ck_b1"),
    ).json()
    assert figures["financedTco2"] == "7615.000000"  # 40 + 450 + 7,125 (test_loan_book_api)


def test_excel_dates_and_exact_decimals(http: TestClient) -> None:
    rows = [["D1", E1, "loan", 1234.56, date(2024, 3, 1), 5000000.005, False, None, None, "C3011", "330000"]]
    # a third decimal in a number cell is refused (fen), not silently rounded
    refused = xlsx_upload(http, workbook(rows))
    assert refused.status_code == 400 and violations(refused) == {"row 2: equity_plus_debt_cny"}
    rows[0][5] = 5000000
    created = xlsx_upload(http, workbook(rows))
    assert created.status_code == 201, created.text
    got = http.get(
        "/v1/banks/b1/books/main/snapshots/2024-12-31", params={"includePositions": "true"}, headers=auth("ck_b1")
    )
    position = got.json()["positions"][0]
    assert (position["outstanding_cny"], position["drawn_date"]) == ("1234.56", "2024-03-01")


def test_excel_bad_rows_by_sheet_row_and_nothing_stored(http: TestClient) -> None:
    rows = [
        GOOD_ROWS[0],
        [None] * len(COLUMNS),  # a blank sheet row 3 is skipped but keeps the numbering
        ["L4", E1, "loan", -5, None, 100, False, None, None, "C3011", "330000"],
        ["L1", E1, "loan", "1.001", None, 100, "maybe", None, None, "cement", "33"],
    ]
    response = xlsx_upload(http, workbook(rows))
    assert response.status_code == 400, response.text
    fields = violations(response)
    assert {"row 4: outstanding_cny", "row 5: position_id", "row 5: outstanding_cny", "row 5: listed"} <= fields
    assert {"row 5: industry_code", "row 5: region_code"} <= fields
    assert not any(f.startswith(("row 2", "row 3")) for f in fields)
    assert http.get("/v1/banks/b1/books/main/snapshots/2024-12-31", headers=auth("ck_b1")).status_code == 404


def test_excel_structure_errors_are_client_errors(http: TestClient) -> None:
    broken = xlsx_upload(http, b"PK\x03\x04" + b"\x00" * 200)
    assert broken.status_code == 400 and "readable .xlsx" in broken.text
    book = Workbook()
    book.active.append(["position_id", "secret"])
    buffer = io.BytesIO()
    book.save(buffer)
    unknown = xlsx_upload(http, buffer.getvalue())
    assert unknown.status_code == 400 and "unknown column" in unknown.text
    wide = workbook([[*GOOD_ROWS[0], "extra"]])
    assert violations(xlsx_upload(http, wide)) == {"row 2"}
    assert xlsx_upload(http, workbook(GOOD_ROWS), key="ck_b2").status_code == 403  # tenancy before parsing


def test_a_49000_position_book_uploads_and_json_keeps_the_small_bound(http: TestClient) -> None:
    lines = [
        "position_id,enterprise,product,outstanding_cny,equity_plus_debt_cny,listed,evic_cny,revenue_cny,"
        "industry_code,region_code"
    ]
    lines += [f"P{i},{uscc(i)},loan,1000000.00,20000000.00,false,,,C3011,330000" for i in range(49_000)]
    data = "\n".join(lines).encode()
    assert len(data) > 3 * 1024 * 1024  # well over the app-wide 1 MiB bound
    created = upload(http, data)
    assert created.status_code == 201, created.text[:300]
    assert created.json()["positionCount"] == 49_000 and created.json()["outstandingCny"] == "49000000000.00"
    # other routes keep the app-wide bound: a JSON body over 1 MiB is refused before it is read
    big_json = b'{"positions": [' + b" " * (1024 * 1024 + 10) + b"]}"
    refused = http.post(
        "/v1/banks/b1/books/main/snapshots",
        params={"snapshotId": "2025-01-31"},
        content=big_json,
        headers={**auth("ck_b1"), "Content-Type": "application/json"},
    )
    assert refused.status_code == 413 and refused.json()["error"]["details"][0]["reason"] == "BODY_TOO_LARGE"


def test_upload_bound_is_in_the_openapi_document(http: TestClient) -> None:
    operation = http.app.openapi()["paths"]["/v1/banks/{bank}/books/{book}/snapshots:upload"]["post"]  # type: ignore[attr-defined]
    bound = limits.current().max_upload_bytes
    content = operation["requestBody"]["content"]
    assert content["text/csv"]["schema"]["maxLength"] == bound == content[XLSX]["schema"]["maxLength"]
    assert f"up to {bound} bytes" in operation["description"] and "413" in operation["responses"]


def test_route_body_limits_bound_only_their_routes() -> None:
    app = FastAPI()
    install_error_handlers(app, max_body_bytes=1000, route_body_limits={r"/big/[a-z]+": 5000})

    @app.post("/big/{name}")
    @app.post("/small")
    async def sink(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    client = TestClient(app)
    assert client.post("/big/upload", content=b"x" * 4000).json() == {"bytes": 4000}
    assert client.post("/big/upload", content=b"x" * 6000).status_code == 413
    assert client.post("/small", content=b"x" * 4000).status_code == 413
    assert client.post("/big/a/b", content=b"x" * 4000).status_code == 413  # full match only

    def chunks():  # no content-length: counted while streamed
        for _ in range(6):
            yield b"x" * 1000

    assert client.post("/big/upload", content=chunks()).status_code == 413
