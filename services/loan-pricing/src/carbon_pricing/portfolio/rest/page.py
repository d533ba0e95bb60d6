"""The bank's portfolio page (phone and desktop): its books' financed emissions with charts, and links to the
disclosure report, its annex and the re-pricing runs.

    GET  /bank/portfolio?book=&snapshot=&period=&lang=   the page (login form without a valid login)
    POST /bank/login                                     form api_key -> HttpOnly SameSite=Strict cookie
    POST /bank/logout

Login as the government pages do: the cookie holds the bank's API key (HttpOnly, SameSite=Strict, Secure
outside dev mode) and is checked like the Authorization header on every read, so the page shows only the
logged-in bank's books; the REST reads it links to accept the same cookie (rest/deps.py). Figures come from the
same use case as the API and the same content as the disclosure report (disclosure.build_content).
"""

from __future__ import annotations

import html
from decimal import Decimal
from typing import Annotated, Literal
from urllib.parse import parse_qs, urlencode

import anyio.to_thread
from carbon_common import limits
from carbon_common.errors import ServiceError
from carbon_common.reports import (
    HTML_LANG,
    LANGUAGES,
    PALETTE,
    Chart,
    choose_language,
    definition_list,
    html_page,
    html_table,
    language_link,
    svg_bars,
    svg_columns,
)
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from carbon_pricing.portfolio import disclosure
from carbon_pricing.portfolio.core import LoanBookCore
from carbon_pricing.portfolio.domain import tco2
from carbon_pricing.portfolio.repricing import RepricingCore
from carbon_pricing.portfolio.rest.deps import COOKIE

TREND_SNAPSHOTS = 6  # the trend chart covers the book's latest snapshots, each for its own year

TEXT: dict[str, tuple[str, str]] = {
    "title": ("贷款组合碳排放", "Loan book carbon"),
    "other_language": ("English", "中文"),
    "login_title": ("银行登录", "Bank login"),
    "api_key": ("银行 API 密钥", "Bank API key"),
    "login": ("登录", "Log in"),
    "logout": ("退出", "Log out"),
    "login_failed": ("密钥无效或已撤销。", "Unknown or revoked key."),
    "bank": ("银行", "Bank"),
    "book": ("贷款簿", "Book"),
    "snapshot": ("快照", "Snapshot"),
    "period": ("报告期（年）", "Reporting year"),
    "show": ("显示", "Show"),
    "no_books": (
        "尚无贷款簿快照：请通过 API 上传（CSV 或 Excel）。",
        "No book snapshot yet: upload one through the API (CSV or Excel).",
    ),
    "figures": ("主要指标", "Figures"),
    "trend": ("趋势", "Trend"),
    "trend_chart": ("各快照融资排放", "Financed emissions by snapshot"),
    "unit_t": ("吨二氧化碳当量", "tCO₂e"),
    "grades": ("评级分布", "Grade mix"),
    "no_grades": ("本服务未提供评级数据。", "No grades are served here."),
    "links": ("报告与附件", "Report and annex"),
    "report_html": ("披露报告（网页）", "Disclosure report (web page)"),
    "report_pdf": ("披露报告（PDF）", "Disclosure report (PDF)"),
    "annex_csv": ("逐笔计算（CSV）", "Every position (CSV)"),
    "annex_xlsx": ("逐笔计算（Excel）", "Every position (Excel)"),
    "runs": ("重新定价模拟", "Re-pricing runs"),
    "runs_note": (
        "模拟运行（非授信决定），通过 API 发起：POST /v1/banks/{bank}/repricingRuns。",
        "Simulations, not credit decisions; started through the API: POST /v1/banks/{bank}/repricingRuns.",
    ),
    "run": ("运行", "Run"),
    "product": ("产品", "Product"),
    "state": ("状态", "State"),
    "progress": ("进度", "Progress"),
    "effect": ("年利息影响（元）", "Annual interest effect (CNY)"),
    "error": ("无法显示", "Cannot show this"),
}

EXTRA_STYLE = """
header{display:flex;flex-wrap:wrap;align-items:center;justify-content:space-between;gap:8px}
form.pick{display:flex;flex-wrap:wrap;gap:8px 16px;align-items:flex-end}
form.pick label,form.login label{display:flex;flex-direction:column;font-weight:600}
select,input,button{min-height:44px;font-size:16px;padding:6px 10px}
ul.links{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:4px 16px}
ul.links a{display:inline-block;min-height:44px;padding:10px 0}
.error{color:#b00020;font-weight:600}"""


