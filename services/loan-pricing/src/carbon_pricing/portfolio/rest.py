"""REST edge of the loan book (one router):

    POST /v1/banks/{bank}/books/{book}/snapshots?snapshotId=YYYY-MM-DD          JSON positions
    POST /v1/banks/{bank}/books/{book}/snapshots:upload?snapshotId=YYYY-MM-DD   CSV body (text/csv)
    GET  /v1/banks/{bank}/books/{book}/snapshots/{snapshot}
    GET  /v1/banks/{bank}/books/{book}/snapshots/{snapshot}:financedEmissions?reportingPeriod=YYYY

Bank API key as `Authorization: Bearer`, checked before any input is validated; errors in the
platform's JSON shape. Request bodies are bounded by the service's body limit (carbon_common.http).
"""

from __future__ import annotations

from typing import Annotated, Any

import anyio.to_thread
from carbon_common import limits
from carbon_common.errors import invalid_argument
from carbon_common.http import IdPath, bank_api_key, error_responses, security
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from carbon_pricing.portfolio.book import COLUMNS, parse_csv
from carbon_pricing.portfolio.core import LoanBookCore, financed_doc, positions_csv
from carbon_pricing.portfolio.domain import EstimateReason, Method

BANK = "bankApiKey"
ERRORS = error_responses(400, 401, 403, 404, 409, 413, 429, 503)
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


Key = Annotated[str, Depends(bank_api_key)]
SnapshotId = Annotated[
    str, Query(alias="snapshotId", min_length=10, max_length=10, pattern=DATE_PATTERN, description="YYYY-MM-DD")
]
SnapshotPath = Annotated[str, Path(min_length=10, max_length=10, pattern=DATE_PATTERN, description="YYYY-MM-DD")]
Year = Annotated[str, Query(alias="reportingPeriod", min_length=4, max_length=4, pattern=r"^[0-9]{4}$")]
Flag = Annotated[bool, Query(alias="includePositions")]
CompareName = Annotated[
    str, Query(alias="compareSnapshot", max_length=256, description="An earlier snapshot of the bank (year on year)")
]
CompareYear = Annotated[str, Query(alias="comparePeriod", max_length=4, pattern=r"^([0-9]{4})?$")]


class PositionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    position_id: str = Field(max_length=64)
    enterprise: str = Field(max_length=256, description="enterprises/{uscc} or the bare USCC")
    product: str = Field(max_length=64)
    outstanding_cny: str = Field(max_length=64, description="CNY, at most 2 decimals")
    drawn_date: str = Field(default="", max_length=10)
    maturity_date: str = Field(default="", max_length=10)
    equity_plus_debt_cny: str = Field(max_length=64)
    listed: bool = False
    evic_cny: str = Field(default="", max_length=64)
    revenue_cny: str = Field(default="", max_length=64)
    industry_code: str = Field(max_length=16)
    region_code: str = Field(max_length=16)


class SnapshotIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    positions: list[PositionIn] = Field(max_length=100_000)


class SnapshotOut(BaseModel):  # JSON names as the proto's JSON names
    name: str
    positionCount: int
    outstandingCny: str
    digest: str
    createTime: str
    positions: list[PositionIn] | None = Field(
        default=None, description="The stored rows as sent (snake_case field names, as in the request)"
    )


class Bucket(BaseModel):
    key: str
    positions: int
    outstandingCny: str
    financedTco2: str | None
    intensity: str | None


class PositionOut(BaseModel):
    positionId: str
    enterprise: str
    attributionFactor: str | None
    attributionCapped: bool
    method: Method
    estimated: bool
    estimateReason: EstimateReason
    consentReason: str
    consent: str
    pcafOption: str
    dataQualityScore: int | None
    borrowerScope12Tco2: str | None
    financedTco2: str | None
    attributableReductionTco2: str | None
    accountDigest: str
    factorSetVersion: str
    benchmarkVersion: str


class YearOnYearOut(BaseModel):
    previousSnapshot: str
    previousPeriod: str
    previousFinancedTco2: str | None
    previousEconomicIntensity: str | None
    financedChangeTco2: str | None
    financedChangeRatio: str | None
    economicIntensityChange: str | None
    economicIntensityChangeRatio: str | None


class FinancedOut(BaseModel):
    snapshot: str
    reportingPeriod: str
    positions: int
    covered: int
    fromAccounts: int
    estimated: int
    outstandingCny: str
    financedTco2: str | None
    economicIntensity: str | None
    weightedDataQualityScore: str | None
    attributableReductionTco2: str | None
    byIndustry: list[Bucket]
    byRegion: list[Bucket]
    pcafTableVersion: str
    benchmarkVersion: str
    benchmarkIllustrative: bool
    positionEmissions: list[PositionOut] | None = None
    yearOnYear: YearOnYearOut | None = None


