"""/v1/enterprises: the enterprise registry (register, list, get) and the enterprise's management link."""

from __future__ import annotations

from carbon_common.http import EXAMPLE_USCC, PLATFORM_SERVICE, UsccPath, error_responses, security
from carbon_common.names import validate_uscc
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import ConfigDict, Field

from carbon_consent import convert
from carbon_consent.rest.common import (
    ADMIN,
    BANK,
    CODE_CHARS,
    ENTERPRISE,
    TEXT_CHARS,
    Caller,
    Core,
    Input,
    Link,
    Output,
    PageSize,
    PageToken,
    alias,
    message_json,
    page_json,
)


class EnterpriseFields(Input):
    uscc: str = Field(default="", max_length=18, description="Unified social credit code")
    displayName: str = Field(default="", max_length=TEXT_CHARS, validation_alias=alias("displayName", "display_name"))
    industryCode: str = Field(
        default="", max_length=CODE_CHARS, validation_alias=alias("industryCode", "industry_code")
    )
    provinceCode: str = Field(
        default="", max_length=CODE_CHARS, validation_alias=alias("provinceCode", "province_code")
    )
    regionCode: str = Field(default="", max_length=CODE_CHARS, validation_alias=alias("regionCode", "region_code"))


class CreateEnterpriseBody(EnterpriseFields):
    """The enterprise's fields, flat or under `enterprise`."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "uscc": EXAMPLE_USCC,
                    "displayName": "衢州示例化工有限公司",
                    "industryCode": "C26",
                    "provinceCode": "330000",
                    "regionCode": "330800",
                }
            ]
        }
    )

    enterprise: EnterpriseFields | None = None

    def values(self) -> EnterpriseFields:
        return self.enterprise if self.enterprise is not None else self


class Enterprise(Output):
    name: str | None = None
    uscc: str | None = None
    displayName: str | None = None
    industryCode: str | None = None
    provinceCode: str | None = None
    regionCode: str | None = None
    createTime: str | None = None


class EnterpriseList(Output):
    enterprises: list[Enterprise]
    nextPageToken: str


router = APIRouter(tags=["enterprises"])


@router.post(
    "/v1/enterprises",
    status_code=201,
    response_model=Enterprise,
    responses=error_responses(409),
    openapi_extra=security(ADMIN, PLATFORM_SERVICE),
    summary="Register an enterprise (admin or platform service)",
)
def create_enterprise(p: Caller, core: Core, body: CreateEnterpriseBody) -> JSONResponse:
    e = body.values()
    created = core.create_enterprise(p, e.uscc, e.displayName, e.industryCode, e.provinceCode, e.regionCode)
    return message_json(convert.enterprise_to_proto(created), status_code=201)


@router.get(
    "/v1/enterprises",
    response_model=EnterpriseList,
    openapi_extra=security(ADMIN, PLATFORM_SERVICE, BANK),
    summary="List registered enterprises",
)
def list_enterprises(p: Caller, core: Core, pageSize: PageSize = 0, pageToken: PageToken = "") -> JSONResponse:
    items, token = core.list_enterprises(p, pageSize, pageToken)
    return page_json("enterprises", map(convert.enterprise_to_proto, items), token)


@router.get(
    "/v1/enterprises/{uscc:segment}",
    response_model=Enterprise,
    responses=error_responses(404),
    openapi_extra=security(ADMIN, PLATFORM_SERVICE, BANK, ENTERPRISE),
    summary="Get an enterprise",
)
def get_enterprise(p: Caller, core: Core, uscc: UsccPath) -> JSONResponse:
    validate_uscc(uscc, "name")
    return message_json(convert.enterprise_to_proto(core.get_enterprise(p, uscc)))


@router.post(
    "/v1/enterprises/{uscc}:manageLink",
    response_model=Link,
    responses=error_responses(404),
    openapi_extra=security(ADMIN, PLATFORM_SERVICE, ENTERPRISE),
    summary="A signed management link for the enterprise",
)
def manage_link(p: Caller, core: Core, uscc: UsccPath) -> JSONResponse:
    validate_uscc(uscc, "name")
    return JSONResponse({"uri": core.manage_uri(p, uscc)})
