"""Quotes of the calling bank: POST /v1/banks/{bank}/quotes (idempotent on request_id), GET one, GET the list."""

from __future__ import annotations

import asyncio
import contextvars
from typing import Annotated

from carbon_common.http import EXAMPLE_USCC, IdPath, bank_api_key, security
from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from carbon_pricing.core import QuoteInput
from carbon_pricing.quote import Quote
from carbon_pricing.rest.deps import BANK, ERROR_RESPONSES, Edge, PricingEdge

BankKey = Annotated[str, Depends(bank_api_key)]


class QuoteCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "request_id": "6f1c2a9e-0d5b-4b61-9f0a-1c2d3e4f5a6b",
                    "product": "quzhou_tanrongyi",
                    "enterprise": f"enterprises/{EXAMPLE_USCC}",
                    "amount_cny": "1000000.00",
                    "tenor_months": 12,
                    "reference_rate_pct": "3.45",
                }
            ]
        },
    )

    request_id: str = Field(
        min_length=1, max_length=128, description="Client request id (AIP-155); repeating it returns the same quote"
    )
    product: str = Field(
        max_length=63, description="Bank product id, e.g. quzhou_tanrongyi, shenzhen_jiangtandai, wuyi_jiantandai"
    )
    enterprise: str = Field(max_length=64, description="enterprises/{uscc} (or the bare 18-character USCC)")
    amount_cny: str = Field(max_length=32, description="Loan amount, decimal string, at most 2 decimals")
    tenor_months: int = Field(description="Tenor in months, 1..600")
    reference_rate_pct: str = Field(
        max_length=16, description="LPR plus the bank's spread, percent per year, decimal string"
    )


class QuoteList(BaseModel):
    quotes: list[Quote]
    next_page_token: str


router = APIRouter(tags=["quotes"])
_QUOTE_BODY_SCHEMA = QuoteCreate.model_json_schema(ref_template="#/components/schemas/{model}")


@router.post(
    "/v1/banks/{bank}/quotes",
    response_model=Quote,
    responses=ERROR_RESPONSES,
    summary="Create a quote (idempotent on request_id)",
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": _QUOTE_BODY_SCHEMA}}},
        **security(BANK),
    },
)
async def create_quote(request: Request, bank: IdPath) -> JSONResponse:
    # The hot path: the body is parsed by pydantic-core straight from bytes and the bearer key
    # read from the header, without FastAPI's per-request dependency solving (so no Edge
    # dependency either); the blocking use case (peer calls, Rego, Redis) runs on the quote
    # threads, in the request's context (its span is the parent of what the core does and the
    # traceparent its access decision carries).
    key = bank_api_key(request)  # an anonymous caller is refused before its input is validated
    edge: PricingEdge = request.app.state.pricing
    raw = await request.body()
    try:
        body = QuoteCreate.model_validate_json(raw)
    except ValidationError as error:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e.get("loc", ()))} for e in error.errors(include_url=False)]
        ) from None
    record, created = await asyncio.get_running_loop().run_in_executor(
        edge.quote_threads,
        contextvars.copy_context().run,
        lambda: edge.core.create_quote(
            key,
            f"banks/{bank}",
            body.request_id,
            QuoteInput(body.product, body.enterprise, body.amount_cny, body.tenor_months, body.reference_rate_pct),
            prefix="",
        ),
    )
    return JSONResponse(record.to_json(), headers={"X-Idempotent-Replay": "false" if created else "true"})


@router.get(
    "/v1/banks/{bank}/quotes/{quote}",
    response_model=Quote,
    responses=ERROR_RESPONSES,
    summary="Get one of the calling bank's quotes",
    openapi_extra=security(BANK),
)
def get_quote(bank: IdPath, quote: IdPath, key: BankKey, edge: Edge) -> JSONResponse:
    return JSONResponse(edge.core.get_quote(key, f"banks/{bank}/quotes/{quote}").to_json())


@router.get(
    "/v1/banks/{bank}/quotes",
    response_model=QuoteList,
    responses=ERROR_RESPONSES,
    summary="List the calling bank's quotes, newest first",
    openapi_extra=security(BANK),
)
def list_quotes(
    bank: IdPath,
    key: BankKey,
    edge: Edge,
    page_size: Annotated[int, Query(ge=0, le=1000)] = 50,
    page_token: Annotated[str, Query(max_length=256)] = "",
) -> JSONResponse:
    records, token = edge.core.list_quotes(key, f"banks/{bank}", page_size, page_token)
    return JSONResponse({"quotes": [r.to_json() for r in records], "next_page_token": token})
