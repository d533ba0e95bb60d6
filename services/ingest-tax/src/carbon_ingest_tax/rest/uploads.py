"""POST /v1/enterprises/{uscc}/invoiceUploads: an enterprise's invoice list (CSV or .xlsx) through the
upload portal (a platform service). The file format is carbon_ingest_tax.upload; errors name the
file's rows and columns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from carbon_common.errors import ServiceError, invalid_argument
from carbon_common.http import PLATFORM_SERVICE, UsccPath, error_responses, require_service, security
from carbon_common.identity import Caller, ServiceVerifier
from carbon_common.names import validate_uscc
from fastapi import APIRouter, Depends, File, Header, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from google.protobuf.json_format import MessageToDict
from pydantic import BaseModel, Field

from carbon_ingest_tax.core import TaxCore
from carbon_ingest_tax.upload import parse_rows, read_table, to_file_fields


@dataclass(frozen=True)
class UploadEdge:
    """What the upload router needs, set on the app's state by app.create_http_app."""

    core: TaxCore
    max_bytes: int
    time_zone: str
    services: ServiceVerifier


def _edge(request: Request) -> UploadEdge:
    edge: UploadEdge = request.app.state.uploads
    return edge


Edge = Annotated[UploadEdge, Depends(_edge)]


def _platform_service(request: Request, edge: Edge) -> Caller:
    """The upload portal authenticates the enterprise and forwards as a platform service."""
    return require_service(edge.services)(request)


class QuarantinedLine(BaseModel):
    invoice_number: str = ""
    line_number: int = 0
    reason: str = Field(default="", description="e.g. UNKNOWN_TAX_CODE, UNKNOWN_UNIT, MISSING_QUANTITY")
    message: str = Field(default="", description="For the enterprise, in Chinese and English")


class UploadResult(BaseModel):
    """carbon.v1.IngestInvoicesResponse (proto field names) and the void rows skipped."""

    batch: str = Field(description="enterprises/{uscc}/invoiceBatches/{request_id}")
    invoices: int
    energy_lines: int
    revenue_lines: int
    non_energy_lines: int
    quarantined: list[QuarantinedLine]
    replayed: bool = Field(description="True when this Idempotency-Key had already been stored")
    duplicate_lines: int
    skipped_void_rows: int


router = APIRouter(tags=["uploads"])


@router.post(
    "/v1/enterprises/{uscc}/invoiceUploads",
    dependencies=[Depends(_platform_service)],
    response_model=UploadResult,
    responses=error_responses(409),
    openapi_extra=security(PLATFORM_SERVICE),
    summary="Upload an invoice list (CSV or .xlsx) for the enterprise",
)
async def upload(
    uscc: UsccPath,
    edge: Edge,
    file: Annotated[UploadFile, File(description="The invoice list: .csv (UTF-8) or .xlsx")],
    idempotency_key: Annotated[
        str,
        Header(alias="Idempotency-Key", min_length=1, max_length=128, description="The batch's idempotency key"),
    ],
) -> JSONResponse:
    validate_uscc(uscc, "uscc")
    content = await file.read(edge.max_bytes + 1)
    if len(content) > edge.max_bytes:
        raise invalid_argument("file", f"larger than {edge.max_bytes} bytes")
    table = read_table(file.filename or "", content)
    parsed = parse_rows(table, edge.time_zone)
    try:
        response = await run_in_threadpool(edge.core.ingest, f"enterprises/{uscc}", idempotency_key, parsed.invoices)
    except ServiceError as error:
        if error.field_violations and error.field_violations[0][0] == "request_id":
            error.field_violations = [("Idempotency-Key", d) for _, d in error.field_violations]
            raise error from None
        raise to_file_fields(error, parsed) from None
    body = MessageToDict(response, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
    body["skipped_void_rows"] = parsed.skipped_void
    return JSONResponse(body)
