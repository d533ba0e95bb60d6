"""REST edge (FastAPI, OpenAPI at /openapi.json and /docs).

    POST /v1/banks/{bank}/quotes            create (idempotent on request_id)
    GET  /v1/banks/{bank}/quotes/{quote}    one quote of the calling bank
    GET  /v1/banks/{bank}/quotes            the calling bank's quotes, newest first
    GET  /v1/policies                       active bundle version and products
    POST /v1/policies:dryRun                draft bundle vs recent quote inputs (admin)
    POST /v1/policies:activate              make a draft bundle live (admin)

Banks authenticate with `Authorization: Bearer <api key>`; the policy admin
with `Authorization: Bearer <CARBON_PRICING_ADMIN_TOKEN>`. Errors use the
platform's JSON shape {"error": {"code", "status", "message", "details"}}.
"""

from __future__ import annotations

import asyncio
import contextvars
import hmac
from collections.abc import AsyncIterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from carbon_common.docs import install_offline_docs
from carbon_common.errors import permission_denied, unauthenticated
from carbon_common.http import (
    EXAMPLE_USCC,
    IdPath,
    bank_api_key,
    error_response,
    install_error_handlers,
    security,
)
from carbon_common.identity import bearer_token
from carbon_common.ratelimit import RateLimiter, install_rest_limits, prefix_rule
from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from carbon_pricing.core import PricingCore, QuoteInput
from carbon_pricing.quote import Quote
from carbon_pricing.settings import PricingSettings

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: error_response(400, "INVALID_ARGUMENT (BadRequest field violations) or FAILED_PRECONDITION"),
    401: error_response(401, "UNAUTHENTICATED (UNAUTHENTICATED_BANK)"),
    403: error_response(403, "PERMISSION_DENIED: CONSENT_REQUIRED / CONSENT_REVOKED / CONSENT_EXPIRED / CROSS_TENANT"),
    404: error_response(404),
    409: error_response(409, "ALREADY_EXISTS (REQUEST_ID_REUSED: same request_id, different body) or ABORTED"),
    503: error_response(503, "UNAVAILABLE: a peer service or the policy engine is down"),
}
BANK, ADMIN = "bankApiKey", "adminToken"


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


class ProductInfo(BaseModel):
    id: str
    scheme_id: str
    product_version: str
    display_name: str


class Policies(BaseModel):
    active_version: str
    engine: str
    products: list[ProductInfo]


class DryRunSummary(BaseModel):
    changed: int
    unchanged: int
    errors: int
    decision_changes: dict[str, int]
    changes_by_product: dict[str, dict[str, int]]
    total_bp_delta: int


class DryRunResult(BaseModel):
    draft_version: str
    active_version: str
    evaluated: int
    summary: DryRunSummary
    results: list[dict[str, Any]] = Field(description="One row per replayed quote input: old and new decision")


class Activated(BaseModel):
    active_version: str
    previous_version: str
    path: str


class DraftBundle(BaseModel):
    model_config = ConfigDict(extra="forbid")

    files: dict[str, str] | None = Field(
        default=None, description="Bundle files: relative path (e.g. quzhou_tanrongyi/data.json, .manifest) -> content"
    )
    draft_path: str | None = Field(default=None, description="A bundle directory under the drafts directory")
    overlay: bool = Field(default=False, description="Lay the files over the active bundle instead of a full bundle")
    revision: str | None = Field(default=None, description="Sets .manifest revision of the draft")


class DryRunRequest(DraftBundle):
    limit: int = Field(default=100, ge=1, le=10_000, description="How many of the most recent quotes to replay")


class ActivateRequest(DraftBundle):
    expected_active_version: str | None = Field(
        default=None, description="Refuse (FAILED_PRECONDITION) unless this bundle is still the active one"
    )


