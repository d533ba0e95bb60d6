"""/v1/enterprises/{uscc}/erasureRequests: the enterprise asks every service to erase its data (PIPL
art. 47) and follows the services' reports."""

from __future__ import annotations

from typing import Annotated, Literal

from carbon_common.http import PLATFORM_SERVICE, IdPath, UsccPath, error_responses, security
from carbon_common.names import validate_uscc
from fastapi import APIRouter, Body
from fastapi.responses import JSONResponse

from carbon_consent.core import ErasureStatus
from carbon_consent.rest.common import ADMIN, ENTERPRISE, Caller, Core, Output, ReasonBody


class Erasure(Output):
    name: str
    requestId: str
    uscc: str
    state: Literal["PENDING", "IN_PROGRESS", "COMPLETED"]
    createTime: str
    requestedBy: str
    reason: str
    expectedReporters: list[str]
    reports: dict[str, str]

    @classmethod
    def of(cls, status: ErasureStatus) -> Erasure:
        request = status.request
        return cls(
            name=status.name,
            requestId=request.id,
            uscc=request.uscc,
            state=status.state,
            createTime=request.create_time.isoformat(),
            requestedBy=request.actor,
            reason=request.reason,
            expectedReporters=list(status.expected_reporters),
            reports=status.reports,
        )


router = APIRouter(tags=["erasure"])


@router.post(
    "/v1/enterprises/{uscc}/erasureRequests",
    status_code=201,
    response_model=Erasure,
    responses=error_responses(404),
    openapi_extra=security(ENTERPRISE, ADMIN),
    summary="Ask every service to erase the enterprise's data",
)
def request_erasure(
    p: Caller, core: Core, uscc: UsccPath, body: Annotated[ReasonBody | None, Body()] = None
) -> JSONResponse:
    validate_uscc(uscc, "parent")
    req = core.request_erasure(p, uscc, body.reason if body is not None else "")
    return JSONResponse(Erasure.of(core.get_erasure(p, uscc, req.id)).model_dump(), status_code=201)


@router.get(
    "/v1/enterprises/{uscc}/erasureRequests/{request_id}",
    response_model=Erasure,
    responses=error_responses(404),
    openapi_extra=security(ENTERPRISE, PLATFORM_SERVICE, ADMIN),
    summary="Progress of an erasure request",
)
def get_erasure(p: Caller, core: Core, uscc: UsccPath, request_id: IdPath) -> JSONResponse:
    validate_uscc(uscc, "name")
    return JSONResponse(Erasure.of(core.get_erasure(p, uscc, request_id)).model_dump())