def _t(lang: str, key: str) -> str:
    return TEXT[key][LANGUAGES.index(lang)]


def router(core: LoanBookCore, secure_cookies: bool = True, runs: RepricingCore | None = None) -> APIRouter:
    api = APIRouter(include_in_schema=False)

    def language(request: Request, lang: str | None) -> str:
        return choose_language(lang, request.headers.get("accept-language", ""))

    def respond(lang: str, title: str, body: str, status: int = 200) -> HTMLResponse:
        return HTMLResponse(
            html_page(lang, title, body, EXTRA_STYLE),
            status_code=status,
            headers={"content-language": HTML_LANG[lang], "vary": "accept-language", "cache-control": "no-store"},
        )

    def login_page(lang: str, failed: bool = False) -> HTMLResponse:
        e = html.escape
        other = "/bank/portfolio?" + urlencode({"lang": "en" if lang == "zh" else "zh"})
        body = f"""{language_link(lang, _t(lang, "other_language"), other)}<h1>{e(_t(lang, "login_title"))}</h1>
{f'<p class="error" role="alert">{e(_t(lang, "login_failed"))}</p>' if failed else ""}
<form class="login" method="post" action="/bank/login?{urlencode({"lang": lang})}">
<label for="api_key">{e(_t(lang, "api_key"))}<input id="api_key" name="api_key" type="password"
 autocomplete="current-password" required maxlength="256"></label>
<p><button type="submit">{e(_t(lang, "login"))}</button></p></form>"""
        return respond(lang, _t(lang, "login_title"), body, 401 if failed else 200)

    @api.post("/bank/login")
    async def login(request: Request, lang: Annotated[Literal["zh", "en"] | None, Query()] = None) -> Response:
        chosen = language(request, lang)
        form = parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=4)
        key = (form.get("api_key") or [""])[0].strip()[: limits.current().max_name_chars]
        try:
            await anyio.to_thread.run_sync(lambda: core.authenticate(key))
        except ServiceError:
            return login_page(chosen, failed=True)
        response = RedirectResponse(f"/bank/portfolio?{urlencode({'lang': chosen})}", status_code=303)
        response.set_cookie(COOKIE, key, httponly=True, samesite="strict", secure=secure_cookies, path="/")
        return response

    @api.post("/bank/logout")
    def logout() -> Response:
        response = RedirectResponse("/bank/portfolio", status_code=303)
        response.delete_cookie(COOKIE, httponly=True, samesite="strict", secure=secure_cookies, path="/")
        return response

    @api.get("/bank/portfolio", response_class=HTMLResponse)
    def portfolio(
        request: Request,
        lang: Annotated[Literal["zh", "en"] | None, Query()] = None,
        book: Annotated[str, Query(max_length=63)] = "",
        snapshot: Annotated[str, Query(max_length=10)] = "",
        period: Annotated[str, Query(max_length=4)] = "",
    ) -> HTMLResponse:
        chosen = language(request, lang)
        key = request.cookies.get(COOKIE, "")
        if not key:
            return login_page(chosen)
        try:
            body = _portfolio_body(core, key, chosen, book, snapshot, period, runs is not None)
            body += _runs_section(runs, key, chosen)
            return respond(chosen, _t(chosen, "title"), body)
        except ServiceError as error:
            if error.http_status == 401:
                return login_page(chosen, failed=True)
            e = html.escape
            body = (
                f"<h1>{e(_t(chosen, 'error'))}</h1><p class=error role=alert>{e(error.message[:200])}</p>"
                f"<p><a href=/bank/portfolio>{e(_t(chosen, 'title'))}</a></p>"
            )
            return respond(chosen, _t(chosen, "error"), body, error.http_status)

    return api


