"""HTTP edge (FastAPI): REST API under /v1, enterprise pages under /consents.

Pages are server-rendered (Jinja2), bilingual (zh/en), no JavaScript; the
signed link's token travels in the URL and in a hidden form field, so there
are no cookies (and no CSRF surface). Responses carry no-store and
no-referrer so the token does not leak into caches or other sites.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from carbon_common.errors import ServiceError, invalid_argument, permission_denied, unauthenticated
from carbon_common.http import install_error_handlers
from carbon_common.names import parse_bank, validate_uscc
from fastapi import Body, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from carbon_consent import convert, domain
from carbon_consent.auth import Authenticator, Principal
from carbon_consent.core import ConsentCore
from carbon_consent.domain import Action, Consent, Scope, State

JsonBody = Annotated[dict[str, Any], Body()]
OptionalBody = Annotated[dict[str, Any] | None, Body()]

CHINA = timezone(timedelta(hours=8), "UTC+8")

SCOPE_LABELS = {
    Scope.TAX_INVOICES: ("增值税电子发票", "VAT e-invoices"),
    Scope.ENERGY_METERING: ("能源计量数据", "Energy metering data"),
    Scope.CARBON_ACCOUNT: ("碳账户", "Carbon account"),
    Scope.RATING: ("碳评级", "Carbon rating"),
    Scope.REPORT: ("碳核算报告", "Carbon accounting report"),
}
PURPOSE_LABELS = {
    domain.Purpose.CARBON_ACCOUNTING: ("碳排放核算", "Carbon accounting"),
    domain.Purpose.CREDIT_ASSESSMENT: ("信贷评估与贷款定价", "Credit assessment and loan pricing"),
}
STATE_LABELS = {
    State.REQUESTED: ("待授权", "Awaiting your decision"),
    State.AUTHORIZED: ("已授权", "Authorised"),
    State.REJECTED: ("已拒绝", "Rejected"),
    State.REVOKED: ("已撤销", "Revoked"),
    State.TERMINATED: ("已终止", "Terminated by the recipient"),
    State.EXPIRED: ("已过期", "Expired"),
}
DONE_LABELS = {
    "authorize": ("您已同意授权。", "You authorised this request."),
    "reject": ("您已拒绝该请求。", "You rejected this request."),
    "revoke": ("授权已撤销，对方将立即无法访问。", "Consent revoked; access stops immediately."),
    "erasure": ("数据删除申请已提交。", "Erasure request submitted."),
}

_SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
    ),
}


def _fmt(value: datetime) -> str:
    return value.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")


def _fmt_date(value: datetime) -> str:
    return value.astimezone(CHINA).strftime("%Y-%m-%d")


def create_app(core: ConsentCore, auth: Authenticator) -> FastAPI:
    app = FastAPI(title="Carbon consent service", version="1.0", docs_url="/docs", redoc_url=None)
    install_error_handlers(app)
    templates = Environment(
        loader=FileSystemLoader(str(Path(__file__).parent / "templates")),
        autoescape=select_autoescape(["html"]),
    )

    def principal(request: Request) -> Principal:
        return auth.from_headers(request.headers)

    # ------------------------------------------------------------ presentation helpers

    def grantee_label(grantee: str) -> tuple[str, str]:
        if grantee == domain.PLATFORM:
            return ("碳账户平台（数据采集）", "The carbon account platform (data collection)")
        bank = core.store.get_bank(grantee.split("/", 1)[1]) if grantee.startswith("banks/") else None
        name = bank.display_name if bank else grantee
        return (name, name)

    def view(c: Consent) -> dict[str, Any]:
        now = core.clock()
        state = domain.effective_state(c, now)
        return {
            "id": c.id,
            "name": c.name,
            "grantee": grantee_label(c.grantee),
            "scopes": [SCOPE_LABELS[s] for s in c.scopes],
            "purpose": PURPOSE_LABELS[c.purpose],
            "data_from": _fmt_date(c.data_start),
            "data_to": _fmt_date(c.data_end - timedelta(microseconds=1)),
            "expires": _fmt(c.expire_time),
            "days_left": max(0, (c.expire_time - now).days),
            "state": state.name,
            "state_label": STATE_LABELS[state],
            "history": [
                {"time": _fmt(t.time), "to": STATE_LABELS[t.to_state], "actor": t.actor, "reason": t.reason}
                for t in c.history
            ],
        }

    def page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = templates.get_template(name).render(**context)
        return HTMLResponse(html, status_code=status, headers=_SECURITY_HEADERS)

    def error_page(error: ServiceError) -> HTMLResponse:
        messages = {
            401: (
                "链接无效或已过期，请向发起方索取新的链接。",
                "This link is invalid or has expired. Please ask for a new one.",
            ),
            403: ("您无权执行此操作。", "You are not allowed to do this."),
            404: ("未找到该授权请求。", "This consent request was not found."),
        }
        zh, en = messages.get(error.http_status, ("操作未能完成。", "The action could not be completed."))
        return page("error.html", status=error.http_status, zh=zh, en=en, detail=error.message)

    def page_principal(token: str) -> Principal:
        p = auth.resolve(f"Bearer {token}", "", "") if token else Principal("anonymous")
        if p.kind != "enterprise":
            raise unauthenticated("LINK_INVALID", "an enterprise link is required")
        return p

    def consent_id_from(p: Principal, name: str) -> str:
        parts = name.split("/")
        if len(parts) != 4 or parts[0] != "enterprises" or parts[1] != p.id or parts[2] != "consents":
            raise permission_denied("PERMISSION_DENIED", "this consent does not belong to the link's enterprise")
        return parts[3]

    # ------------------------------------------------------------ pages

    @app.get("/consents/authorize", response_class=HTMLResponse)
    def authorize_page(token: str = "", done: str = "") -> Response:
        try:
            p = page_principal(token)
            if not p.consent:
                return RedirectResponse(f"/consents/manage?{urlencode({'token': token})}", status_code=303)
            consent = core.get_consent(p, p.id, consent_id_from(p, p.consent))
            enterprise = core.store.get_enterprise(p.id)
        except ServiceError as error:
            return error_page(error)
        return page(
            "authorize.html",
            token=token,
            c=view(consent),
            enterprise=enterprise,
            done=DONE_LABELS.get(done),
        )

    @app.post("/consents/authorize")
    def authorize_submit(token: str = Form(""), decision: str = Form("")) -> Response:
        try:
            p = page_principal(token)
            if decision not in ("authorize", "reject") or not p.consent:
                raise invalid_argument("decision", "must be authorize or reject")
            core.transition(
                p,
                p.id,
                consent_id_from(p, p.consent),
                Action(decision),
                "authorised on the one-click page" if decision == "authorize" else "rejected on the one-click page",
            )
        except ServiceError as error:
            return error_page(error)
        return RedirectResponse(f"/consents/authorize?{urlencode({'token': token, 'done': decision})}", status_code=303)

    @app.get("/consents/manage", response_class=HTMLResponse)
    def manage_page(token: str = "", done: str = "") -> Response:
        try:
            p = page_principal(token)
            if p.consent:
                raise permission_denied("PERMISSION_DENIED", "this link authorises one consent only")
            consents, _ = core.list_consents(p, p.id, None, 500, "")
            enterprise = core.store.get_enterprise(p.id)
        except ServiceError as error:
            return error_page(error)
        views = [view(c) for c in sorted(consents, key=lambda c: c.update_time, reverse=True)]
        return page(
            "manage.html",
            token=token,
            enterprise=enterprise,
            uscc=p.id,
            active=[v for v in views if v["state"] == "AUTHORIZED"],
            pending=[v for v in views if v["state"] == "REQUESTED"],
            closed=[v for v in views if v["state"] not in ("AUTHORIZED", "REQUESTED")][:20],
            done=DONE_LABELS.get(done),
            erasures=[core.get_erasure(p, p.id, rid) for rid in core.store.list_erasures(p.id)[-5:]],
        )

    @app.post("/consents/manage/action")
    def manage_action(token: str = Form(""), consent: str = Form(""), action: str = Form("")) -> Response:
        try:
            p = page_principal(token)
            if p.consent:
                raise permission_denied("PERMISSION_DENIED", "this link authorises one consent only")
            if action not in ("authorize", "reject", "revoke"):
                raise invalid_argument("action", "must be authorize, reject or revoke")
            core.transition(p, p.id, consent_id_from(p, consent), Action(action), f"{action} on the management page")
        except ServiceError as error:
            return error_page(error)
        return RedirectResponse(f"/consents/manage?{urlencode({'token': token, 'done': action})}", status_code=303)

    @app.post("/consents/manage/erasure")
    def manage_erasure(token: str = Form("")) -> Response:
        try:
            p = page_principal(token)
            core.request_erasure(p, p.id, "requested on the management page")
        except ServiceError as error:
            return error_page(error)
        return RedirectResponse(f"/consents/manage?{urlencode({'token': token, 'done': 'erasure'})}", status_code=303)

    # ------------------------------------------------------------ REST: enterprises

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/enterprises", status_code=201)
    def create_enterprise(request: Request, body: JsonBody) -> JSONResponse:
        e = body.get("enterprise", body)
        created = core.create_enterprise(
            principal(request),
            str(e.get("uscc", "")),
            str(e.get("displayName", e.get("display_name", ""))),
            str(e.get("industryCode", e.get("industry_code", ""))),
            str(e.get("provinceCode", e.get("province_code", ""))),
            str(e.get("regionCode", e.get("region_code", ""))),
        )
        return JSONResponse(convert.to_json(convert.enterprise_to_proto(created)), status_code=201)

    @app.get("/v1/enterprises")
    def list_enterprises(request: Request, pageSize: int = 0, pageToken: str = "") -> dict[str, Any]:
        items, token = core.list_enterprises(principal(request), pageSize, pageToken)
        return {"enterprises": [convert.to_json(convert.enterprise_to_proto(e)) for e in items], "nextPageToken": token}

    @app.get("/v1/enterprises/{uscc}")
    def get_enterprise(request: Request, uscc: str) -> dict[str, Any]:
        validate_uscc(uscc, "name")
        return convert.to_json(convert.enterprise_to_proto(core.get_enterprise(principal(request), uscc)))

    @app.post("/v1/enterprises/{uscc}:manageLink")
    def manage_link(request: Request, uscc: str) -> dict[str, str]:
        validate_uscc(uscc, "name")
        return {"uri": core.manage_uri(principal(request), uscc)}

    # ------------------------------------------------------------ REST: banks

    @app.post("/v1/banks", status_code=201)
    def create_bank(request: Request, body: JsonBody) -> JSONResponse:
        bank_id = str(body.get("bankId", body.get("bank_id", "")))
        bank_body = body.get("bank") if isinstance(body.get("bank"), dict) else body
        display = str(bank_body.get("displayName", bank_body.get("display_name", "")))
        bank, key = core.create_bank(principal(request), bank_id, display)
        return JSONResponse({"bank": convert.to_json(convert.bank_to_proto(bank)), "apiKey": key}, status_code=201)

    @app.get("/v1/banks/{bank_id}")
    def get_bank(request: Request, bank_id: str) -> dict[str, Any]:
        parse_bank(f"banks/{bank_id}", "name")
        return convert.to_json(convert.bank_to_proto(core.get_bank(principal(request), bank_id)))

    @app.get("/v1/banks/{bank_id}/consents")
    def bank_consents(request: Request, bank_id: str, pageSize: int = 0, pageToken: str = "") -> dict[str, Any]:
        parse_bank(f"banks/{bank_id}", "parent")
        items, token = core.list_bank_consents(principal(request), bank_id, pageSize, pageToken)
        return {"consents": [convert.to_json(convert.consent_to_proto(c)) for c in items], "nextPageToken": token}

    # ------------------------------------------------------------ REST: consents

    def _create(request: Request, uscc: str, body: dict[str, Any], request_id: str, authorize: bool) -> JSONResponse:
        validate_uscc(uscc, "parent")
        consent_body = body.get("consent", body)
        if not isinstance(consent_body, dict):
            raise invalid_argument("consent", "must be an object")
        consent_body = {k: v for k, v in consent_body.items() if k not in ("requestId", "request_id", "reason")}
        message = convert.consent_from_json(consent_body)
        req = convert.consent_request_from_proto(message, str(body.get("reason", "")))
        rid = request_id or str(body.get("requestId", body.get("request_id", "")))
        consent, uri = core.create_consent(principal(request), uscc, req, rid, authorize=authorize)
        return JSONResponse(convert.to_json(convert.consent_to_proto(consent, uri)), status_code=201)

    @app.post("/v1/enterprises/{uscc}/consents", status_code=201)
    def create_consent(request: Request, uscc: str, body: JsonBody, requestId: str = "") -> JSONResponse:
        return _create(request, uscc, body, requestId, authorize=False)

    @app.post("/v1/enterprises/{uscc}/consents:grant", status_code=201)
    def grant_consent(request: Request, uscc: str, body: JsonBody, requestId: str = "") -> JSONResponse:
        """Create and authorise in one call: the enterprise itself (management link / OIDC) or admin."""
        return _create(request, uscc, body, requestId, authorize=True)

    @app.get("/v1/enterprises/{uscc}/consents")
    def list_consents(
        request: Request,
        uscc: str,
        state: str = "",
        pageSize: int = 0,
        pageToken: str = "",
    ) -> dict[str, Any]:
        validate_uscc(uscc, "parent")
        state_value: State | None = None
        if state:
            key = state.upper().removeprefix("STATE_")
            if key not in State.__members__:
                raise invalid_argument("state", f"unknown state {state!r}")
            state_value = State[key]
        items, token = core.list_consents(principal(request), uscc, state_value, pageSize, pageToken)
        return {"consents": [convert.to_json(convert.consent_to_proto(c)) for c in items], "nextPageToken": token}

    @app.get("/v1/enterprises/{uscc}/consents/{consent_id}")
    def get_consent(request: Request, uscc: str, consent_id: str) -> dict[str, Any]:
        validate_uscc(uscc, "name")
        return convert.to_json(convert.consent_to_proto(core.get_consent(principal(request), uscc, consent_id)))

    @app.post("/v1/enterprises/{uscc}/consents/{consent_id}:{action}")
    def consent_action(
        request: Request, uscc: str, consent_id: str, action: str, body: OptionalBody = None
    ) -> dict[str, Any]:
        validate_uscc(uscc, "name")
        if action == "authorizationLink":
            # For the platform's notification sender, which delivers it to the enterprise.
            return {"uri": core.authorization_link(principal(request), uscc, consent_id)}
        if action not in ("authorize", "reject", "revoke", "terminate"):
            raise invalid_argument(
                "action", "must be one of :authorize, :reject, :revoke, :terminate, :authorizationLink"
            )
        reason = str((body or {}).get("reason", ""))[:500]
        consent = core.transition(principal(request), uscc, consent_id, Action(action), reason)
        return convert.to_json(convert.consent_to_proto(consent))

    @app.post("/v1/consents:checkAccess")
    def check_access(request: Request, body: JsonBody) -> dict[str, Any]:
        enterprise = str(body.get("enterprise", ""))
        if not enterprise.startswith("enterprises/"):
            raise invalid_argument("enterprise", "must look like enterprises/{uscc}")
        uscc = validate_uscc(enterprise.split("/", 1)[1], "enterprise")
        grantee = str(body.get("grantee", ""))
        if grantee != domain.PLATFORM:
            parse_bank(grantee, "grantee")
        scope_text = str(body.get("scope", "")).upper().removeprefix("CONSENT_SCOPE_")
        if scope_text not in Scope.__members__:
            raise invalid_argument("scope", f"must be one of {', '.join(Scope.__members__)}")
        period = convert.check_access_period_json(body)
        decision = core.check_access(principal(request), uscc, grantee, Scope[scope_text], period)
        return {
            "allowed": decision.allowed,
            "reason": decision.reason,
            "consent": decision.consent,
            "message": decision.message,
        }

    # ------------------------------------------------------------ REST: erasure

    @app.post("/v1/enterprises/{uscc}/erasureRequests", status_code=201)
    def request_erasure(request: Request, uscc: str, body: OptionalBody = None) -> JSONResponse:
        validate_uscc(uscc, "parent")
        p = principal(request)
        req = core.request_erasure(p, uscc, str((body or {}).get("reason", "")))
        return JSONResponse(core.get_erasure(p, uscc, req.id), status_code=201)

    @app.get("/v1/enterprises/{uscc}/erasureRequests/{request_id}")
    def get_erasure(request: Request, uscc: str, request_id: str) -> dict[str, Any]:
        validate_uscc(uscc, "name")
        return core.get_erasure(principal(request), uscc, request_id)

    return app
