"""Book snapshots of the calling bank and what is computed from them:

    POST /v1/banks/{bank}/books/{book}/snapshots?snapshotId=YYYY-MM-DD          JSON positions
    POST /v1/banks/{bank}/books/{book}/snapshots:upload?snapshotId=YYYY-MM-DD   CSV body (text/csv)
    GET  /v1/banks/{bank}/books/{book}/snapshots/{snapshot}
    GET  /v1/banks/{bank}/books/{book}/snapshots/{snapshot}:financedEmissions?reportingPeriod=YYYY
    GET  /v1/banks/{bank}/books/{book}/snapshots/{snapshot}:disclosureReport?reportingPeriod=YYYY&format=html|pdf
    GET  /v1/banks/{bank}/books/{book}/snapshots/{snapshot}:exportPositions?reportingPeriod=YYYY&format=csv|xlsx

Request bodies are bounded by the service's body limit (carbon_common.http); the upload route's own
bound is `body_limits()`.
"""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlencode

import anyio.to_thread
from carbon_common import limits
from carbon_common.errors import invalid_argument
from carbon_common.http import IdPath, security
from carbon_common.reports import HTML_LANG, choose_language
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from carbon_pricing.portfolio import disclosure
from carbon_pricing.portfolio.book import COLUMNS, parse_csv, parse_xlsx
from carbon_pricing.portfolio.core import Financed
from carbon_pricing.portfolio.domain import StoredSnapshot
from carbon_pricing.portfolio.figures import FinancedOut, financed_out
from carbon_pricing.portfolio.rest.deps import BANK, ERRORS, READ_SECURITY, Books, Key, ReadKey

DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
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
Lang = Annotated[Literal["zh", "en"] | None, Query(description="zh (default) or en; else Accept-Language")]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


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


def _rows(body: SnapshotIn) -> list[dict[str, str]]:
    rows = []
    for p in body.positions:
        doc = p.model_dump()
        doc["listed"] = "true" if p.listed else "false"
        rows.append({k: str(doc.get(k, "")) for k in COLUMNS})
    return rows


CREATED = {**ERRORS, 200: {"model": SnapshotOut, "description": "The same rows again: the stored snapshot"}}


