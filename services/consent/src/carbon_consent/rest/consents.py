"""/v1/enterprises/{uscc}/consents: request, grant, list, read and decide consents, the one-click
authorization link of a request; /v1/consents:checkAccess, the enforcement point."""

from __future__ import annotations

from typing import Annotated, Literal

from carbon_common.errors import invalid_argument
from carbon_common.http import EXAMPLE_USCC, PLATFORM_SERVICE, IdPath, UsccPath, error_responses, security
from carbon_common.names import parse_bank, validate_uscc
from fastapi import APIRouter, Body, Query
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from carbon_consent import convert, domain
from carbon_consent.auth import Principal
from carbon_consent.core import ConsentCore
from carbon_consent.domain import Action, Scope, State
from carbon_consent.rest.common import (
    ADMIN,
    BANK,
    ENTERPRISE,
    NAME_CHARS,
    TEXT_CHARS,
    TIME_CHARS,
    Caller,
    Core,
    Input,
    Link,
    Output,
    PageSize,
    PageToken,
    ReasonBody,
    alias,
    message_json,
    page_json,
)

ScopeName = Literal[
    "TAX_INVOICES",
    "ENERGY_METERING",
    "CARBON_ACCOUNT",
    "RATING",
    "REPORT",
    "CONSENT_SCOPE_TAX_INVOICES",
    "CONSENT_SCOPE_ENERGY_METERING",
    "CONSENT_SCOPE_CARBON_ACCOUNT",
    "CONSENT_SCOPE_RATING",
    "CONSENT_SCOPE_REPORT",
]
PurposeName = Literal[
    "CARBON_ACCOUNTING",
    "CREDIT_ASSESSMENT",
    "CONSENT_PURPOSE_CARBON_ACCOUNTING",
    "CONSENT_PURPOSE_CREDIT_ASSESSMENT",
]
# Responses carry the proto enum value names (json_format).
ScopeValue = Literal[
    "CONSENT_SCOPE_TAX_INVOICES",
    "CONSENT_SCOPE_ENERGY_METERING",
    "CONSENT_SCOPE_CARBON_ACCOUNT",
    "CONSENT_SCOPE_RATING",
    "CONSENT_SCOPE_REPORT",
]
PurposeValue = Literal["CONSENT_PURPOSE_CARBON_ACCOUNTING", "CONSENT_PURPOSE_CREDIT_ASSESSMENT"]
StateValue = Literal[
    "STATE_REQUESTED",
    "STATE_AUTHORIZED",
    "STATE_REJECTED",
    "STATE_REVOKED",
    "STATE_TERMINATED",
    "STATE_EXPIRED",
]
ConsentAction = Literal["authorize", "reject", "revoke", "terminate", "authorizationLink"]

RequestId = Annotated[str, Query(max_length=128, description="Client request id (AIP-155); also accepted in the body")]
StateFilter = Annotated[str, Query(max_length=32, description="Only consents in this state, e.g. AUTHORIZED")]


# ---------------------------------------------------------------- requests


class DataWindowInput(Input):
    startTime: str | None = Field(
        default=None, max_length=TIME_CHARS, validation_alias=alias("startTime", "start_time", "start")
    )
    endTime: str | None = Field(
        default=None, max_length=TIME_CHARS, validation_alias=alias("endTime", "end_time", "end")
    )


class ConsentFields(Input):
    grantee: str | None = Field(default=None, max_length=NAME_CHARS, description="banks/{bank_id} or platform")
    scopes: list[ScopeName] | None = Field(default=None, max_length=5)
    purpose: PurposeName | None = None
    dataWindow: DataWindowInput | None = Field(default=None, validation_alias=alias("dataWindow", "data_window"))
    expireTime: str | None = Field(
        default=None, max_length=TIME_CHARS, validation_alias=alias("expireTime", "expire_time")
    )


