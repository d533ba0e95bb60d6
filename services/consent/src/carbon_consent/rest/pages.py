"""/consents/...: the enterprise's one-click pages (authorise or reject one request; manage every
consent and ask for erasure). Not in the OpenAPI document.

Pages are server-rendered (Jinja2), bilingual (zh/en), no JavaScript; the signed link's token travels
in the URL and in a hidden form field, so there are no cookies (and no CSRF surface). Responses carry
no-store and no-referrer so the token does not leak into caches or other sites.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from carbon_common.errors import ServiceError, invalid_argument, permission_denied, unauthenticated
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape

from carbon_consent import domain
from carbon_consent.auth import Principal
from carbon_consent.core import ConsentCore
from carbon_consent.domain import Action, Consent, Scope, State
from carbon_consent.rest.common import Core, Edge

Label = tuple[str, str]  # (Chinese, English)

CHINA = timezone(timedelta(hours=8), "UTC+8")

SCOPE_LABELS: dict[Scope, Label] = {
    Scope.TAX_INVOICES: ("增值税电子发票", "VAT e-invoices"),
    Scope.ENERGY_METERING: ("能源计量数据", "Energy metering data"),
    Scope.CARBON_ACCOUNT: ("碳账户", "Carbon account"),
    Scope.RATING: ("碳评级", "Carbon rating"),
    Scope.REPORT: ("碳核算报告", "Carbon accounting report"),
}
PURPOSE_LABELS: dict[domain.Purpose, Label] = {
    domain.Purpose.CARBON_ACCOUNTING: ("碳排放核算", "Carbon accounting"),
    domain.Purpose.CREDIT_ASSESSMENT: ("信贷评估与贷款定价", "Credit assessment and loan pricing"),
}
STATE_LABELS: dict[State, Label] = {
    State.REQUESTED: ("待授权", "Awaiting your decision"),
    State.AUTHORIZED: ("已授权", "Authorised"),
    State.REJECTED: ("已拒绝", "Rejected"),
    State.REVOKED: ("已撤销", "Revoked"),
    State.TERMINATED: ("已终止", "Terminated by the recipient"),
    State.EXPIRED: ("已过期", "Expired"),
}
DONE_LABELS: dict[str, Label] = {
    "authorize": ("您已同意授权。", "You authorised this request."),
    "reject": ("您已拒绝该请求。", "You rejected this request."),
    "revoke": ("授权已撤销，对方将立即无法访问。", "Consent revoked; access stops immediately."),
    "erasure": ("数据删除申请已提交。", "Erasure request submitted."),
}
ERROR_LABELS: dict[int, Label] = {
    401: (
        "链接无效或已过期，请向发起方索取新的链接。",
        "This link is invalid or has expired. Please ask for a new one.",
    ),
    403: ("您无权执行此操作。", "You are not allowed to do this."),
    404: ("未找到该授权请求。", "This consent request was not found."),
}
PLATFORM_LABEL: Label = ("碳账户平台（数据采集）", "The carbon account platform (data collection)")

_SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
    ),
}

_TEMPLATES = Environment(
    loader=FileSystemLoader(str(Path(__file__).parent.parent / "templates")),
    autoescape=select_autoescape(["html"]),
)


def _fmt(value: datetime) -> str:
    return value.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")


def _fmt_date(value: datetime) -> str:
    return value.astimezone(CHINA).strftime("%Y-%m-%d")


@dataclass(frozen=True)
class ConsentView:
    """A consent as the enterprise's pages show it (China time, bilingual labels)."""

    id: str
    name: str
    grantee: Label
    scopes: list[Label]
    purpose: Label
    data_from: str
    data_to: str  # the last day inside the window
    expires: str
    days_left: int
    state: str
    state_label: Label

    @classmethod
    def of(cls, c: Consent, core: ConsentCore) -> ConsentView:
        now = core.clock()
        state = domain.effective_state(c, now)
        if c.grantee == domain.PLATFORM:
            grantee = PLATFORM_LABEL
        else:
            name = core.grantee_display_name(c.grantee)
            grantee = (name, name)
        return cls(
            id=c.id,
            name=c.name,
            grantee=grantee,
            scopes=[SCOPE_LABELS[s] for s in c.scopes],
            purpose=PURPOSE_LABELS[c.purpose],
            data_from=_fmt_date(c.data_start),
            data_to=_fmt_date(c.data_end - timedelta(microseconds=1)),
            expires=_fmt(c.expire_time),
            days_left=max(0, (c.expire_time - now).days),
            state=state.name,
            state_label=STATE_LABELS[state],
        )


def page(name: str, status: int = 200, **context: object) -> HTMLResponse:
    html = _TEMPLATES.get_template(name).render(**context)
    return HTMLResponse(html, status_code=status, headers=_SECURITY_HEADERS)


