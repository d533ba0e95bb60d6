"""Loan book over REST and gRPC: CSV upload all-or-nothing, tenant isolation, consent per period.

Real Redis and a real gRPC server (carbon_common.server); consent decisions by the consent rule
itself (carbon_consent.domain.decide over consent records); accounts from a directory that
records which enterprises were read.
"""

from __future__ import annotations

import csv
import io

import grpc
import pytest
from carbon.v1 import portfolio_pb2, portfolio_pb2_grpc
from fastapi.testclient import TestClient
from google.rpc import error_details_pb2, status_pb2

from tests.portfolio.world import E1, E2, GOOD_CSV, HEADER, Directory, auth, upload


def test_csv_upload_and_financed_emissions_follow_consent(http: TestClient, directory: Directory):
    created = upload(http, GOOD_CSV)
    assert created.status_code == 201, created.text
    assert created.json()["positionCount"] == 3 and created.json()["outstandingCny"] == "3500000.00"
    name = "banks/b1/books/main/snapshots/2024-12-31"
    assert created.json()["name"] == name

    got = http.get(f"/v1/{name}:financedEmissions", params={"reportingPeriod": "2024"}, headers=auth("ck_b1"))
    assert got.status_code == 200, got.text
    body = got.json()
    by_id = {p["positionId"]: p for p in body["positionEmissions"]}
    # L1: consent covers 2024 -> account 1,000 t x 2/50 = 40 t (PCAF 2a, score 2); reduction 50 x 0.04 = 2
    assert (by_id["L1"]["method"], by_id["L1"]["financedTco2"], by_id["L1"]["dataQualityScore"]) == (
        "ACCOUNT",
        "40.000000",
        2,
    )
    assert by_id["L1"]["attributableReductionTco2"] == "2.000000"
    # L2: window 2023 only -> asset estimate 10 MCNY x 900 = 9,000 t x 0.05 = 450 t (3b, score 5)
    assert (by_id["L2"]["method"], by_id["L2"]["consentReason"], by_id["L2"]["financedTco2"]) == (
        "ASSET_ESTIMATE",
        "CONSENT_DATA_WINDOW",
        "450.000000",
    )
    assert by_id["L2"]["accountDigest"] == "" and by_id["L2"]["dataQualityScore"] == 5
    # L3: b2's consent does not count for b1 -> revenue 30 MCNY x 1,900 = 57,000 t x 1/8 (EVIC) = 7,125 t (3a, 4)
    assert (by_id["L3"]["method"], by_id["L3"]["consentReason"], by_id["L3"]["financedTco2"]) == (
        "REVENUE_ESTIMATE",
        "CONSENT_REQUIRED",
        "7125.000000",
    )
    # total 40 + 450 + 7,125 = 7,615 t over 3.5 MCNY = 2,175.714285714 -> 2175.714286 t/MCNY
    assert (body["financedTco2"], body["economicIntensity"]) == ("7615.000000", "2175.714286")
    # score (2x2 + 0.5x5 + 1x4) / 3.5 = 10.5 / 3.5 = 3.00
    assert body["weightedDataQualityScore"] == "3.00"
    assert body["benchmarkVersion"] == "test-bench-v1" and body["fromAccounts"] == 1 and body["estimated"] == 2
    # only the consented enterprise's account was read
    assert directory.read == [E1]


def test_bad_rows_are_reported_by_row_and_field_and_nothing_is_stored(http: TestClient):
    bad = (
        GOOD_CSV
        + f"\nL4,{E1},loan,-5,100.00,false,,,C3011,330000\nL1,{E1},loan,1.001,100.00,maybe,,,cement,33".encode()
    )
    response = upload(http, bad)
    assert response.status_code == 400, response.text
    violations = {
        (v["field"], v["description"][:20])
        for d in response.json()["error"]["details"]
        if "fieldViolations" in d
        for v in d["fieldViolations"]
    }
    fields = {f for f, _ in violations}
    assert {"row 5: outstanding_cny", "row 6: position_id", "row 6: outstanding_cny", "row 6: listed"} <= fields
    assert {"row 6: industry_code", "row 6: region_code"} <= fields
    missing = http.get("/v1/banks/b1/books/main/snapshots/2024-12-31", headers=auth("ck_b1"))
    assert missing.status_code == 404


def test_unknown_columns_and_oversized_cells_are_refused(http: TestClient):
    assert upload(http, b"position_id,secret\n1,2\n").status_code == 400
    huge = GOOD_CSV + f"\nL9,{E1},loan,{'9' * 5000},100.00,false,,,C3011,330000".encode()
    response = upload(http, huge)
    assert response.status_code == 400
    assert len(response.text) < 2000  # never echoes the value back


