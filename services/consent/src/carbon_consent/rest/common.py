"""What every consent router shares: the edge's dependencies (the core, the authenticated caller),
the credentials an operation may name, paging parameters, and the base request/response bodies.

Bodies are the proto JSON of carbon.v1 (camelCase). Requests are validated for shape and size before
any work (a wrong-shape body is a 400 in the error shape); snake_case spellings of fields are accepted
too. Responses mirror `json_format.MessageToDict`, which omits empty fields, so response fields are
optional.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated

from carbon_common.http import refuse_anonymous
from fastapi import Depends, Query, Request
from fastapi.responses import JSONResponse
from google.protobuf.message import Message
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, JsonValue

from carbon_consent import convert
from carbon_consent.auth import Authenticator, Principal
from carbon_consent.core import ConsentCore

# Who may call an operation (OpenAPI security requirements, carbon_common.http.SECURITY_SCHEMES).
ADMIN, BANK, ENTERPRISE = "adminToken", "bankApiKey", "enterpriseLink"

NAME_CHARS = 256  # resource names (carbon_common.limits default)
TEXT_CHARS = 500  # display names, reasons
CODE_CHARS = 32  # industry / province / region codes
TIME_CHARS = 40  # RFC 3339 timestamps


@dataclass(frozen=True)
class ConsentEdge:
    """What the routers need, set on the app's state by app.create_http_app."""

    core: ConsentCore
    auth: Authenticator


def _edge(request: Request) -> ConsentEdge:
    edge: ConsentEdge = request.app.state.consent
    return edge


def _core(request: Request) -> ConsentCore:
    return _edge(request).core


def _authenticated(request: Request) -> Principal:
    """Every REST operation needs a credential: checked before the request is validated."""
    p = _edge(request).auth.from_headers(request.headers)
    return refuse_anonymous(p if p.kind != "anonymous" else None, "UNAUTHENTICATED", "credentials are required")


Edge = Annotated[ConsentEdge, Depends(_edge)]
Core = Annotated[ConsentCore, Depends(_core)]
Caller = Annotated[Principal, Depends(_authenticated)]

PageSize = Annotated[int, Query(ge=0, le=1000, description="At most this many items (0: the default)")]
PageToken = Annotated[str, Query(max_length=256, description="nextPageToken of the previous page")]


def alias(*names: str) -> AliasChoices:
    return AliasChoices(*names)


def message_json(message: Message, status_code: int = 200) -> JSONResponse:
    """A carbon.v1 message as the REST answer (proto JSON, camelCase)."""
    return JSONResponse(convert.to_json(message), status_code=status_code)


def page_json(field: str, messages: Iterable[Message], token: str) -> JSONResponse:
    """One page of a List*Response: the items under `field`, and nextPageToken (always present)."""
    return JSONResponse({field: [convert.to_json(m) for m in messages], "nextPageToken": token})


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def fields(self) -> dict[str, JsonValue]:
        """The fields the client sent, under their camelCase names (proto JSON)."""
        return self.model_dump(exclude_unset=True)


class Output(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReasonBody(Input):
    reason: str = Field(default="", max_length=TEXT_CHARS)


class Link(Output):
    uri: str = Field(description="A signed one-click link for the enterprise")