def error_page(error: ServiceError) -> HTMLResponse:
    zh, en = ERROR_LABELS.get(error.http_status, ("操作未能完成。", "The action could not be completed."))
    return page("error.html", status=error.http_status, zh=zh, en=en, detail=error.message)


def _link_holder(token: str, edge: Edge) -> Principal:
    p = edge.auth.resolve(f"Bearer {token}", "", "") if token else Principal("anonymous")
    if p.kind != "enterprise":
        raise unauthenticated("LINK_INVALID", "an enterprise link is required")
    return p


def _consent_id(p: Principal, name: str) -> str:
    parts = name.split("/")
    if len(parts) != 4 or parts[0] != "enterprises" or parts[1] != p.id or parts[2] != "consents":
        raise permission_denied("PERMISSION_DENIED", "this consent does not belong to the link's enterprise")
    return parts[3]


def _manager(p: Principal) -> Principal:
    """The management link: the enterprise's every consent (a one-click link decides one only)."""
    if p.consent:
        raise permission_denied("PERMISSION_DENIED", "this link authorises one consent only")
    return p


def _redirect(path: str, token: str, done: str) -> RedirectResponse:
    return RedirectResponse(f"{path}?{urlencode({'token': token, 'done': done})}", status_code=303)


class _PageRoute(APIRoute):
    """A page's refusal is a page too: the enterprise sees an explanation, never the API's JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except ServiceError as error:
                return error_page(error)

        return route


router = APIRouter(include_in_schema=False, route_class=_PageRoute)


@router.get("/consents/authorize", response_class=HTMLResponse)
def authorize_page(edge: Edge, core: Core, token: str = "", done: str = "") -> Response:
    p = _link_holder(token, edge)
    if not p.consent:
        return RedirectResponse(f"/consents/manage?{urlencode({'token': token})}", status_code=303)
    consent_id = _consent_id(p, p.consent)
    state = core.link_state(p, p.id, consent_id)
    if state != State.REQUESTED:
        # Used, revoked or expired: the link shows the outcome only.
        return page("link_status.html", state=state.name, label=STATE_LABELS[state], done=DONE_LABELS.get(done))
    consent = core.get_consent(p, p.id, consent_id)
    enterprise = core.link_enterprise(p)
    return page(
        "authorize.html",
        token=token,
        c=ConsentView.of(consent, core),
        enterprise=enterprise,
        done=DONE_LABELS.get(done),
    )


@router.post("/consents/authorize")
def authorize_submit(edge: Edge, core: Core, token: str = Form(""), decision: str = Form("")) -> Response:
    p = _link_holder(token, edge)
    if decision not in ("authorize", "reject") or not p.consent:
        raise invalid_argument("decision", "must be authorize or reject")
    core.transition(
        p,
        p.id,
        _consent_id(p, p.consent),
        Action(decision),
        "authorised on the one-click page" if decision == "authorize" else "rejected on the one-click page",
    )
    return _redirect("/consents/authorize", token, decision)


@router.get("/consents/manage", response_class=HTMLResponse)
def manage_page(edge: Edge, core: Core, token: str = "", done: str = "") -> Response:
    p = _manager(_link_holder(token, edge))
    consents, _ = core.list_consents(p, p.id, None, 500, "")
    enterprise = core.link_enterprise(p)
    erasures = core.recent_erasures(p, p.id)
    views = [ConsentView.of(c, core) for c in sorted(consents, key=lambda c: c.update_time, reverse=True)]
    return page(
        "manage.html",
        token=token,
        enterprise=enterprise,
        uscc=p.id,
        active=[v for v in views if v.state == "AUTHORIZED"],
        pending=[v for v in views if v.state == "REQUESTED"],
        closed=[v for v in views if v.state not in ("AUTHORIZED", "REQUESTED")][:20],
        done=DONE_LABELS.get(done),
        erasures=erasures,
    )


@router.post("/consents/manage/action")
def manage_action(
    edge: Edge, core: Core, token: str = Form(""), consent: str = Form(""), action: str = Form("")
) -> Response:
    p = _manager(_link_holder(token, edge))
    if action not in ("authorize", "reject", "revoke"):
        raise invalid_argument("action", "must be authorize, reject or revoke")
    core.transition(p, p.id, _consent_id(p, consent), Action(action), f"{action} on the management page")
    return _redirect("/consents/manage", token, action)


@router.post("/consents/manage/erasure")
def manage_erasure(edge: Edge, core: Core, token: str = Form("")) -> Response:
    p = _link_holder(token, edge)
    core.request_erasure(p, p.id, "requested on the management page")
    return _redirect("/consents/manage", token, "erasure")
