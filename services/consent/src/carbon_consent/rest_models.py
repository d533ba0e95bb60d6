"""The consent REST edge's request and response bodies (proto JSON of carbon.v1, camelCase).

Requests are validated for shape and size before any work (a wrong-shape body
is a 400 in the error shape); snake_case spellings of fields are accepted too.
Responses mirror `json_format.MessageToDict`, which omits empty fields, so
response fields are optional.
"""

from __future__ import annotations

from typing import Any, Literal

from carbon_common.http import EXAMPLE_USCC
from pydantic import AliasChoices, BaseModel, ConfigDict, Field

NAME_CHARS = 256  # resource names (carbon_common.limits default)
TEXT_CHARS = 500  # display names, reasons
CODE_CHARS = 32  # industry / province / region codes
TIME_CHARS = 40  # RFC 3339 timestamps

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


def _alias(*names: str) -> Any:
    return AliasChoices(*names)


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def fields(self) -> dict[str, Any]:
        """The fields the client sent, under their camelCase names."""
        return self.model_dump(exclude_unset=True)


# ---------------------------------------------------------------- requests


class EnterpriseFields(Input):
    uscc: str = Field(default="", max_length=18, description="Unified social credit code")
    displayName: str = Field(default="", max_length=TEXT_CHARS, validation_alias=_alias("displayName", "display_name"))
    industryCode: str = Field(
        default="", max_length=CODE_CHARS, validation_alias=_alias("industryCode", "industry_code")
    )
    provinceCode: str = Field(
        default="", max_length=CODE_CHARS, validation_alias=_alias("provinceCode", "province_code")
    )
    regionCode: str = Field(default="", max_length=CODE_CHARS, validation_alias=_alias("regionCode", "region_code"))


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


class BankFields(Input):
    displayName: str = Field(default="", max_length=TEXT_CHARS, validation_alias=_alias("displayName", "display_name"))


class CreateBankBody(BankFields):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"bankId": "qujiang-rcb", "displayName": "衢江农商银行"}]}
    )

    bankId: str = Field(default="", max_length=63, validation_alias=_alias("bankId", "bank_id"))
    bank: BankFields | None = None

    def display_name(self) -> str:
        return (self.bank if self.bank is not None else self).displayName


class DataWindowInput(Input):
    startTime: str | None = Field(
        default=None, max_length=TIME_CHARS, validation_alias=_alias("startTime", "start_time", "start")
    )
    endTime: str | None = Field(
        default=None, max_length=TIME_CHARS, validation_alias=_alias("endTime", "end_time", "end")
    )


class ConsentFields(Input):
    grantee: str | None = Field(default=None, max_length=NAME_CHARS, description="banks/{bank_id} or platform")
    scopes: list[ScopeName] | None = Field(default=None, max_length=5)
    purpose: PurposeName | None = None
    dataWindow: DataWindowInput | None = Field(default=None, validation_alias=_alias("dataWindow", "data_window"))
    expireTime: str | None = Field(
        default=None, max_length=TIME_CHARS, validation_alias=_alias("expireTime", "expire_time")
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
    requestId: str = Field(default="", max_length=128, validation_alias=_alias("requestId", "request_id"))
    reason: str = Field(default="", max_length=TEXT_CHARS)

    def consent_fields(self) -> dict[str, Any]:
        if self.consent is not None:
            return self.consent.fields()
        return {k: v for k, v in self.fields().items() if k in ConsentFields.model_fields}


class ReasonBody(Input):
    reason: str = Field(default="", max_length=TEXT_CHARS)


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
        validation_alias=_alias("dataTime", "data_time"),
        description="RFC 3339 instant of the data to be read (a one-instant period)",
    )
    dataPeriod: DataWindowInput | None = Field(
        default=None,
        validation_alias=_alias("dataPeriod", "data_period"),
        description="The period of the data to be read: it must lie inside the consent's data window",
    )


# ---------------------------------------------------------------- responses


class Output(BaseModel):
    model_config = ConfigDict(extra="forbid")


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


class Link(Output):
    uri: str = Field(description="A signed one-click link for the enterprise")


class Bank(Output):
    name: str | None = None
    displayName: str | None = None
    createTime: str | None = None


class BankCreated(Output):
    bank: Bank
    apiKey: str = Field(description="The bank's API key (ck_...), shown once")


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
