"""FastAPI edge: the carbon account report (HTML / PDF).

GET /v1/enterprises/{uscc}/accounts/{period}/report?format=html|pdf
- banks: `authorization: Bearer <api key>` -> consent BankService.AuthenticateBank,
  then the consent gate with CONSENT_SCOPE_REPORT for the account's period (its
  whole month or year must lie inside the consent's data window);
- the enterprise: a signed link `?expires=<unix s>&signature=<hex>` (HMAC-SHA256
  under the service secret of "report:{uscc}:{period}:{expires}", see `sign_report_link`).

GET /enterprises/{uscc}/carbon-account (HTML, not in the API schema): the enterprise's own page, by a signed
link (see carbon_accounting.account_page.sign_account_page_link); `?period=` and `?lang=zh|en`.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from decimal import Decimal
from typing import Annotated, Literal

import grpc
from carbon.v1 import consent_pb2, consent_pb2_grpc, enterprise_pb2, enterprise_pb2_grpc, rating_pb2, rating_pb2_grpc
from carbon_common import names
from carbon_common.docs import install_offline_docs
from carbon_common.errors import ServiceError, not_found, unauthenticated
from carbon_common.http import PeriodPath, UsccPath, error_responses, install_error_handlers, security
from carbon_common.identity import bearer_token
from carbon_common.ratelimit import RateLimiter, install_rest_limits, prefix_rule
from carbon_common.reports import HTML_LANG, choose_language
from fastapi import FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import URL

from carbon_accounting.account_page import (
    AccountPage,
    Consents,
    SchemeGrade,
    consent_item,
    render_account_page,
    scheme_grade,
    sign_account_page_link,
)
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
    consent_channel: grpc.Channel | None = None,
) -> FastAPI:
    app = FastAPI(
        title="Carbon accounting reports",
        version="v1",
        description="The enterprise's carbon account report for a period, for banks with consent or the enterprise.",
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app)
    install_offline_docs(app)
    if limiter is not None:
        install_rest_limits(app, limiter, prefix_rule({"/v1/": "address", "/enterprises/": "address"}))
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

    def enterprise_name(uscc: str) -> str:
        try:  # optional: the report shows the USCC alone rather than fail on a registry blip
            return accountant.enterprise_display_name(uscc)
        except ServiceError:
            return ""

    def build(
        uscc: str,
        period: str,
        fmt: str,
        authorization: str,
        expires: int | None,
        signature: str,
        lang: str,
        other_language_href: str,
    ) -> Response:
        names.validate_uscc(uscc, "uscc")
        names.parse_period(period, "period")
        authorise(uscc, period, authorization, expires, signature)
        name = f"enterprises/{uscc}/accounts/{period}"
        account = accountant.store.get(name)
        if account is None:
            raise not_found(name)
        benchmark, peers = accountant.store.industry_benchmark(account.industry_code, period)
        ctx = ReportContext(
            account,
            benchmark,
            peers,
            grade(uscc, period),
            display_name=enterprise_name(uscc),
            lang=lang,
            other_language_href=other_language_href,
        )
        if fmt == "pdf":
            return Response(
                render_pdf(ctx),
                media_type="application/pdf",
                headers={"content-disposition": f'inline; filename="carbon-account-{uscc}-{period}.pdf"'},
            )
        return HTMLResponse(render_html(ctx), headers={"content-language": HTML_LANG[lang], "vary": "accept-language"})

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
        lang: Annotated[Literal["zh", "en"] | None, Query(description="Report language; default Chinese")] = None,
    ) -> Response:
        authorization = request.headers.get("authorization", "")
        chosen = choose_language(lang, request.headers.get("accept-language", ""))
        other = "en" if chosen == "zh" else "zh"
        href = "?" + str(request.url.include_query_params(lang=other).query)
        return await run_in_threadpool(build, uscc, period, format, authorization, expires, signature, chosen, href)

    def scheme_grades(uscc: str) -> list[SchemeGrade]:
        """The enterprise's grade under every scheme; optional (an empty list when rating is down)."""
        if ratings is None:
            return []
        try:
            schemes = ratings.ListSchemes(rating_pb2.ListSchemesRequest(page_size=100), timeout=1.0).schemes
        except grpc.RpcError:
            return []
        found = []
        for scheme in schemes:
            scheme_id = scheme.name.rsplit("/", 1)[-1]
            try:
                r = ratings.GetRating(
                    rating_pb2.GetRatingRequest(name=f"enterprises/{uscc}/ratings/{scheme_id}"), timeout=1.0
                )
            except grpc.RpcError:
                continue
            found.append(scheme_grade(scheme.display_name or scheme_id, r))
        return found

    def consents_of(uscc: str) -> Consents:
        """The enterprise's consents and a management link from consent; optional, as the grades are."""
        if consent_channel is None:
            return Consents(None)
        try:
            listed = consent_pb2_grpc.ConsentServiceStub(consent_channel).ListConsents(
                consent_pb2.ListConsentsRequest(parent=f"enterprises/{uscc}", page_size=100), timeout=1.0
            )
            link = enterprise_pb2_grpc.EnterpriseServiceStub(consent_channel).GenerateManageLink(
                enterprise_pb2.GenerateManageLinkRequest(enterprise=f"enterprises/{uscc}"), timeout=1.0
            )
        except grpc.RpcError:
            return Consents(None)
        newest = sorted(listed.consents, key=lambda c: c.update_time.ToDatetime(), reverse=True)
        return Consents(tuple(consent_item(c) for c in newest), link.uri)

    def account_page(uscc: str, expires: int, signature: str, period: str | None, lang: str, url: URL) -> HTMLResponse:
        names.validate_uscc(uscc, "uscc")
        if expires < time.time():
            raise unauthenticated("LINK_EXPIRED", "the account page link has expired")
        if not hmac.compare_digest(sign_account_page_link(access.secret, uscc, expires), signature):
            raise unauthenticated("LINK_INVALID", "the account page link signature is invalid")
        if period is not None:
            names.parse_period(period, "period")
        periods = sorted(accountant.store.periods(uscc), key=lambda p: (p[:4], len(p) == 4, p), reverse=True)
        chosen = period or next((p for p in periods if len(p) == 4), periods[0] if periods else None)
        display_name = enterprise_name(uscc)
        selected = None
        report_links = ("", "")
        if chosen is not None:
            account = accountant.store.get(f"enterprises/{uscc}/accounts/{chosen}")
            if account is None:
                raise not_found(f"enterprises/{uscc}/accounts/{chosen}")
            benchmark, peers = accountant.store.industry_benchmark(account.industry_code, chosen)
            selected = ReportContext(account, benchmark, peers, "", display_name=display_name, lang=lang)
            report = f"/v1/enterprises/{uscc}/accounts/{chosen}/report"
            query = f"expires={expires}&signature={sign_report_link(access.secret, uscc, chosen, expires)}&lang={lang}"
            report_links = (f"{report}?{query}", f"{report}?{query}&format=pdf")
        page = AccountPage(
            uscc,
            display_name,
            lang,
            [(p, "?" + str(url.include_query_params(period=p).query)) for p in periods],
            selected,
            scheme_grades(uscc),
            report_links,
            "?" + str(url.include_query_params(lang="en" if lang == "zh" else "zh").query),
            consents_of(uscc),
        )
        return HTMLResponse(
            render_account_page(page),
            headers={"content-language": HTML_LANG[lang], "vary": "accept-language", "cache-control": "no-store"},
        )

    @app.get("/enterprises/{uscc}/carbon-account", response_class=HTMLResponse, include_in_schema=False)
    async def enterprise_account_page(
        request: Request,
        uscc: str,
        expires: int = Query(...),
        signature: str = Query(..., max_length=64),
        period: str | None = Query(None, max_length=7),
        lang: str | None = Query(None, pattern="^(zh|en)$"),
    ) -> HTMLResponse:
        chosen = choose_language(lang, request.headers.get("accept-language", ""))
        return await run_in_threadpool(account_page, uscc, expires, signature, period, chosen, request.url)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "factor_set": accountant.factors.version}

    _ = Decimal  # exact numbers only in the report context
    return app
