"""GET /enterprises/{uscc}/carbon-account (HTML, not in the API schema): the enterprise's own page, by a
signed link (see carbon_accounting.account_page.sign_account_page_link); `?period=` and `?lang=zh|en`."""

from __future__ import annotations

from carbon_common.reports import HTML_LANG, choose_language
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from carbon_accounting.account_page import render_account_page
from carbon_accounting.core import PageLinks
from carbon_accounting.rest import Core

router = APIRouter()


@router.get("/enterprises/{uscc}/carbon-account", response_class=HTMLResponse, include_in_schema=False)
async def enterprise_account_page(
    request: Request,
    core: Core,
    uscc: str,
    expires: int = Query(...),
    signature: str = Query(..., max_length=64),
    period: str | None = Query(None, max_length=7),
    lang: str | None = Query(None, pattern="^(zh|en)$"),
) -> HTMLResponse:
    chosen = choose_language(lang, request.headers.get("accept-language", ""))
    url = request.url
    links = PageLinks(
        period=lambda p: "?" + str(url.include_query_params(period=p).query),
        other_language="?" + str(url.include_query_params(lang="en" if chosen == "zh" else "zh").query),
    )
    page = await run_in_threadpool(core.account_page, uscc, expires, signature, period, chosen, links)
    html = await run_in_threadpool(render_account_page, page)
    return HTMLResponse(
        html,
        headers={"content-language": HTML_LANG[chosen], "vary": "accept-language", "cache-control": "no-store"},
    )