class CreateConsentBody(ConsentFields):
    """The consent's fields, flat or under `consent`, plus the request id (AIP-155) and a reason."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "grantee": "banks/qujiang-rcb",
                    "scopes": ["RATING", "REPORT"],
                    "purpose": "CREDIT_ASSESSMENT",
                    "dataWindow": {"startTime": "2024-01-01T00:00:00Z", "endTime": "2025-01-01T00:00:00Z"},
                    "expireTime": "2026-12-31T00:00:00Z",
                    "requestId": "access-2026-001",
                }
            ]
        }
    )

    consent: ConsentFields | None = None
    requestId: str = Field(default="", max_length=128, validation_alias=alias("requestId", "request_id"))
    reason: str = Field(default="", max_length=TEXT_CHARS)

    def consent_fields(self) -> dict[str, JsonValue]:
        if self.consent is not None:
            return self.consent.fields()
        return {k: v for k, v in self.fields().items() if k in ConsentFields.model_fields}


class CheckAccessBody(BaseModel):
    """A platform service's (or the grantee bank's) question: may `grantee` read `scope` of `enterprise`?"""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {
                    "enterprise": f"enterprises/{EXAMPLE_USCC}",
                    "grantee": "banks/qujiang-rcb",
                    "scope": "RATING",
                    "dataPeriod": {"startTime": "2024-01-01T00:00:00Z", "endTime": "2025-01-01T00:00:00Z"},
                }
            ]
        },
    )

    enterprise: str = Field(max_length=NAME_CHARS, description="enterprises/{uscc}")
    grantee: str = Field(max_length=NAME_CHARS, description="banks/{bank_id} or platform")
    scope: ScopeName
    dataTime: str | None = Field(
        default=None,
        max_length=TIME_CHARS,
        validation_alias=alias("dataTime", "data_time"),
        description="RFC 3339 instant of the data to be read (a one-instant period)",
    )
    dataPeriod: DataWindowInput | None = Field(
        default=None,
        validation_alias=alias("dataPeriod", "data_period"),
        description="The period of the data to be read: it must lie inside the consent's data window",
    )


# ---------------------------------------------------------------- responses


class DataWindow(Output):
    startTime: str | None = None
    endTime: str | None = None


class Transition(Output):
    fromState: StateValue | None = None
    toState: StateValue | None = None
    actor: str | None = None
    time: str | None = None
    reason: str | None = None


class Consent(Output):
    name: str | None = None
    grantee: str | None = None
    scopes: list[ScopeValue] | None = None
    purpose: PurposeValue | None = None
    dataWindow: DataWindow | None = None
    expireTime: str | None = None
    state: StateValue | None = None
    createTime: str | None = None
    updateTime: str | None = None
    authorizationUri: str | None = None
    history: list[Transition] | None = None


class ConsentList(Output):
    consents: list[Consent]
    nextPageToken: str


class AccessDecision(Output):
    allowed: bool
    reason: str
    consent: str
    message: str


# ---------------------------------------------------------------- operations

router = APIRouter(tags=["consents"])


def _create(
    core: ConsentCore, p: Principal, uscc: str, body: CreateConsentBody, request_id: str, authorize: bool
) -> JSONResponse:
    validate_uscc(uscc, "parent")
    message = convert.consent_from_json(body.consent_fields())
    req = convert.consent_request_from_proto(message, body.reason)
    consent, uri = core.create_consent(p, uscc, req, request_id or body.requestId, authorize=authorize)
    return message_json(convert.consent_to_proto(consent, uri), status_code=201)


@router.post(
    "/v1/enterprises/{uscc}/consents",
    status_code=201,
    response_model=Consent,
    responses=error_responses(404, 409),
    openapi_extra=security(BANK, ENTERPRISE, PLATFORM_SERVICE, ADMIN),
    summary="Request a consent (REQUESTED until the enterprise decides)",
)
def create_consent(
    p: Caller, core: Core, uscc: UsccPath, body: CreateConsentBody, requestId: RequestId = ""
) -> JSONResponse:
    return _create(core, p, uscc, body, requestId, authorize=False)


@router.post(
    "/v1/enterprises/{uscc}/consents:grant",
    status_code=201,
    response_model=Consent,
    responses=error_responses(404, 409),
    openapi_extra=security(ENTERPRISE, ADMIN),
    summary="Create and authorise in one call (the enterprise itself, or admin)",
)
def grant_consent(
    p: Caller, core: Core, uscc: UsccPath, body: CreateConsentBody, requestId: RequestId = ""
) -> JSONResponse:
    return _create(core, p, uscc, body, requestId, authorize=True)


@router.get(
    "/v1/enterprises/{uscc}/consents",
    response_model=ConsentList,
    responses=error_responses(404),
    openapi_extra=security(BANK, ENTERPRISE, PLATFORM_SERVICE, ADMIN),
    summary="The enterprise's consents the caller may see",
)
def list_consents(
    p: Caller,
    core: Core,
    uscc: UsccPath,
    state: StateFilter = "",
    pageSize: PageSize = 0,
    pageToken: PageToken = "",
) -> JSONResponse:
    validate_uscc(uscc, "parent")
    state_value: State | None = None
    if state:
        key = state.upper().removeprefix("STATE_")
        if key not in State.__members__:
            raise invalid_argument("state", f"unknown state {state[:40]!r}")
        state_value = State[key]
    items, token = core.list_consents(p, uscc, state_value, pageSize, pageToken)
    return page_json("consents", map(convert.consent_to_proto, items), token)


@router.get(
    "/v1/enterprises/{uscc}/consents/{consent_id:segment}",
    response_model=Consent,
    responses=error_responses(404),
    openapi_extra=security(BANK, ENTERPRISE, PLATFORM_SERVICE, ADMIN),
    summary="Get a consent",
)
def get_consent(p: Caller, core: Core, uscc: UsccPath, consent_id: IdPath) -> JSONResponse:
    validate_uscc(uscc, "name")
    return message_json(convert.consent_to_proto(core.get_consent(p, uscc, consent_id)))


@router.post(
    "/v1/enterprises/{uscc}/consents/{consent_id}:{action}",
    response_model=Consent | Link,
    responses=error_responses(404),
    openapi_extra=security(BANK, ENTERPRISE, PLATFORM_SERVICE, ADMIN),
    summary="authorize / reject / revoke / terminate a consent, or get its authorizationLink",
)
def consent_action(
    p: Caller,
    core: Core,
    uscc: UsccPath,
    consent_id: IdPath,
    action: Annotated[ConsentAction, PathParam(description="What to do")],
    body: Annotated[ReasonBody | None, Body()] = None,
) -> JSONResponse:
    validate_uscc(uscc, "name")
    if action == "authorizationLink":
        # For the platform's notification sender, which delivers it to the enterprise.
        return JSONResponse({"uri": core.authorization_link(p, uscc, consent_id)})
    reason = body.reason if body is not None else ""
    consent = core.transition(p, uscc, consent_id, Action(action), reason)
    return message_json(convert.consent_to_proto(consent))


@router.post(
    "/v1/consents:checkAccess",
    response_model=AccessDecision,
    openapi_extra=security(PLATFORM_SERVICE, BANK, ADMIN),
    summary="May the grantee read this scope of the enterprise's data now?",
)
def check_access(p: Caller, core: Core, body: CheckAccessBody) -> JSONResponse:
    enterprise = body.enterprise
    if not enterprise.startswith("enterprises/"):
        raise invalid_argument("enterprise", "must look like enterprises/{uscc}")
    uscc = validate_uscc(enterprise.split("/", 1)[1], "enterprise")
    grantee = body.grantee
    if grantee != domain.PLATFORM:
        parse_bank(grantee, "grantee")
    scope_text = body.scope.upper().removeprefix("CONSENT_SCOPE_")
    window = body.dataPeriod
    period = convert.check_access_period_rest(
        body.dataTime, window.startTime if window else None, window.endTime if window else None
    )
    decision = core.check_access(p, uscc, grantee, Scope[scope_text], period)
    return JSONResponse(
        {
            "allowed": decision.allowed,
            "reason": decision.reason,
            "consent": decision.consent,
            "message": decision.message,
        }
    )
