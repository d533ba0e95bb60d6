"""REST edge of the loan book (one router):

    POST /v1/banks/{bank}/books/{book}/snapshots?snapshotId=YYYY-MM-DD   JSON positions
    POST /v1/banks/{bank}/books/{book}/snapshots:upload?snapshotId=...   CSV body (text/csv)
    GET  /v1/banks/{bank}/books/{book}/snapshots/{snapshot}
    GET  /v1/banks/{bank}/books/{book}/snapshots/{snapshot}:financedEmissions?reportingPeriod=YYYY

Bank API key as `Authorization: Bearer`; errors in the platform's JSON shape.
"""

from __future__ import annotations

from typing import Annotated, Any

import anyio.to_thread
from carbon_common import limits
from carbon_common.errors import invalid_argument
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from carbon_pricing.portfolio.book import COLUMNS, parse_csv
from carbon_pricing.portfolio.core import LoanBookCore, financed_doc

_bearer = HTTPBearer(auto_error=False, description="Bank API key (ck_...)")

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "INVALID_ARGUMENT / INVALID_BOOK (BadRequest violations by row and field)"},
    401: {"description": "UNAUTHENTICATED (UNAUTHENTICATED_BANK)"},
    403: {"description": "PERMISSION_DENIED: CROSS_TENANT"},
    404: {"description": "NOT_FOUND"},
    409: {"description": "ALREADY_EXISTS: the snapshot exists with other positions"},
    503: {"description": "UNAVAILABLE: consent or accounting unavailable"},
}


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


def _rows(body: SnapshotIn) -> list[dict[str, str]]:
    rows = []
    for p in body.positions:
        doc = p.model_dump()
        doc["listed"] = "true" if p.listed else "false"
        rows.append({k: str(doc.get(k, "")) for k in COLUMNS})
    return rows


def _api_key(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> str:
    return credentials.credentials if credentials else ""


Key = Annotated[str, Depends(_api_key)]
SnapshotId = Annotated[str, Query(alias="snapshotId", max_length=10, description="Snapshot date YYYY-MM-DD")]


def router(core: LoanBookCore) -> APIRouter:
    api = APIRouter(prefix="/v1/banks/{bank}/books/{book}", tags=["loan books"], responses=ERRORS)

    @api.post("/snapshots", summary="Create a book snapshot from JSON positions (all or none)")
    def create(
        bank: str,
        book: str,
        body: SnapshotIn,
        key: Key,
        snapshot_id: SnapshotId = "",
    ) -> JSONResponse:
        doc, created = core.create_snapshot(key, f"banks/{bank}/books/{book}", snapshot_id, _rows(body))
        return _snapshot_response(doc, created)

    @api.post(
        "/snapshots:upload",
        summary="Create a book snapshot from a CSV upload (errors by row and column; all or none)",
        openapi_extra={"requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}}},
    )
    async def upload(
        request: Request,
        bank: str,
        book: str,
        key: Key,
        snapshot_id: SnapshotId = "",
    ) -> JSONResponse:
        cap = limits.current().max_upload_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise invalid_argument("file", f"larger than {cap} bytes", reason="UPLOAD_TOO_LARGE")
        data = bytearray()
        async for chunk in request.stream():
            data.extend(chunk)
            if len(data) > cap:
                raise invalid_argument("file", f"larger than {cap} bytes", reason="UPLOAD_TOO_LARGE")

        def work() -> tuple[dict[str, Any], bool]:
            core.check_parent(key, f"banks/{bank}/books/{book}")  # authenticate and scope before parsing
            return core.create_snapshot(key, f"banks/{bank}/books/{book}", snapshot_id, parse_csv(bytes(data)))  # type: ignore[arg-type]

        doc, created = await anyio.to_thread.run_sync(work)
        return _snapshot_response(doc, created)

    # Registered before /snapshots/{snapshot}, which would otherwise match the custom method.
    @api.get("/snapshots/{snapshot}:financedEmissions", summary="Financed emissions (PCAF) for a reporting year")
    def financed(
        bank: str,
        book: str,
        snapshot: str,
        key: Key,
        reporting_period: Annotated[str, Query(alias="reportingPeriod", max_length=4)] = "",
        include_positions: Annotated[bool, Query(alias="includePositions")] = True,
    ) -> JSONResponse:
        result = core.financed_emissions(key, f"banks/{bank}/books/{book}/snapshots/{snapshot}", reporting_period)
        return JSONResponse(financed_doc(result, include_positions))

    @api.get("/snapshots/{snapshot}", summary="A book snapshot (positions optional)")
    def get(
        bank: str,
        book: str,
        snapshot: str,
        key: Key,
        include_positions: Annotated[bool, Query(alias="includePositions")] = False,
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