def router() -> APIRouter:
    """Built when the app is (the upload route documents and enforces the process's upload bound)."""
    api = APIRouter(prefix="/v1/banks/{bank}/books/{book}", tags=["loan books"])

    @api.post(
        "/snapshots",
        status_code=201,
        response_model=SnapshotOut,
        responses=CREATED,
        summary="Create a book snapshot from JSON positions (all or none)",
        openapi_extra=security(BANK),
    )
    def create(
        bank: IdPath, book: IdPath, key: Key, core: Books, body: SnapshotIn, snapshot_id: SnapshotId
    ) -> JSONResponse:
        doc, created = core.create_snapshot(key, f"banks/{bank}/books/{book}", snapshot_id, _rows(body))
        return _snapshot_response(doc, created)

    upload_bound = limits.current().max_upload_bytes

    @api.post(
        "/snapshots:upload",
        status_code=201,
        response_model=SnapshotOut,
        responses=CREATED,
        summary="Create a book snapshot from a CSV or Excel (.xlsx) upload (errors by row and column; all or none)",
        description=(
            f"The body is the file itself: `text/csv` (UTF-8, header row) or `{XLSX}` (first sheet, header row). "
            f"Bodies up to {upload_bound} bytes are accepted on this route (CARBON_LIMIT_MAX_UPLOAD_BYTES; other "
            f"requests of this service: 1 MiB); larger ones are refused with 413 before they are read. At most "
            f"{limits.current().max_upload_rows} positions. Columns: {', '.join(COLUMNS)}."
        ),
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "text/csv": {"schema": {"type": "string", "maxLength": upload_bound}},
                    XLSX: {"schema": {"type": "string", "format": "binary", "maxLength": upload_bound}},
                },
            },
            **security(BANK),
        },
    )
    async def upload(
        request: Request, bank: IdPath, book: IdPath, key: Key, core: Books, snapshot_id: SnapshotId
    ) -> JSONResponse:
        data = bytearray()
        async for chunk in request.stream():
            data.extend(chunk)
            if len(data) > upload_bound:
                raise invalid_argument("file", f"larger than {upload_bound} bytes", reason="UPLOAD_TOO_LARGE")
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        excel = media == XLSX or bytes(data[:4]) == b"PK\x03\x04"

        def work() -> tuple[StoredSnapshot, bool]:
            core.check_parent(key, f"banks/{bank}/books/{book}")  # authenticate and scope before parsing
            rows = parse_xlsx(bytes(data)) if excel else parse_csv(bytes(data))
            return core.create_snapshot(key, f"banks/{bank}/books/{book}", snapshot_id, rows)

        doc, created = await anyio.to_thread.run_sync(work)
        return _snapshot_response(doc, created)

    # Registered before /snapshots/{snapshot}, whose id could otherwise swallow the custom method.
    @api.get(
        "/snapshots/{snapshot}:financedEmissions",
        response_model=FinancedOut,
        responses=ERRORS,
        summary="Financed emissions (PCAF Part A) of the snapshot for a reporting year",
        openapi_extra=READ_SECURITY,
    )
    def financed(
        bank: IdPath,
        book: IdPath,
        snapshot: SnapshotPath,
        key: ReadKey,
        core: Books,
        period: Year,
        include_positions: Flag = True,
        compare_snapshot: CompareName = "",
        compare_period: CompareYear = "",
    ) -> JSONResponse:
        name = f"banks/{bank}/books/{book}/snapshots/{snapshot}"
        result = core.financed_emissions(key, name, period, compare_snapshot, compare_period)
        return JSONResponse(financed_out(result, include_positions).model_dump(mode="json", exclude_unset=True))

    @api.get(
        "/snapshots/{snapshot}:exportPositions",
        response_class=Response,
        responses={
            **ERRORS,
            200: {
                "description": "Every position's calculation: CSV (format=csv) or an Excel workbook (format=xlsx)",
                "content": {
                    "text/csv": {"schema": {"type": "string"}},
                    XLSX: {"schema": {"type": "string", "format": "binary"}},
                },
            },
        },
        summary="Every position's financed-emissions calculation as CSV or XLSX (disclosure annex)",
        openapi_extra=READ_SECURITY,
    )
    def export(
        bank: IdPath,
        book: IdPath,
        snapshot: SnapshotPath,
        key: ReadKey,
        core: Books,
        period: Year,
        format: Annotated[Literal["csv", "xlsx"], Query()] = "csv",
    ) -> Response:
        name = f"banks/{bank}/books/{book}/snapshots/{snapshot}"
        result = core.financed_emissions(key, name, period)
        if format == "xlsx":
            content = disclosure.build_content(result, core.pcaf, core.benchmarks, "en")
            return Response(
                disclosure.positions_xlsx(result, content),
                media_type=XLSX,
                headers={"content-disposition": f'attachment; filename="{_file_name(result, "xlsx")}"'},
            )
        return Response(
            disclosure.positions_csv(result),
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": f'attachment; filename="{_file_name(result, "csv")}"'},
        )

    @api.get(
        "/snapshots/{snapshot}:disclosureReport",
        response_class=Response,
        responses={
            **ERRORS,
            200: {
                "description": "The financed-emissions section of a JR/T 0227-2021 disclosure, HTML or PDF",
                "content": {
                    "text/html": {"schema": {"type": "string"}},
                    "application/pdf": {"schema": {"type": "string", "format": "binary"}},
                },
            },
        },
        summary="Disclosure report (financed emissions, JR/T 0227-2021 layout), Chinese or English, HTML or PDF",
        openapi_extra=READ_SECURITY,
    )
    def report(
        request: Request,
        bank: IdPath,
        book: IdPath,
        snapshot: SnapshotPath,
        key: ReadKey,
        core: Books,
        period: Year,
        format: Annotated[Literal["html", "pdf"], Query()] = "html",
        lang: Lang = None,
        compare_snapshot: CompareName = "",
        compare_period: CompareYear = "",
    ) -> Response:
        name = f"banks/{bank}/books/{book}/snapshots/{snapshot}"
        result = core.financed_emissions(key, name, period, compare_snapshot, compare_period)
        chosen = choose_language(lang, request.headers.get("accept-language", ""))
        base = f"/v1/{name}"
        annex = tuple(
            f"{base}:exportPositions?{urlencode({'reportingPeriod': period, 'format': f})}" for f in ("csv", "xlsx")
        )
        content = disclosure.build_content(result, core.pcaf, core.benchmarks, chosen, (annex[0], annex[1]))
        headers = {"content-language": HTML_LANG[chosen], "vary": "accept-language", "cache-control": "no-store"}
        if format == "pdf":
            headers["content-disposition"] = f'inline; filename="{_file_name(result, "pdf")}"'
            return Response(disclosure.render_pdf(content), media_type="application/pdf", headers=headers)
        query = {k: v for k, v in request.query_params.items() if k != "lang"}
        other = f"{base}:disclosureReport?{urlencode({**query, 'lang': 'en' if chosen == 'zh' else 'zh'})}"
        page = disclosure.render_html(content, other, (annex[0], annex[1]))
        return Response(page, media_type="text/html; charset=utf-8", headers=headers)

    @api.get(
        "/snapshots/{snapshot}",
        response_model=SnapshotOut,
        responses=ERRORS,
        summary="A book snapshot (positions on request)",
        openapi_extra=READ_SECURITY,
    )
    def get(
        bank: IdPath, book: IdPath, snapshot: SnapshotPath, key: ReadKey, core: Books, include_positions: Flag = False
    ) -> JSONResponse:
        doc = core.get_snapshot(key, f"banks/{bank}/books/{book}/snapshots/{snapshot}")
        return JSONResponse(_public(doc, include_positions))

    return api


UPLOAD_PATH = r"/v1/banks/[^/]+/books/[^/]+/snapshots:upload"


def body_limits() -> dict[str, int]:
    """The upload route's body bound for the service's body-limit middleware (carbon_common.http)."""
    return {UPLOAD_PATH: limits.current().max_upload_bytes}


def _file_name(result: Financed, extension: str) -> str:
    parts = result.snapshot.split("/")
    return f"financed-emissions-{parts[1]}-{parts[3]}-{parts[5]}-{result.period}.{extension}"


def _public(record: StoredSnapshot, include_positions: bool) -> dict[str, object]:
    """The snapshot's REST JSON (SnapshotOut; the positions as stored, snake_case)."""
    out: dict[str, object] = {
        "name": record.name,
        "positionCount": record.position_count,
        "outstandingCny": record.outstanding_cny,
        "digest": record.digest,
        "createTime": record.create_time,
    }
    if include_positions:
        out["positions"] = [p.model_dump() for p in record.positions]
    return out


def _snapshot_response(record: StoredSnapshot, created: bool) -> JSONResponse:
    return JSONResponse(
        _public(record, False),
        status_code=201 if created else 200,
        headers={"X-Idempotent-Replay": "false" if created else "true"},
    )