def test_tenant_isolation_over_rest(http: TestClient):
    assert upload(http, GOOD_CSV).status_code == 201
    name = "/v1/banks/b1/books/main/snapshots/2024-12-31"
    for path in (name, f"{name}:financedEmissions?reportingPeriod=2024"):
        other = http.get(path, headers=auth("ck_b2"))
        assert other.status_code == 403 and other.json()["error"]["details"][0]["reason"] == "CROSS_TENANT"
        assert http.get(path).status_code == 401
    # b2 cannot write into b1's books either; nothing is stored
    assert upload(http, GOOD_CSV, bank="b1", key="ck_b2", snapshot="2025-01-31").status_code == 403
    assert http.get("/v1/banks/b1/books/main/snapshots/2025-01-31", headers=auth("ck_b1")).status_code == 404
    # b2's own book of the same name is a different resource
    assert http.get("/v1/banks/b2/books/main/snapshots/2024-12-31", headers=auth("ck_b2")).status_code == 404


def test_snapshots_are_immutable(http: TestClient):
    assert upload(http, GOOD_CSV).status_code == 201
    replay = upload(http, GOOD_CSV)
    assert replay.status_code == 200 and replay.headers["X-Idempotent-Replay"] == "true"
    changed = upload(http, GOOD_CSV.replace(b"2000000.00", b"2000001.00"))
    assert changed.status_code == 409


def _status(error: grpc.RpcError) -> tuple[str, list[str]]:
    status = status_pb2.Status()
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status.ParseFromString(value)
    reasons = []
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            reasons.append(info.reason)
    return error.code().name, reasons


def _position(pid: str, enterprise: str, outstanding: str, denominator: str) -> portfolio_pb2.BookPosition:
    from google.type import decimal_pb2

    return portfolio_pb2.BookPosition(
        position_id=pid,
        enterprise=f"enterprises/{enterprise}",
        product="loan",
        outstanding_cny=decimal_pb2.Decimal(value=outstanding),
        equity_plus_debt_cny=decimal_pb2.Decimal(value=denominator),
        industry_code="C3011",
        region_code="330000",
    )


def test_grpc_snapshot_financed_emissions_and_isolation(stub: portfolio_pb2_grpc.LoanBookServiceStub):
    b1 = (("authorization", "Bearer ck_b1"),)
    b2 = (("authorization", "Bearer ck_b2"),)
    snapshot = portfolio_pb2.BookSnapshot(
        positions=[_position("G1", E1, "1000000.00", "4000000.00"), _position("G2", E2, "500000.00", "10000000.00")]
    )
    created = stub.CreateBookSnapshot(
        portfolio_pb2.CreateBookSnapshotRequest(parent="banks/b1/books/g", snapshot_id="2024-06-30", snapshot=snapshot),
        metadata=b1,
    )
    assert created.name == "banks/b1/books/g/snapshots/2024-06-30" and created.position_count == 2
    result = stub.ComputeFinancedEmissions(
        portfolio_pb2.ComputeFinancedEmissionsRequest(name=created.name, reporting_period="2024"), metadata=b1
    )
    by_id = {p.position_id: p for p in result.position_emissions}
    Method = portfolio_pb2.PositionEmissions.Method
    # G1: 1,000 t x 1/4 = 250 t from the account; G2: window misses 2024 -> 9,000 t x 0.05 = 450 t estimated
    assert (by_id["G1"].method, by_id["G1"].financed_tco2.value) == (Method.METHOD_ACCOUNT, "250.000000")
    assert (by_id["G2"].method, by_id["G2"].consent_reason, by_id["G2"].financed_tco2.value) == (
        Method.METHOD_ASSET_ESTIMATE,
        "CONSENT_DATA_WINDOW",
        "450.000000",
    )
    assert result.financed_tco2.value == "700.000000"
    # grades only with RATING consent: E1 (grade 5) yes, E2 no -> UNRATED; high-carbon = G1 only
    (grades,) = result.by_grade
    assert {b.key: b.financed_tco2.value for b in grades.buckets} == {"5": "250.000000", "UNRATED": "450.000000"}
    assert result.high_carbon_outstanding_cny.value == "1000000.00"

    for call, request in (
        (stub.GetBookSnapshot, portfolio_pb2.GetBookSnapshotRequest(name=created.name)),
        (
            stub.ComputeFinancedEmissions,
            portfolio_pb2.ComputeFinancedEmissionsRequest(name=created.name, reporting_period="2024"),
        ),
        (
            stub.CreateBookSnapshot,
            portfolio_pb2.CreateBookSnapshotRequest(
                parent="banks/b1/books/g", snapshot_id="2024-07-31", snapshot=snapshot
            ),
        ),
    ):
        with pytest.raises(grpc.RpcError) as denied:
            call(request, metadata=b2)
        assert _status(denied.value) == ("PERMISSION_DENIED", ["CROSS_TENANT"])
        with pytest.raises(grpc.RpcError) as anonymous:
            call(request)
        assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED

    bad = portfolio_pb2.BookSnapshot(positions=[_position("X1", E1, "1.001", "0")])
    with pytest.raises(grpc.RpcError) as invalid:
        stub.CreateBookSnapshot(
            portfolio_pb2.CreateBookSnapshotRequest(parent="banks/b1/books/g", snapshot_id="2024-08-31", snapshot=bad),
            metadata=b1,
        )
    assert _status(invalid.value) == ("INVALID_ARGUMENT", ["INVALID_BOOK"])


