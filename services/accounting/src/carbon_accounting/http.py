"""FastAPI edge: the carbon account report (HTML / PDF).

GET /v1/enterprises/{uscc}/accounts/{period}/report?format=html|pdf
- banks: `authorization: Bearer <api key>` -> consent BankService.AuthenticateBank,
  then the consent gate with CONSENT_SCOPE_REPORT for the account's period (its
  whole month or year must lie inside the consent's data window);
- the enterprise: a signed link `?expires=<unix s>&signature=<hex>` (HMAC-SHA256
  under the service secret of "report:{uscc}:{period}:{expires}", see `sign_report_link`).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from decimal import Decimal
from typing import Annotated, Literal

import grpc
from carbon.v1 import consent_pb2, rating_pb2, rating_pb2_grpc
from carbon_common import names
from carbon_common.errors import not_found, unauthenticated
from carbon_common.http import PeriodPath, UsccPath, error_responses, install_error_handlers, security
from carbon_common.identity import bearer_token
from carbon_common.ratelimit import RateLimiter, install_rest_limits, prefix_rule
from fastapi import FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from carbon_accounting.report import ReportContext, render_html, render_pdf
from carbon_accounting.service import Access, Accountant


def sign_report_link(secret: str, uscc: str, period: str, expires: int) -> str:
    return hmac.new(secret.encode(), f"report:{uscc}:{period}:{expires}".encode(), hashlib.sha256).hexdigest()


REPORT_BODIES = {
    200: {
        "description": "The report: HTML page or PDF document",
        "content": {
            "text/html": {"schema": {"type": "string"}},
            "application/pdf": {"schema": {"type": "string", "format": "binary"}},
        },
    },
    **error_responses(404),
}


def create_app(
    accountant: Accountant,
    access: Access,
    rating_channel: grpc.Channel | None = None,
    limiter: RateLimiter | None = None,
) -> FastAPI:
    app = FastAPI(
        title="Carbon accounting reports",
        version="v1",
        description="The enterprise's carbon account report for a period, for banks with consent or the enterprise.",
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app)
    if limiter is not None:
        install_rest_limits(app, limiter, prefix_rule({"/v1/": "address"}))
    settings = accountant.settings
    ratings = rating_pb2_grpc.RatingServiceStub(rating_channel) if rating_channel is not None else None

    def authorise(uscc: str, period: str, authorization: str, expires: int | None, signature: str) -> str:
        if signature:
            if expires is None or expires < time.time():
                raise unauthenticated("LINK_EXPIRED", "the report link has expired")
            expected = sign_report_link(access.secret, uscc, period, expires)
            if not hmac.compare_digest(expected, signature):
                raise unauthenticated("LINK_INVALID", "the report link signature is invalid")
            return f"enterprises/{uscc}"
        bank = access.banks.principal(bearer_token(authorization))
        access.gate.require_period(uscc, bank, consent_pb2.CONSENT_SCOPE_REPORT, period)
        return bank

    def grade(uscc: str, period: str) -> str:
        if ratings is None or not settings.report_rating_scheme:
            return ""
        try:  # optional: never block the report on the rating service
            rating = ratings.GetRating(
                rating_pb2.GetRatingRequest(name=f"enterprises/{uscc}/ratings/{settings.report_rating_scheme}"),
                timeout=1.0,
            )
        except grpc.RpcError:
            return ""
        return rating.grade_label or rating.grade if rating.period in ("", period) else ""

    def build(uscc: str, period: str, fmt: str, authorization: str, expires: int | None, signature: str) -> Response:
        names.validate_uscc(uscc, "uscc")
        names.parse_period(period, "period")
        authorise(uscc, period, authorization, expires, signature)
        name = f"enterprises/{uscc}/accounts/{period}"
        account = accountant.store.get(name)
        if account is None:
            raise not_found(name)
        benchmark, peers = accountant.store.industry_benchmark(account.industry_code, period)
        ctx = ReportContext(account, benchmark, peers, grade(uscc, period))
        if fmt == "pdf":
            return Response(
                render_pdf(ctx),
                media_type="application/pdf",
                headers={"content-disposition": f'inline; filename="carbon-account-{uscc}-{period}.pdf"'},
            )
        return HTMLResponse(render_html(ctx))

    @app.get(
        "/v1/enterprises/{uscc}/accounts/{period}/report",
        response_class=Response,
        responses=REPORT_BODIES,
        openapi_extra=security("bankApiKey", "reportLink"),
        tags=["reports"],
        summary="The carbon account report (HTML or PDF)",
    )
    async def report(
        request: Request,
        uscc: UsccPath,
        period: PeriodPath,
        format: Literal["html", "pdf"] = "html",
        expires: Annotated[int | None, Query(ge=0, le=7_258_118_400, description="Link expiry, unix seconds")] = None,
        signature: Annotated[str, Query(max_length=64, description="Link signature (hex)")] = "",
    ) -> Response:
        authorization = request.headers.get("authorization", "")
        return await run_in_threadpool(build, uscc, period, format, authorization, expires, signature)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "factor_set": accountant.factors.version}

    _ = Decimal  # exact numbers only in the report context
    return app