def create_app(
    core: PricingCore,
    settings: PricingSettings,
    limiter: RateLimiter | None = None,
    route_body_limits: Mapping[str, int] | None = None,
) -> FastAPI:
    """`route_body_limits`: larger body bounds of mounted upload routes (path regex -> bytes)."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.http_threads
        yield

    app = FastAPI(
        title="Carbon loan pricing API",
        version="v1",
        description=(
            "Prices bank loans from enterprise carbon ratings through each bank product's Rego policy. "
            "Every quote needs an authorised CONSENT_SCOPE_RATING access consent from the enterprise to the bank, "
            "is idempotent on its request_id and is recorded in a hash-chained decision log."
        ),
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app, route_body_limits=route_body_limits)
    install_offline_docs(app)
    if limiter is not None:
        install_rest_limits(
            app, limiter, prefix_rule({"/v1/": "address", "/bank/": "address"})
        )  # /bank/: the bank page, its login

    def admin(authorization: str = Header(default="", include_in_schema=False)) -> None:
        token = bearer_token(authorization)
        if not settings.pricing_admin_token:
            raise permission_denied("ADMIN_DISABLED", "policy administration is disabled (no admin token configured)")
        if not token:
            raise unauthenticated("UNAUTHENTICATED_ADMIN", "missing admin token (authorization: Bearer <token>)")
        if not hmac.compare_digest(token.encode(), settings.pricing_admin_token.encode()):
            raise permission_denied("NOT_ADMIN", "the token is not the policy admin token")

    quote_body_schema = QuoteCreate.model_json_schema(ref_template="#/components/schemas/{model}")
    # The quote's own threads: an executor hand-off costs about half of anyio.to_thread's (its queue.Queue
    # and capacity limiter were a visible share of a REST worker's profile).
    quote_threads = ThreadPoolExecutor(max_workers=settings.http_threads, thread_name_prefix="quote")

    @app.post(
        "/v1/banks/{bank}/quotes",
        response_model=Quote,
        responses=ERROR_RESPONSES,
        summary="Create a quote (idempotent on request_id)",
        tags=["quotes"],
        openapi_extra={
            "requestBody": {"required": True, "content": {"application/json": {"schema": quote_body_schema}}},
            **security(BANK),
        },
    )
    async def create_quote(request: Request, bank: IdPath) -> JSONResponse:
        # The hot path: the body is parsed by pydantic-core straight from bytes and the bearer key
        # read from the header, without FastAPI's per-request dependency solving; the blocking
        # use case (peer calls, Rego, Redis) runs on the quote threads, in the request's context (its
        # span is the parent of what the core does and the traceparent its access decision carries).
        key = bank_api_key(request)  # an anonymous caller is refused before its input is validated
        raw = await request.body()
        try:
            body = QuoteCreate.model_validate_json(raw)
        except ValidationError as error:
            raise RequestValidationError(
                [{**e, "loc": ("body", *e.get("loc", ()))} for e in error.errors(include_url=False)]
            ) from None
        record, created = await asyncio.get_running_loop().run_in_executor(
            quote_threads,
            contextvars.copy_context().run,
            lambda: core.create_quote(
                key,
                f"banks/{bank}",
                body.request_id,
                QuoteInput(body.product, body.enterprise, body.amount_cny, body.tenor_months, body.reference_rate_pct),
                prefix="",
            ),
        )
        return JSONResponse(record.to_json(), headers={"X-Idempotent-Replay": "false" if created else "true"})

    @app.get(
        "/v1/banks/{bank}/quotes/{quote}",
        response_model=Quote,
        responses=ERROR_RESPONSES,
        tags=["quotes"],
        summary="Get one of the calling bank's quotes",
        openapi_extra=security(BANK),
    )
    def get_quote(bank: IdPath, quote: IdPath, key: str = Depends(bank_api_key)) -> JSONResponse:
        return JSONResponse(core.get_quote(key, f"banks/{bank}/quotes/{quote}").to_json())

    @app.get(
        "/v1/banks/{bank}/quotes",
        response_model=QuoteList,
        responses=ERROR_RESPONSES,
        tags=["quotes"],
        summary="List the calling bank's quotes, newest first",
        openapi_extra=security(BANK),
    )
    def list_quotes(
        bank: IdPath,
        page_size: int = Query(default=50, ge=0, le=1000),
        page_token: str = Query(default="", max_length=256),
        key: str = Depends(bank_api_key),
    ) -> JSONResponse:
        records, token = core.list_quotes(key, f"banks/{bank}", page_size, page_token)
        return JSONResponse({"quotes": [r.to_json() for r in records], "next_page_token": token})

    @app.get(
        "/v1/policies",
        tags=["policies"],
        summary="Active policy bundle and products",
        response_model=None,
        responses={200: {"model": Policies, "description": "Successful Response"}, **ERROR_RESPONSES},
        openapi_extra=security(BANK, ADMIN),
    )
    def policies(key: str = Depends(bank_api_key)) -> dict[str, Any]:
        if not (
            settings.pricing_admin_token and hmac.compare_digest(key.encode(), settings.pricing_admin_token.encode())
        ):
            core.authenticate(key)
        _engine, products, version = core.policies.snapshot()
        return {
            "active_version": version,
            "engine": settings.policy_engine,
            "products": [
                {"id": p.id, "scheme_id": p.scheme_id, "product_version": p.version, "display_name": p.display_name}
                for p in products.values()
            ],
        }

    @app.post(
        "/v1/policies:dryRun",
        tags=["policies"],
        dependencies=[Depends(admin)],
        response_model=None,
        responses={200: {"model": DryRunResult, "description": "Successful Response"}, **ERROR_RESPONSES},
        summary="Evaluate a draft bundle against the most recent stored quote inputs",
        openapi_extra=security(ADMIN),
    )
    def dry_run(body: DryRunRequest) -> dict[str, Any]:
        recent = core.store.recent_inputs(body.limit)
        with core.policies.draft(body.model_dump()) as bundle:
            return core.policies.dry_run(bundle, body.limit, recent)

    @app.post(
        "/v1/policies:activate",
        tags=["policies"],
        dependencies=[Depends(admin)],
        response_model=None,
        responses={200: {"model": Activated, "description": "Successful Response"}, **ERROR_RESPONSES},
        summary="Make a draft bundle the live one on every replica",
        openapi_extra=security(ADMIN),
    )
    def activate(body: ActivateRequest) -> dict[str, Any]:
        with core.policies.draft(body.model_dump()) as bundle:
            return core.policies.activate(bundle, body.expected_active_version)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok", "policy_bundle_version": core.policies.bundle_version}

    return app