def test_year_on_year_against_an_earlier_snapshot(http: TestClient, stub: portfolio_pb2_grpc.LoanBookServiceStub):
    earlier = "\n".join([HEADER, f"L1,{E1},loan,2000000.00,50000000.00,false,,,C3011,330000"]).encode()
    assert upload(http, earlier, snapshot="2023-12-31").status_code == 201
    assert upload(http, GOOD_CSV).status_code == 201
    name = "banks/b1/books/main/snapshots/2024-12-31"
    previous = "banks/b1/books/main/snapshots/2023-12-31"
    got = http.get(
        f"/v1/{name}:financedEmissions",
        params={"reportingPeriod": "2024", "compareSnapshot": previous, "includePositions": "false"},
        headers=auth("ck_b1"),
    )
    assert got.status_code == 200, got.text
    yoy = got.json()["yearOnYear"]
    # 2023: E1's window is 2024 only -> asset estimate 50 MCNY x 900 = 45,000 t x 0.04 = 1,800 t;
    # over 2 MCNY = 900 t/MCNY
    assert (yoy["previousPeriod"], yoy["previousFinancedTco2"], yoy["previousEconomicIntensity"]) == (
        "2023",
        "1800.000000",
        "900.000000",
    )
    # 7,615 - 1,800 = 5,815 t; 5,815 / 1,800 = 3.2305555... -> 3.230556
    assert (yoy["financedChangeTco2"], yoy["financedChangeRatio"]) == ("5815.000000", "3.230556")
    # 2,175.714286 - 900 = 1,275.714286; / 900 = 1.41746031... -> 1.417460
    assert (yoy["economicIntensityChange"], yoy["economicIntensityChangeRatio"]) == ("1275.714286", "1.417460")

    result = stub.ComputeFinancedEmissions(
        portfolio_pb2.ComputeFinancedEmissionsRequest(name=name, reporting_period="2024", compare_snapshot=previous),
        metadata=(("authorization", "Bearer ck_b1"),),
    )
    assert result.year_on_year.financed_change_ratio.value == "3.230556"
    # another bank's snapshot cannot be the comparison
    other = http.get(
        f"/v1/{name}:financedEmissions",
        params={"reportingPeriod": "2024", "compareSnapshot": "banks/b2/books/main/snapshots/2023-12-31"},
        headers=auth("ck_b1"),
    )
    assert other.status_code == 403


def test_positions_export_csv(http: TestClient):
    assert upload(http, GOOD_CSV).status_code == 201
    name = "banks/b1/books/main/snapshots/2024-12-31"
    got = http.get(f"/v1/{name}:exportPositions", params={"reportingPeriod": "2024"}, headers=auth("ck_b1"))
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(got.text)))
    by_id = {r["position_id"]: r for r in rows}
    assert (by_id["L1"]["financed_tco2"], by_id["L1"]["pcaf_option"], by_id["L1"]["account_digest"]) == (
        "40.000000",
        "2a",
        f"sha256:{E1[-3:]}",
    )
    assert (by_id["L2"]["estimated"], by_id["L2"]["consent_reason"], by_id["L2"]["benchmark_version"]) == (
        "true",
        "CONSENT_DATA_WINDOW",
        "test-bench-v1",
    )
    assert by_id["L3"]["attribution_denominator_cny"] == "8000000.00"  # EVIC of the listed borrower
    assert {r["reporting_period"] for r in rows} == {"2024"}
    assert (
        http.get(f"/v1/{name}:exportPositions", params={"reportingPeriod": "2024"}, headers=auth("ck_b2")).status_code
        == 403
    )
