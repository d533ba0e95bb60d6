"""The enterprise's own carbon account page: its periods, emissions, grades under each scheme (what decided
them and what would move them up a grade), its consents with revocation, and reports.

Reached by a signed link (as the consent pages are): `?expires=<unix s>&signature=<hex>`, HMAC-SHA256 under
the service secret of "account-page:{uscc}:{expires}" (see `sign_account_page_link`). The platform issues it
with `python -m carbon_accounting.account_page <uscc> --base-url https://...` (CARBON_SERVICE_SECRET).

Consents belong to the consent service: the page lists them (ListConsents) and revokes one through consent's
own management flow, a form posting to its /consents/manage/action with a management link that consent
signs for the page (EnterpriseService/GenerateManageLink).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import html
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, timedelta, timezone
from urllib.parse import parse_qs, urlencode, urlsplit

from carbon.v1 import consent_pb2, rating_pb2
from carbon_common.errors import ServiceError
from carbon_common.names import validate_uscc
from carbon_common.reports import LANGUAGES, html_page

from carbon_accounting.report import ReportContext, account_sections, build_content, identity_list, language_switch
from carbon_accounting.settings import AccountingSettings

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
    "next": ("如何升一级", "What would move you up a grade"),
    "best": ("已是最高等级。", "Already the best grade."),
    "consents": ("我的授权", "My consents"),
    "no_consents": ("暂无授权。", "No consents yet."),
    "consents_unavailable": ("授权信息暂不可用。", "Consents are unavailable right now."),
    "grantee": ("授权对象", "Granted to"),
    "scopes": ("数据范围", "Data"),
    "state": ("状态", "State"),
    "until": ("有效期至", "Valid until"),
    "revoke": ("撤销授权", "Revoke"),
    "manage": ("管理全部授权", "Manage all consents"),
}
SCOPE_TEXT = {
    consent_pb2.CONSENT_SCOPE_TAX_INVOICES: ("增值税电子发票", "VAT e-invoices"),
    consent_pb2.CONSENT_SCOPE_ENERGY_METERING: ("能源计量数据", "Energy metering data"),
    consent_pb2.CONSENT_SCOPE_CARBON_ACCOUNT: ("碳账户", "Carbon account"),
    consent_pb2.CONSENT_SCOPE_RATING: ("碳评级", "Carbon rating"),
    consent_pb2.CONSENT_SCOPE_REPORT: ("碳核算报告", "Carbon accounting report"),
}
STATE_TEXT = {
    consent_pb2.Consent.STATE_REQUESTED: ("待授权", "Awaiting your decision"),
    consent_pb2.Consent.STATE_AUTHORIZED: ("已授权", "Authorised"),
    consent_pb2.Consent.STATE_REJECTED: ("已拒绝", "Rejected"),
    consent_pb2.Consent.STATE_REVOKED: ("已撤销", "Revoked"),
    consent_pb2.Consent.STATE_TERMINATED: ("已终止", "Terminated"),
    consent_pb2.Consent.STATE_EXPIRED: ("已过期", "Expired"),
}
CHINA = timezone(timedelta(hours=8))
# The page's own pieces over the report's style (carbon_common.reports.PAGE_STYLE): grade cards, consents.
PAGE_STYLE = """
.grade-card,li.consent{border:1px solid #ccc;border-radius:6px;padding:4px 12px;margin:8px 0}
.grade-card h3{font-size:1.05rem;margin:.4em 0}ul.consents{list-style:none;padding:0}
.swatch{display:inline-block;width:14px;height:14px;margin:0 6px 0 2px;vertical-align:-2px;border:1px solid #555}
#manage-consents{display:inline-block;min-height:44px;padding:10px 8px}
button{min-height:44px;padding:8px 16px;font-size:1rem;border-radius:4px;border:1px solid #b71c1c;
background:#b71c1c;color:#fff;cursor:pointer}"""
LINK_DAYS = 30
HEX_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")  # only a colour reaches the style attribute


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
    next_grade: tuple[str, str] = ("", "")  # (zh, en) what would move it up; empty at the best grade
    colour: str = ""  # "#rrggbb" of the grade, from the scheme (Rating.grade_colour); "" when none


def scheme_grade(scheme_name: str, rating: rating_pb2.Rating) -> SchemeGrade:
    """The page's view of one Rating message."""
    step = rating.next_grade if rating.HasField("next_grade") else None
    return SchemeGrade(
        scheme_name,
        (rating.grade_label_zh or rating.grade_label or rating.grade, rating.grade_label or rating.grade),
        (rating.explanation_zh or rating.explanation, rating.explanation),
        tuple(rating.deciding_thresholds),
        rating.national_percentile.value,
        (step.explanation_zh or step.explanation, step.explanation) if step is not None else ("", ""),
        rating.grade_colour if HEX_COLOUR.fullmatch(rating.grade_colour) else "",
    )


@dataclass(frozen=True)
class ConsentItem:
    name: str  # enterprises/{uscc}/consents/{id}
    grantee: str
    scopes: tuple[tuple[str, str], ...]  # (zh, en) each
    state: tuple[str, str]
    authorized: bool
    until: str  # YYYY-MM-DD (UTC+8)


def consent_item(consent: consent_pb2.Consent, grantee_name: str = "") -> ConsentItem:
    until = consent.expire_time.ToDatetime(tzinfo=UTC).astimezone(CHINA).strftime("%Y-%m-%d")
    return ConsentItem(
        consent.name,
        grantee_name or consent.grantee,
        tuple(SCOPE_TEXT.get(s, (str(s), str(s))) for s in consent.scopes),
        STATE_TEXT.get(consent.state, ("", "")),
        consent.state == consent_pb2.Consent.STATE_AUTHORIZED,
        until,
    )


@dataclass(frozen=True)
class Consents:
    """The enterprise's consents and consent's management link (None: the consent service did not answer)."""

    items: tuple[ConsentItem, ...] | None
    manage_uri: str = ""

    @property
    def action(self) -> tuple[str, str]:
        """(form action, token) of consent's management flow, from the management link."""
        parts = urlsplit(self.manage_uri)
        token = parse_qs(parts.query).get("token", [""])[0]
        return f"{parts.scheme}://{parts.netloc}/consents/manage/action", token


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
    consents: Consents = field(default_factory=lambda: Consents(None))


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
        return html_page(lang, f"{t('title')} · {name}", body, PAGE_STYLE)
    content = build_content(page.selected)
    selected_period = page.selected.account.period
    current = ' aria-current="page"'
    nav = " ".join(
        f'<a href="{e(href)}"{current if period == selected_period else ""}>{e(period)}</a>'
        for period, href in page.periods
    )
    grades = grades_html(page.grades, i)
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
        + consents_html(page.consents, i)
        + reports
    )
    return html_page(lang, f"{t('title')} · {name} · {selected_period}", body, PAGE_STYLE)


def grades_html(grades: Sequence[SchemeGrade], i: int) -> str:
    """One card per scheme (a phone reads down, not across): grade, why, thresholds, next grade, percentile."""
    e = html.escape

    def t(key: str) -> str:
        return PAGE_TEXT[key][i]

    if not grades:
        return f'<p id="grades">{e(t("no_grade"))}</p>'
    cards = []
    for g in grades:
        rows = [("why", g.explanation[i]), ("thresholds", "; ".join(g.thresholds))]
        rows.append(("next", g.next_grade[i] or t("best")))
        if g.percentile:
            rows.append(("percentile", g.percentile))
        items = "".join(
            f"<dt>{e(t(k))}</dt><dd{' class=next-grade' if k == 'next' else ''}>{e(v)}</dd>" for k, v in rows
        )
        # the grade in its scheme's colour (Quzhou's dark green ... red): the card's edge and a swatch by the label
        edge = f' style="border-left:10px solid {g.colour}"' if g.colour else ""
        swatch = f'<span class="swatch" style="background:{g.colour}"></span>' if g.colour else ""
        cards.append(
            f'<section class="grade-card" data-scheme="{e(g.scheme)}" aria-label="{e(g.scheme)}"{edge}>'
            f'<h3>{e(g.scheme)}：{swatch}<span class="grade">{e(g.grade[i])}</span></h3><dl>{items}</dl></section>'
        )
    return f'<div id="grades">{"".join(cards)}</div>'


def consents_html(consents: Consents, i: int) -> str:
    """The enterprise's consents; an authorised one has a revoke button that posts to consent's own flow."""
    e = html.escape

    def t(key: str) -> str:
        return PAGE_TEXT[key][i]

    heading = f'<h2 id="consents-heading">{e(t("consents"))}</h2>'
    section = '<section id="consents" aria-labelledby="consents-heading">'
    if consents.items is None:
        return f"{section}{heading}<p>{e(t('consents_unavailable'))}</p></section>"
    if not consents.items:
        body = f"<p>{e(t('no_consents'))}</p>"
    else:
        action, token = consents.action
        cards = []
        for c in consents.items:
            revoke = ""
            if c.authorized and token:
                revoke = (
                    f'<form method="post" action="{e(action)}"><input type="hidden" name="token" value="{e(token)}">'
                    f'<input type="hidden" name="consent" value="{e(c.name)}"><input type="hidden" name="action" '
                    f'value="revoke"><button class="revoke" aria-label="{e(t("revoke"))}: {e(c.grantee)}">'
                    f"{e(t('revoke'))}</button></form>"
                )
            scopes = "、".join(s[i] for s in c.scopes) if i == 0 else ", ".join(s[i] for s in c.scopes)
            rows = (("grantee", c.grantee), ("scopes", scopes), ("state", c.state[i]), ("until", c.until))
            items = "".join(f'<dt>{e(t(k))}</dt><dd class="{k}">{e(v)}</dd>' for k, v in rows)
            cards.append(f'<li class="consent" data-consent="{e(c.name)}"><dl>{items}</dl>{revoke}</li>')
        body = f'<ul class="consents">{"".join(cards)}</ul>'
    manage = (
        f'<p><a id="manage-consents" href="{e(consents.manage_uri)}">{e(t("manage"))}</a></p>'
        if consents.manage_uri
        else ""
    )
    return f"{section}{heading}{body}{manage}</section>"


# --------------------------------------------------------------------------- issuing the link


def account_page_link(secret: str, base_url: str, uscc: str, expires: int) -> str:
    query = urlencode({"expires": expires, "signature": sign_account_page_link(secret, uscc, expires)})
    return f"{base_url.rstrip('/')}/enterprises/{uscc}/carbon-account?{query}"


def main(argv: Sequence[str] | None = None) -> int:
    """Print a signed link to an enterprise's account page (for its contact, as consent's manage links are)."""
    parser = argparse.ArgumentParser(prog="python -m carbon_accounting.account_page", description=main.__doc__)
    parser.add_argument("uscc", help="the enterprise's unified social credit code")
    parser.add_argument("--base-url", required=True, help="public base URL of the accounting service")
    parser.add_argument("--days", type=int, default=LINK_DAYS, help=f"valid this many days (default {LINK_DAYS})")
    args = parser.parse_args(argv)
    try:
        validate_uscc(args.uscc, "uscc")
    except ServiceError as error:
        parser.error(error.message)
    if not 1 <= args.days <= 366:
        parser.error("--days must be 1..366")
    secret = AccountingSettings().effective_service_secret()
    expires = int(time.time()) + args.days * 86400
    print(account_page_link(secret, args.base_url, args.uscc, expires))
    return 0


if __name__ == "__main__":
    sys.exit(main())