def _portfolio_body(
    core: LoanBookCore, key: str, lang: str, book: str, snapshot: str, period: str, with_runs: bool
) -> str:
    e = html.escape

    def t(name: str) -> str:
        return _t(lang, name)

    bank, pairs = core.list_snapshots(key)
    query = {"lang": "en" if lang == "zh" else "zh", "book": book, "snapshot": snapshot, "period": period}
    other = "/bank/portfolio?" + urlencode({k: v for k, v in query.items() if v})
    logout = f'<form method="post" action="/bank/logout"><button type="submit">{e(t("logout"))}</button></form>'
    header = f"""{language_link(lang, t("other_language"), other)}
<header><h1>{e(t("title"))}</h1>{logout}</header>
{definition_list([(t("bank"), f"banks/{bank}")], "bank")}"""
    if not pairs:
        return f"{header}<p>{e(t('no_books'))}</p>"
    books = sorted({b for b, _ in pairs})
    book = book if book in books else pairs[-1][0]
    dates = [s for b, s in pairs if b == book]
    snapshot = snapshot if snapshot in dates else dates[-1]
    period = period or snapshot[:4]
    name = f"banks/{bank}/books/{book}/snapshots/{snapshot}"
    result = core.financed_emissions(key, name, period)
    base = f"/v1/{name}"
    annex = tuple(
        f"{base}:exportPositions?{urlencode({'reportingPeriod': period, 'format': f})}" for f in ("csv", "xlsx")
    )
    content = disclosure.build_content(result, core.pcaf, core.benchmarks, lang, (annex[0], annex[1]))

    def options(values: list[str], chosen: str) -> str:
        return "".join(f'<option value="{e(v)}"{" selected" if v == chosen else ""}>{e(v)}</option>' for v in values)

    pick = f"""<form class="pick" method="get" action="/bank/portfolio"><input type="hidden" name="lang" value="{lang}">
<label for="book">{e(t("book"))}<select id="book" name="book">{options(books, book)}</select></label>
<label for="snapshot">{e(t("snapshot"))}<select id="snapshot" name="snapshot">{options(dates, snapshot)}
</select></label>
<label for="period">{e(t("period"))}<input id="period" name="period" value="{e(period)}" inputmode="numeric"
 pattern="[0-9]{{4}}" maxlength="4" size="5"></label><button type="submit">{e(t("show"))}</button></form>"""
    trend_dates = dates[-TREND_SNAPSHOTS:]
    trend_values: list[Decimal] = []
    for date in trend_dates:  # each snapshot for its own year
        earlier = result if date == snapshot and period == date[:4] else None
        earlier = earlier or core.financed_emissions(key, f"banks/{bank}/books/{book}/snapshots/{date}", date[:4])
        trend_values.append(tco2(earlier.totals.financed_micro))
    trend = Chart(t("trend_chart"), t("unit_t"), trend_dates, [(t("unit_t"), PALETTE[0], trend_values)])
    report = f"{base}:disclosureReport?"
    links = [
        (f"{report}{urlencode({'reportingPeriod': period, 'lang': lang})}", t("report_html")),
        (f"{report}{urlencode({'reportingPeriod': period, 'lang': lang, 'format': 'pdf'})}", t("report_pdf")),
        (annex[0], t("annex_csv")),
        (annex[1], t("annex_xlsx")),
        *([("#runs", t("runs"))] if with_runs else []),
    ]
    h = content.headings
    items = "".join(f'<li><a href="{e(href)}">{e(label)}</a></li>' for href, label in links)
    return f"""{header}
{pick}
<h2>{e(t("figures"))}</h2>{html_table(content.overview, t("figures"), 1)}
<h2>{e(h["by_industry"])}</h2>{svg_bars(content.intensity_chart, "chart-intensity", highlight_first=False)}
<h2>{e(t("trend"))}</h2>{svg_columns(trend, "chart-trend")}
{disclosure.grades_html(content) or f"<h2>{e(t('grades'))}</h2><p>{e(t('no_grades'))}</p>"}
<h2>{e(h["quality"])}</h2>{svg_columns(content.quality_chart, "chart-quality")}
<h2>{e(t("links"))}</h2><ul class="links">{items}</ul>"""


def _runs_section(runs: RepricingCore | None, key: str, lang: str) -> str:
    """The bank's latest re-pricing runs: state, progress and annual interest effect, linked."""
    if runs is None:
        return ""
    e = html.escape
    bank = runs.books.authenticate(key)
    docs, _ = runs.list_runs(key, f"banks/{bank}", 10, "")
    rows = [[_t(lang, k) for k in ("run", "snapshot", "product", "state", "progress", "effect")]]
    rows += [
        [
            d.run_id,
            d.snapshot.rsplit("/", 1)[-1],
            d.product,
            d.state,
            f"{d.positions_done:,} / {d.positions_total:,}",
            d.annual_interest_effect_cny or "—",
        ]
        for d in docs
    ]
    links = "".join(f'<li><a href="/v1/{e(d.name)}">{e(d.run_id)}</a></li>' for d in docs)
    note = _t(lang, "runs_note").replace("{bank}", bank)
    table = html_table(rows, _t(lang, "runs"), 4) if docs else ""
    return f"""<h2 id="runs">{e(_t(lang, "runs"))}</h2><p>{e(note)}</p>{table}<ul class="links">{links}</ul>"""
