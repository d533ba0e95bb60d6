"""HTTP edge (FastAPI): REST API under /v1, enterprise pages under /consents.

Pages are server-rendered (Jinja2), bilingual (zh/en), no JavaScript; the
signed link's token travels in the URL and in a hidden form field, so there
are no cookies (and no CSRF surface). Responses carry no-store and
no-referrer so the token does not leak into caches or other sites.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from carbon_common.docs import install_offline_docs
from carbon_common.errors import ServiceError, invalid_argument, permission_denied, unauthenticated
from carbon_common.http import (
    PLATFORM_SERVICE,
    IdPath,
    UsccPath,
    error_responses,
    install_error_handlers,
    refuse_anonymous,
    security,
)
from carbon_common.names import parse_bank, validate_uscc
from carbon_common.ratelimit import RateLimiter, install_rest_limits, prefix_rule
from fastapi import Body, Depends, FastAPI, Form, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from carbon_consent import convert, domain, rest_models
from carbon_consent.auth import Authenticator, Principal
from carbon_consent.core import ConsentCore
from carbon_consent.domain import Action, Consent, Scope, State

# Who may call an operation (OpenAPI security requirements, carbon_common.http.SECURITY_SCHEMES).
ADMIN, BANK, ENTERPRISE = "adminToken", "bankApiKey", "enterpriseLink"
PageSize = Annotated[int, Query(ge=0, le=1000, description="At most this many items (0: the default)")]
PageToken = Annotated[str, Query(max_length=256, description="nextPageToken of the previous page")]
RequestId = Annotated[str, Query(max_length=128, description="Client request id (AIP-155); also accepted in the body")]
StateFilter = Annotated[str, Query(max_length=32, description="Only consents in this state, e.g. AUTHORIZED")]


def _authenticated(request: Request) -> Principal:
    """Every REST operation needs a credential: checked before the request is validated."""
    p: Principal = request.app.state.auth.from_headers(request.headers)
    return refuse_anonymous(p if p.kind != "anonymous" else None, "UNAUTHENTICATED", "credentials are required")


Caller = Annotated[Principal, Depends(_authenticated)]
ConsentAction = Literal["authorize", "reject", "revoke", "terminate", "authorizationLink"]

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


def create_app(core: ConsentCore, auth: Authenticator, limiter: RateLimiter | None = None) -> FastAPI:
    app = FastAPI(
        title="Carbon consent service",
        version="1.0",
        description=(
            "Enterprises' consents to banks and to the platform (request, authorise, revoke, check), the "
            "enterprise and bank registries, and erasure requests. Errors are google.rpc.Status JSON (AIP-193)."
        ),
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app)
    install_offline_docs(app)
    app.state.auth = auth
    if limiter is not None:
        # One-click pages per client address (link guessing); the REST API per credential and address.
        install_rest_limits(app, limiter, prefix_rule({"/consents/": "page", "/v1/": "address"}))
    templates = Environment(
        loader=FileSystemLoader(str(Path(__file__).parent / "templates")),
        autoescape=select_autoescape(["html"]),
    )

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

    @app.get("/consents/authorize", response_class=HTMLResponse, include_in_schema=False)
    def authorize_page(token: str = "", done: str = "") -> Response:
        try:
            p = page_principal(token)
            if not p.consent:
                return RedirectResponse(f"/consents/manage?{urlencode({'token': token})}", status_code=303)
            consent_id = consent_id_from(p, p.consent)
            state = core.link_state(p, p.id, consent_id)
            if state != State.REQUESTED:
                # Used, revoked or expired: the link shows the outcome only.
                return page("link_status.html", state=state.name, label=STATE_LABELS[state], done=DONE_LABELS.get(done))
            consent = core.get_consent(p, p.id, consent_id)
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

    @app.post("/consents/authorize", include_in_schema=False)
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

    @app.get("/consents/manage", response_class=HTMLResponse, include_in_schema=False)
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

    @app.post("/consents/manage/action", include_in_schema=False)
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

    @app.post("/consents/manage/erasure", include_in_schema=False)
    def manage_erasure(token: str = Form("")) -> Response:
        try:
            p = page_principal(token)
            core.request_erasure(p, p.id, "requested on the management page")
        except ServiceError as error:
            return error_page(error)
        return RedirectResponse(f"/consents/manage?{urlencode({'token': token, 'done': 'erasure'})}", status_code=303)

    # ------------------------------------------------------------ REST: enterprises

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post(
        "/v1/enterprises",
        status_code=201,
        response_model=rest_models.Enterprise,
        responses=error_responses(409),
        openapi_extra=security(ADMIN, PLATFORM_SERVICE),
        tags=["enterprises"],
        summary="Register an enterprise (admin or platform service)",
    )
    def create_enterprise(p: Caller, body: rest_models.CreateEnterpriseBody) -> JSONResponse:
        e = body.values()
        created = core.create_enterprise(p, e.uscc, e.displayName, e.industryCode, e.provinceCode, e.regionCode)
        return JSONResponse(convert.to_json(convert.enterprise_to_proto(created)), status_code=201)

    @app.get(
        "/v1/enterprises",
        response_model=rest_models.EnterpriseList,
        openapi_extra=security(ADMIN, PLATFORM_SERVICE, BANK),
        tags=["enterprises"],
        summary="List registered enterprises",
    )
    def list_enterprises(p: Caller, pageSize: PageSize = 0, pageToken: PageToken = "") -> JSONResponse:
        items, token = core.list_enterprises(p, pageSize, pageToken)
        return JSONResponse(
            {"enterprises": [convert.to_json(convert.enterprise_to_proto(e)) for e in items], "nextPageToken": token}
        )

    @app.get(
        "/v1/enterprises/{uscc:segment}",
        response_model=rest_models.Enterprise,
        responses=error_responses(404),
        openapi_extra=security(ADMIN, PLATFORM_SERVICE, BANK, ENTERPRISE),
        tags=["enterprises"],
        summary="Get an enterprise",
    )
    def get_enterprise(p: Caller, uscc: UsccPath) -> JSONResponse:
        validate_uscc(uscc, "name")
        return JSONResponse(convert.to_json(convert.enterprise_to_proto(core.get_enterprise(p, uscc))))

    @app.post(
        "/v1/enterprises/{uscc}:manageLink",
        response_model=rest_models.Link,
        responses=error_responses(404),
        openapi_extra=security(ADMIN, PLATFORM_SERVICE, ENTERPRISE),
        tags=["enterprises"],
        summary="A signed management link for the enterprise",
    )
    def manage_link(p: Caller, uscc: UsccPath) -> JSONResponse:
        validate_uscc(uscc, "name")
        return JSONResponse({"uri": core.manage_uri(p, uscc)})

    # ------------------------------------------------------------ REST: banks

    @app.post(
        "/v1/banks",
        status_code=201,
        response_model=rest_models.BankCreated,
        responses=error_responses(409),
        openapi_extra=security(ADMIN, PLATFORM_SERVICE),
        tags=["banks"],
        summary="Onboard a bank; its API key is returned once",
    )
    def create_bank(p: Caller, body: rest_models.CreateBankBody) -> JSONResponse:
        bank, key = core.create_bank(p, body.bankId, body.display_name())
        return JSONResponse({"bank": convert.to_json(convert.bank_to_proto(bank)), "apiKey": key}, status_code=201)

    @app.get(
        "/v1/banks/{bank_id}",
        response_model=rest_models.Bank,
        responses=error_responses(404),
        openapi_extra=security(ADMIN, PLATFORM_SERVICE, BANK),
        tags=["banks"],
        summary="Get a bank",
    )
    def get_bank(p: Caller, bank_id: IdPath) -> JSONResponse:
        parse_bank(f"banks/{bank_id}", "name")
        return JSONResponse(convert.to_json(convert.bank_to_proto(core.get_bank(p, bank_id))))

    @app.get(
        "/v1/banks/{bank_id}/consents",
        response_model=rest_models.ConsentList,
        openapi_extra=security(ADMIN, PLATFORM_SERVICE, BANK),
        tags=["banks"],
        summary="The consents granted to a bank",
    )
    def bank_consents(
        p: Caller,
        bank_id: IdPath,
        pageSize: PageSize = 0,
        pageToken: PageToken = "",
    ) -> JSONResponse:
        parse_bank(f"banks/{bank_id}", "parent")
        items, token = core.list_bank_consents(p, bank_id, pageSize, pageToken)
        return JSONResponse(
            {"consents": [convert.to_json(convert.consent_to_proto(c)) for c in items], "nextPageToken": token}
        )

    # ------------------------------------------------------------ REST: consents

    def _create(
        p: Principal, uscc: str, body: rest_models.CreateConsentBody, request_id: str, authorize: bool
    ) -> JSONResponse:
        validate_uscc(uscc, "parent")
        message = convert.consent_from_json(body.consent_fields())
        req = convert.consent_request_from_proto(message, body.reason)
        consent, uri = core.create_consent(p, uscc, req, request_id or body.requestId, authorize=authorize)
        return JSONResponse(convert.to_json(convert.consent_to_proto(consent, uri)), status_code=201)

    @app.post(
        "/v1/enterprises/{uscc}/consents",
        status_code=201,
        response_model=rest_models.Consent,
        responses=error_responses(404, 409),
        openapi_extra=security(BANK, ENTERPRISE, PLATFORM_SERVICE, ADMIN),
        tags=["consents"],
        summary="Request a consent (REQUESTED until the enterprise decides)",
    )
    def create_consent(
        p: Caller, uscc: UsccPath, body: rest_models.CreateConsentBody, requestId: RequestId = ""
    ) -> JSONResponse:
        return _create(p, uscc, body, requestId, authorize=False)

    @app.post(
        "/v1/enterprises/{uscc}/consents:grant",
        status_code=201,
        response_model=rest_models.Consent,
        responses=error_responses(404, 409),
        openapi_extra=security(ENTERPRISE, ADMIN),
        tags=["consents"],
        summary="Create and authorise in one call (the enterprise itself, or admin)",
    )
    def grant_consent(
        p: Caller, uscc: UsccPath, body: rest_models.CreateConsentBody, requestId: RequestId = ""
    ) -> JSONResponse:
        return _create(p, uscc, body, requestId, authorize=True)

    @app.get(
        "/v1/enterprises/{uscc}/consents",
        response_model=rest_models.ConsentList,
        responses=error_responses(404),
        openapi_extra=security(BANK, ENTERPRISE, PLATFORM_SERVICE, ADMIN),
        tags=["consents"],
        summary="The enterprise's consents the caller may see",
    )
    def list_consents(
        p: Caller,
        uscc: UsccPath,
        state: StateFilter = "",
        pageSize: PageSize = 0,
        pageToken: PageToken = "",
    ) -> JSONResponse:
        validate_uscc(uscc, "parent")
        state_value: State | None = None
        if state:
            key = state.upper().removeprefix("STATE_")
            if key not in State.__members__:
                raise invalid_argument("state", f"unknown state {state[:40]!r}")
            state_value = State[key]
        items, token = core.list_consents(p, uscc, state_value, pageSize, pageToken)
        return JSONResponse(
            {"consents": [convert.to_json(convert.consent_to_proto(c)) for c in items], "nextPageToken": token}
        )

    @app.get(
        "/v1/enterprises/{uscc}/consents/{consent_id:segment}",
        response_model=rest_models.Consent,
        responses=error_responses(404),
        openapi_extra=security(BANK, ENTERPRISE, PLATFORM_SERVICE, ADMIN),
        tags=["consents"],
        summary="Get a consent",
    )
    def get_consent(p: Caller, uscc: UsccPath, consent_id: IdPath) -> JSONResponse:
        validate_uscc(uscc, "name")
        return JSONResponse(convert.to_json(convert.consent_to_proto(core.get_consent(p, uscc, consent_id))))

    @app.post(
        "/v1/enterprises/{uscc}/consents/{consent_id}:{action}",
        response_model=rest_models.Consent | rest_models.Link,
        responses=error_responses(404),
        openapi_extra=security(BANK, ENTERPRISE, PLATFORM_SERVICE, ADMIN),
        tags=["consents"],
        summary="authorize / reject / revoke / terminate a consent, or get its authorizationLink",
    )
    def consent_action(
        p: Caller,
        uscc: UsccPath,
        consent_id: IdPath,
        action: Annotated[ConsentAction, PathParam(description="What to do")],
        body: Annotated[rest_models.ReasonBody | None, Body()] = None,
    ) -> JSONResponse:
        validate_uscc(uscc, "name")
        if action == "authorizationLink":
            # For the platform's notification sender, which delivers it to the enterprise.
            return JSONResponse({"uri": core.authorization_link(p, uscc, consent_id)})
        reason = body.reason if body is not None else ""
        consent = core.transition(p, uscc, consent_id, Action(action), reason)
        return JSONResponse(convert.to_json(convert.consent_to_proto(consent)))

    @app.post(
        "/v1/consents:checkAccess",
        response_model=rest_models.AccessDecision,
        openapi_extra=security(PLATFORM_SERVICE, BANK, ADMIN),
        tags=["consents"],
        summary="May the grantee read this scope of the enterprise's data now?",
    )
    def check_access(p: Caller, body: rest_models.CheckAccessBody) -> JSONResponse:
        enterprise = body.enterprise
        if not enterprise.startswith("enterprises/"):
            raise invalid_argument("enterprise", "must look like enterprises/{uscc}")
        uscc = validate_uscc(enterprise.split("/", 1)[1], "enterprise")
        grantee = body.grantee
        if grantee != domain.PLATFORM:
            parse_bank(grantee, "grantee")
        scope_text = body.scope.upper().removeprefix("CONSENT_SCOPE_")
        period = convert.check_access_period_json(body.model_dump(exclude_unset=True))
        decision = core.check_access(p, uscc, grantee, Scope[scope_text], period)
        return JSONResponse(
            {
                "allowed": decision.allowed,
                "reason": decision.reason,
                "consent": decision.consent,
                "message": decision.message,
            }
        )

    # ------------------------------------------------------------ REST: erasure

    @app.post(
        "/v1/enterprises/{uscc}/erasureRequests",
        status_code=201,
        response_model=rest_models.Erasure,
        responses=error_responses(404),
        openapi_extra=security(ENTERPRISE, ADMIN),
        tags=["erasure"],
        summary="Ask every service to erase the enterprise's data",
    )
    def request_erasure(
        p: Caller, uscc: UsccPath, body: Annotated[rest_models.ReasonBody | None, Body()] = None
    ) -> JSONResponse:
        validate_uscc(uscc, "parent")
        req = core.request_erasure(p, uscc, body.reason if body is not None else "")
        return JSONResponse(core.get_erasure(p, uscc, req.id), status_code=201)

    @app.get(
        "/v1/enterprises/{uscc}/erasureRequests/{request_id}",
        response_model=rest_models.Erasure,
        responses=error_responses(404),
        openapi_extra=security(ENTERPRISE, PLATFORM_SERVICE, ADMIN),
        tags=["erasure"],
        summary="Progress of an erasure request",
    )
    def get_erasure(p: Caller, uscc: UsccPath, request_id: IdPath) -> JSONResponse:
        validate_uscc(uscc, "name")
        return JSONResponse(core.get_erasure(p, uscc, request_id))

    return app
