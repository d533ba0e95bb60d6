"""The enterprise's own carbon account page: its periods, emissions, grades under each scheme and reports.

Reached by a signed link (as the consent pages are): `?expires=<unix s>&signature=<hex>`, HMAC-SHA256 under
the service secret of "account-page:{uscc}:{expires}" (see `sign_account_page_link`).
"""

from __future__ import annotations

import hashlib
import hmac
import html
from dataclasses import dataclass

from carbon_common.reports import LANGUAGES, html_page

from carbon_accounting.report import ReportContext, account_sections, build_content, identity_list, language_switch

PAGE_TEXT: dict[str, tuple[str, str]] = {
    "title": ("我的碳账户", "My carbon account"),
    "periods": ("核算期间", "Periods"),
    "no_account": ("尚无核算结果：数据接入后会自动核算。", "No account yet: it is computed once data arrives."),
    "no_grade": (
        "暂无评级，或评级服务暂不可用。",
        "No grade yet, or the rating service is unavailable.",
    ),
    "scheme": ("评级方案", "Scheme"),
    "grade": ("等级", "Grade"),
    "why": ("原因", "Why"),
    "thresholds": ("决定等级的阈值", "Thresholds that decided it"),
    "percentile": ("全国同业百分位（越高越好）", "National percentile in the industry (higher is better)"),
    "reports": ("报告", "Reports"),
    "report_html": ("网页版报告", "Report (web page)"),
    "report_pdf": ("PDF 报告", "Report (PDF)"),
}


def sign_account_page_link(secret: str, uscc: str, expires: int) -> str:
    return hmac.new(secret.encode(), f"account-page:{uscc}:{expires}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class SchemeGrade:
    """One scheme's grade of the enterprise, with what decided it (from the rating service)."""

    scheme: str
    grade: tuple[str, str]  # (zh, en) label
    explanation: tuple[str, str]  # (zh, en)
    thresholds: tuple[str, ...]
    percentile: str  # "" when the scheme has none


@dataclass(frozen=True)
class AccountPage:
    uscc: str
    display_name: str
    lang: str
    periods: list[tuple[str, str]]  # (period, href), newest first
    selected: ReportContext | None  # the account shown; None when nothing is computed yet
    grades: list[SchemeGrade]
    report_links: tuple[str, str] = ("", "")  # (HTML, PDF) signed report links of the selected period
    other_language_href: str = ""


def render_account_page(page: AccountPage) -> str:
    lang = page.lang if page.lang in LANGUAGES else LANGUAGES[0]
    i = LANGUAGES.index(lang)
    e = html.escape

    def t(key: str) -> str:
        return PAGE_TEXT[key][i]

    name = page.display_name or page.uscc
    if page.selected is None:
        body = (
            f"<h1>{e(t('title'))}</h1><p>{e(name)}</p><p>{e(page.uscc)}</p><p id='no-account'>{e(t('no_account'))}</p>"
        )
        return html_page(lang, f"{t('title')} · {name}", body)
    content = build_content(page.selected)
    selected_period = page.selected.account.period
    current = ' aria-current="page"'
    nav = " ".join(
        f'<a href="{e(href)}"{current if period == selected_period else ""}>{e(period)}</a>'
        for period, href in page.periods
    )
    if page.grades:
        rows = "".join(
            f'<tr data-scheme="{e(g.scheme)}"><td>{e(g.scheme)}</td><td class="grade">{e(g.grade[i])}</td>'
            f"<td>{e(g.explanation[i])}</td><td>{e('; '.join(g.thresholds))}</td>"
            f"<td class=n>{e(g.percentile)}</td></tr>"
            for g in page.grades
        )
        head = "".join(
            f'<th scope="col">{e(t(k))}</th>' for k in ("scheme", "grade", "why", "thresholds", "percentile")
        )
        grades = f'<div class="scroll" tabindex="0"><table id="grades"><tr>{head}</tr>{rows}</table></div>'
    else:
        grades = f'<p id="grades">{e(t("no_grade"))}</p>'
    html_link, pdf_link = page.report_links
    reports = (
        f'<h2>{e(t("reports"))}</h2><nav aria-label="{e(t("reports"))}"><a id="report-html" href="{e(html_link)}">'
        f'{e(t("report_html"))}</a> <a id="report-pdf" href="{e(pdf_link)}">{e(t("report_pdf"))}</a></nav>'
        if html_link
        else ""
    )
    body = (
        f"{language_switch(content, page.other_language_href)}<h1>{e(t('title'))}</h1>\n{identity_list(content)}\n"
        f'<nav id="periods" aria-label="{e(t("periods"))}"><strong>{e(t("periods"))}</strong> {nav}</nav>\n'
        + account_sections(content, grades)
        + reports
    )
    return html_page(lang, f"{t('title')} · {name} · {selected_period}", body)