def _rows(body: SnapshotIn) -> list[dict[str, str]]:
    rows = []
    for p in body.positions:
        doc = p.model_dump()
        doc["listed"] = "true" if p.listed else "false"
        rows.append({k: str(doc.get(k, "")) for k in COLUMNS})
    return rows


CREATED = {**ERRORS, 200: {"model": SnapshotOut, "description": "The same rows again: the stored snapshot"}}


def router(core: LoanBookCore) -> APIRouter:
    api = APIRouter(prefix="/v1/banks/{bank}/books/{book}", tags=["loan books"])

    @api.post(
        "/snapshots",
        status_code=201,
        response_model=SnapshotOut,
        responses=CREATED,
        summary="Create a book snapshot from JSON positions (all or none)",
        openapi_extra=security(BANK),
    )
    def create(bank: IdPath, book: IdPath, key: Key, body: SnapshotIn, snapshot_id: SnapshotId) -> JSONResponse:
        doc, created = core.create_snapshot(key, f"banks/{bank}/books/{book}", snapshot_id, _rows(body))
        return _snapshot_response(doc, created)

    @api.post(
        "/snapshots:upload",
        status_code=201,
        response_model=SnapshotOut,
        responses=CREATED,
        summary="Create a book snapshot from a CSV upload (errors by row and column; all or none)",
        openapi_extra={
            "requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}},
            **security(BANK),
        },
    )
    async def upload(request: Request, bank: IdPath, book: IdPath, key: Key, snapshot_id: SnapshotId) -> JSONResponse:
        cap = limits.current().max_upload_bytes
        data = bytearray()
        async for chunk in request.stream():
            data.extend(chunk)
            if len(data) > cap:
                raise invalid_argument("file", f"larger than {cap} bytes", reason="UPLOAD_TOO_LARGE")

        def work() -> tuple[dict[str, Any], bool]:
            core.check_parent(key, f"banks/{bank}/books/{book}")  # authenticate and scope before parsing
            return core.create_snapshot(key, f"banks/{bank}/books/{book}", snapshot_id, parse_csv(bytes(data)))

        doc, created = await anyio.to_thread.run_sync(work)
        return _snapshot_response(doc, created)

    # Registered before /snapshots/{snapshot}, whose id could otherwise swallow the custom method.
    @api.get(
        "/snapshots/{snapshot}:financedEmissions",
        response_model=FinancedOut,
        responses=ERRORS,
        summary="Financed emissions (PCAF Part A) of the snapshot for a reporting year",
        openapi_extra=security(BANK),
    )
    def financed(
        bank: IdPath,
        book: IdPath,
        snapshot: SnapshotPath,
        key: Key,
        period: Year,
        include_positions: Flag = True,
        compare_snapshot: CompareName = "",
        compare_period: CompareYear = "",
    ) -> JSONResponse:
        name = f"banks/{bank}/books/{book}/snapshots/{snapshot}"
        result = core.financed_emissions(key, name, period, compare_snapshot, compare_period)
        return JSONResponse(financed_doc(result, include_positions))

    @api.get(
        "/snapshots/{snapshot}:exportPositions",
        response_class=Response,
        responses={
            **ERRORS,
            200: {
                "description": "Every position's calculation as CSV",
                "content": {"text/csv": {"schema": {"type": "string"}}},
            },
        },
        summary="Every position's financed-emissions calculation as CSV (disclosure annex)",
        openapi_extra=security(BANK),
    )
    def export(bank: IdPath, book: IdPath, snapshot: SnapshotPath, key: Key, period: Year) -> Response:
        name = f"banks/{bank}/books/{book}/snapshots/{snapshot}"
        text = positions_csv(core.financed_emissions(key, name, period))
        return Response(text, media_type="text/csv; charset=utf-8")

    @api.get(
        "/snapshots/{snapshot}",
        response_model=SnapshotOut,
        responses=ERRORS,
        summary="A book snapshot (positions on request)",
        openapi_extra=security(BANK),
    )
    def get(
        bank: IdPath, book: IdPath, snapshot: SnapshotPath, key: Key, include_positions: Flag = False
    ) -> JSONResponse:
        doc = core.get_snapshot(key, f"banks/{bank}/books/{book}/snapshots/{snapshot}")
        return JSONResponse(_public(doc, include_positions))

    return api


def _public(doc: dict[str, Any], include_positions: bool) -> dict[str, Any]:
    out = {
        "name": doc["name"],
        "positionCount": doc["position_count"],
        "outstandingCny": doc["outstanding_cny"],
        "digest": doc["digest"],
        "createTime": doc["create_time"],
    }
    if include_positions:
        out["positions"] = doc["positions"]
    return out


def _snapshot_response(doc: dict[str, Any], created: bool) -> JSONResponse:
    return JSONResponse(
        _public(doc, False),
        status_code=201 if created else 200,
        headers={"X-Idempotent-Replay": "false" if created else "true"},
    )
