"""/v1/banks: onboarding a bank (its API key is returned once), reading it, and the consents granted to it."""

from __future__ import annotations

from carbon_common.http import PLATFORM_SERVICE, IdPath, error_responses, security
from carbon_common.names import parse_bank
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import ConfigDict, Field

from carbon_consent import convert
from carbon_consent.rest.common import (
    ADMIN,
    BANK,
    TEXT_CHARS,
    Caller,
    Core,
    Input,
    Output,
    PageSize,
    PageToken,
    alias,
    message_json,
    page_json,
)
from carbon_consent.rest.consents import ConsentList


class BankFields(Input):
    displayName: str = Field(default="", max_length=TEXT_CHARS, validation_alias=alias("displayName", "display_name"))


class CreateBankBody(BankFields):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"bankId": "qujiang-rcb", "displayName": "衢江农商银行"}]}
    )

    bankId: str = Field(default="", max_length=63, validation_alias=alias("bankId", "bank_id"))
    bank: BankFields | None = None

    def display_name(self) -> str:
        return (self.bank if self.bank is not None else self).displayName


class Bank(Output):
    name: str | None = None
    displayName: str | None = None
    createTime: str | None = None


class BankCreated(Output):
    bank: Bank
    apiKey: str = Field(description="The bank's API key (ck_...), shown once")


router = APIRouter(tags=["banks"])


@router.post(
    "/v1/banks",
    status_code=201,
    response_model=BankCreated,
    responses=error_responses(409),
    openapi_extra=security(ADMIN, PLATFORM_SERVICE),
    summary="Onboard a bank; its API key is returned once",
)
def create_bank(p: Caller, core: Core, body: CreateBankBody) -> JSONResponse:
    bank, key = core.create_bank(p, body.bankId, body.display_name())
    return JSONResponse({"bank": convert.to_json(convert.bank_to_proto(bank)), "apiKey": key}, status_code=201)


@router.get(
    "/v1/banks/{bank_id}",
    response_model=Bank,
    responses=error_responses(404),
    openapi_extra=security(ADMIN, PLATFORM_SERVICE, BANK),
    summary="Get a bank",
)
def get_bank(p: Caller, core: Core, bank_id: IdPath) -> JSONResponse:
    parse_bank(f"banks/{bank_id}", "name")
    return message_json(convert.bank_to_proto(core.get_bank(p, bank_id)))


@router.get(
    "/v1/banks/{bank_id}/consents",
    response_model=ConsentList,
    openapi_extra=security(ADMIN, PLATFORM_SERVICE, BANK),
    summary="The consents granted to a bank",
)
def bank_consents(
    p: Caller,
    core: Core,
    bank_id: IdPath,
    pageSize: PageSize = 0,
    pageToken: PageToken = "",
) -> JSONResponse:
    parse_bank(f"banks/{bank_id}", "parent")
    items, token = core.list_bank_consents(p, bank_id, pageSize, pageToken)
    return page_json("consents", map(convert.consent_to_proto, items), token)
