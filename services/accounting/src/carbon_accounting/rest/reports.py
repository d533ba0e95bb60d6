"""GET /v1/enterprises/{uscc}/accounts/{period}/report?format=html|pdf: the carbon account report.

- banks: `authorization: Bearer <api key>` -> consent BankService.AuthenticateBank,
  then the consent gate with CONSENT_SCOPE_REPORT for the account's period (its
  whole month or year must lie inside the consent's data window);
- the enterprise: a signed link `?expires=<unix s>&signature=<hex>` (HMAC-SHA256
  under the service secret of "report:{uscc}:{period}:{expires}", see core.sign_report_link).
"""

from __future__ import annotations

from typing import Annotated, Literal

from carbon_common.http import PeriodPath, UsccPath, error_responses, security
from carbon_common.reports import HTML_LANG, choose_language
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from carbon_accounting.report import render_html, render_pdf
from carbon_accounting.rest import Core

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

router = APIRouter(tags=["reports"])


@router.get(
    "/v1/enterprises/{uscc}/accounts/{period}/report",
    response_class=Response,
    responses=REPORT_BODIES,
    openapi_extra=security("bankApiKey", "reportLink"),
    summary="The carbon account report (HTML or PDF)",
)
async def report(
    request: Request,
    core: Core,
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
    ctx = await run_in_threadpool(core.report, uscc, period, authorization, expires, signature, chosen, href)
    if format == "pdf":
        pdf = await run_in_threadpool(render_pdf, ctx)
        return Response(
            pdf,
            media_type="application/pdf",
            headers={"content-disposition": f'inline; filename="carbon-account-{uscc}-{period}.pdf"'},
        )
    html = await run_in_threadpool(render_html, ctx)
    return HTMLResponse(html, headers={"content-language": HTML_LANG[chosen], "vary": "accept-language"})
