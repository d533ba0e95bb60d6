"""Government configuration: JSON API and a server-rendered page (no front-end build).

Roles come from API tokens in CARBON_GOV_TOKENS ("alice:drafter:<token>,
bob:approver:<token>"); only SHA-256 hashes of the tokens are kept in memory.
Drafters draft and edit versions; approvers approve and publish them, and an
approver can never approve a version they drafted (four eyes). Every change
is audited in the hash-chained list (see audit.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any

import yaml
from carbon_common.errors import (
    ServiceError,
    failed_precondition,
    invalid_argument,
    invalid_arguments,
    permission_denied,
    unauthenticated,
)
from carbon_common.http import (
    ID_PATTERN,
    PERIOD_PATTERN,
    documented,
    install_error_handlers,
    security,
)
from carbon_common.ratelimit import RateLimiter, install_rest_limits, prefix_rule
from fastapi import Body, FastAPI, Form, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import BaseModel, ConfigDict, Field

from carbon_rating import audit
from carbon_rating import scheme as sc
from carbon_rating.population import PopulationCache
from carbon_rating.registry import SchemeRegistry, SchemeStore, parse_time
from carbon_rating.vectorised import UNGRADED, preview

log = logging.getLogger(__name__)
ROLES = ("drafter", "approver")
COOKIE = "carbon_gov_token"
# What anyone may read of a published version (no drafter/approver names, no review notes).
PUBLIC_FIELDS = (
    "scheme_id",
    "version",
    "status",
    "document",
    "digest",
    "create_time",
    "effective_time",
    "publish_time",
)
CHINA = timezone(timedelta(hours=8))


@dataclass(frozen=True)
class GovUser:
    name: str
    role: str


def parse_tokens(text: str) -> dict[str, GovUser]:
    """'name:role:token,...' -> {sha256(token): user}."""
    users: dict[str, GovUser] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        try:
            name, role, token = item.split(":", 2)
        except ValueError:
            raise ValueError("CARBON_GOV_TOKENS entries look like name:role:token") from None
        if role not in ROLES:
            raise ValueError(f"CARBON_GOV_TOKENS: role of {name!r} must be one of {ROLES}")
        if len(token) < 16:
            raise ValueError(f"CARBON_GOV_TOKENS: token of {name!r} is too short (16+ characters)")
        users[_hash(token)] = GovUser(name, role)
    return users


def dev_tokens(data_dir: Path) -> tuple[str, Path]:
    """Dev mode without CARBON_GOV_TOKENS: fresh tokens in a 0600 file; only names and the path are logged."""
    folder = data_dir / "rating"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "dev-gov-tokens"
    spec = f"dev-drafter:drafter:{secrets.token_urlsafe(24)},dev-approver:approver:{secrets.token_urlsafe(24)}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(spec + "\n")
    return spec, path


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_effective(text: str | None) -> str | None:
    """ISO date/datetime; naive values are China Standard Time (UTC+8)."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise invalid_argument("effective_time", f"{text!r} is not an ISO date or date-time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=CHINA)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def document_from(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        document, problems = sc.parse_text(value)
        if document is None:
            raise invalid_arguments(
                [(f"document.{f}" if not f.startswith("line") else f"document ({f})", m) for f, m in problems]
            )
        return document
    if isinstance(value, dict):
        parsed, _ = sc.parse_text(json.dumps(value))
        assert parsed is not None
        return parsed
    raise invalid_argument("document", "must be YAML/JSON text or an object")


def to_yaml(document: dict[str, Any]) -> str:
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False, width=120)


def chart_svg(result: dict[str, Any]) -> str:
    """Grouped bars (before grey, after green) per grade, inline SVG."""
    grades = [g for g in result["grades"] if g != UNGRADED or result["before"].get(g) or result["after"].get(g)]
    peak = max([1, *result["before"].values(), *result["after"].values()])
    width, height, bar, gap = 60 * len(grades) + 40, 220, 22, 16
    parts = [
        f'<svg id="preview-chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 40}" role="img" '
        f'aria-label="grade distribution before and after">'
    ]
    for i, grade in enumerate(grades):
        x = 20 + i * (2 * bar + gap)
        for j, (key, colour) in enumerate((("before", "#9e9e9e"), ("after", "#2e7d32"))):
            count = int(result[key].get(grade, 0))
            h = round(height * count / peak)
            parts.append(
                f'<rect class="bar-{key}" data-grade="{grade}" data-count="{count}" '
                f'x="{x + j * bar}" y="{height - h + 10}" '
                f'width="{bar - 2}" height="{h}" fill="{colour}"><title>{grade} {key}: {count}</title></rect>'
            )
            parts.append(
                f'<text x="{x + j * bar + bar / 2 - 1}" y="{height - h + 6}" font-size="9" '
                f'text-anchor="middle">{count}</text>'
            )
        parts.append(f'<text x="{x + bar}" y="{height + 28}" font-size="11" text-anchor="middle">{grade}</text>')
    parts.append("</svg>")
    return "".join(parts)


SchemeId = Annotated[str, PathParam(min_length=1, max_length=63, pattern=ID_PATTERN, description="Scheme id")]
Version = Annotated[str, PathParam(min_length=1, max_length=32, pattern=r"^[0-9A-Za-z._-]+$", description="Version")]


class VersionRecord(BaseModel):
    """A stored scheme version (approval adds approver and effective_time)."""

    model_config = ConfigDict(extra="allow")

    scheme_id: str
    version: str
    status: str = Field(description="draft | approved | published")
    document: dict[str, Any]
    digest: str
    drafter: str | None = Field(default=None, description="absent in the public (anonymous) view")
    create_time: str


class VersionSummary(BaseModel):
    version: str
    status: str
    drafter: str | None = None


class SchemeSummary(BaseModel):
    scheme_id: str
    active_version: str | None
    effective_time: str | None
    versions: list[VersionSummary]


class SchemeList(BaseModel):
    schemes: list[SchemeSummary]


class VersionList(BaseModel):
    versions: list[VersionRecord]


class Problem(BaseModel):
    field: str
    message: str


class Validation(BaseModel):
    valid: bool
    errors: list[Problem]


class Preview(BaseModel):
    """Grade distribution before/after the version for one period, and who moves."""

    model_config = ConfigDict(extra="allow")

    period: str | None
    total: int
    moved: int
    grades: list[str]
    before: dict[str, int]
    after: dict[str, int]
    transitions: list[dict[str, Any]]


class AuditLog(BaseModel):
    intact: bool
    first_bad_seq: int | None
    entries: list[dict[str, Any]]


class Refreshed(BaseModel):
    changed_rows: int


class DocumentBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    document: str | dict[str, Any] = Field(description="The scheme document: YAML/JSON text or an object")


class ApproveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    effective_time: str | None = Field(
        default=None, max_length=40, description="ISO date/time it takes effect (naive = UTC+8); empty: now"
    )


def create_app(
    store: SchemeStore,
    registry: SchemeRegistry,
    population: PopulationCache,
    users: dict[str, GovUser],
    refresh_population: Callable[[], int] | None = None,
    limiter: RateLimiter | None = None,
    secure_cookies: bool = True,
) -> FastAPI:
    """`secure_cookies` (off only in dev mode, for http://127.0.0.1) marks the login cookie Secure."""
    app = FastAPI(
        title="Carbon rating - government scheme configuration",
        version="1",
        description="Regional rating schemes as data: drafts, four-eyes approval, previews and the audit chain.",
    )
    install_error_handlers(app)
    if limiter is not None:  # token guessing on the login form: per client address
        install_rest_limits(app, limiter, prefix_rule({"/login": "page"}))
    templates = Environment(loader=PackageLoader("carbon_rating", "templates"), autoescape=select_autoescape(["html"]))

    def user_from(request: Request) -> GovUser | None:
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else request.cookies.get(COOKIE, "")
        return users.get(_hash(token)) if token else None

    def require(request: Request, role: str | None = None) -> GovUser:
        user = user_from(request)
        if user is None:
            raise unauthenticated("UNAUTHENTICATED_GOV", "present a government API token (authorization: Bearer ...)")
        if role is not None and user.role != role:
            raise permission_denied("ROLE_REQUIRED", f"this needs the {role} role; {user.name} is {user.role}")
        return user

    def run_preview(scheme_id: str, document: dict[str, Any], period: str | None = None) -> dict[str, Any]:
        after = sc.compile_scheme(document, store.plugins)
        before = registry.active(scheme_id)
        return preview(before, after, population.view().frame, period, store.plugins)

    # ------------------------------------------------------------------ JSON API
    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    # Reads: a published version in force (or once in force) is public on both edges, as gRPC
    # ListSchemes shows it; drafts and versions not yet in force need a government credential.
    def is_public(record: dict[str, Any]) -> bool:
        return record.get("status") == "published" and parse_time(record["effective_time"]) <= datetime.now(UTC)

    def public_view(record: dict[str, Any]) -> dict[str, Any]:
        return {k: record[k] for k in PUBLIC_FIELDS if k in record}

    def reader(request: Request) -> GovUser | None:
        """The government user, or None for an anonymous read; a token that is presented must be valid."""
        user = user_from(request)
        if user is None and request.headers.get("authorization"):
            raise unauthenticated("UNAUTHENTICATED_GOV", "unknown government API token")
        return user

    @app.get(
        "/v1/schemes",
        tags=["schemes"],
        summary="Schemes, active versions and drafts (published versions in force without a credential)",
        **documented(SchemeList),
        openapi_extra=security({}, "govToken", "govCookie"),
    )
    def list_schemes(request: Request) -> dict[str, Any]:
        user = reader(request)
        out = []
        for scheme_id in store.scheme_ids():
            active = registry.active_with_time(scheme_id)
            records = store.records(scheme_id)
            if user is None:
                records = [r for r in records if is_public(r)]
                if active is None or not records:
                    continue
            fields = ("version", "status", "drafter") if user else ("version", "status")
            out.append(
                {
                    "scheme_id": scheme_id,
                    "active_version": active[0].version if active else None,
                    "effective_time": active[1].isoformat() if active else None,
                    "versions": [{k: r[k] for k in fields if k in r} for r in records],
                }
            )
        return {"schemes": out}

    @app.get(
        "/v1/schemes/{scheme_id}/versions",
        tags=["schemes"],
        summary="A scheme's versions (published versions in force without a credential)",
        **documented(VersionList),
        openapi_extra=security({}, "govToken", "govCookie"),
    )
    def list_versions(scheme_id: SchemeId, request: Request) -> dict[str, Any]:
        if reader(request) is None:
            return {"versions": [public_view(r) for r in store.records(scheme_id) if is_public(r)]}
        return {"versions": store.records(scheme_id)}

    @app.get(
        "/v1/schemes/{scheme_id}/versions/{version:segment}",
        tags=["schemes"],
        summary="One version (a draft or a version not yet in force needs a credential)",
        **documented(VersionRecord, 404),
        openapi_extra=security({}, "govToken", "govCookie"),
    )
    def get_version(scheme_id: SchemeId, version: Version, request: Request) -> dict[str, Any]:
        user = reader(request)
        record = store.record(scheme_id, version)
        if user is None:
            if not is_public(record):
                raise unauthenticated(
                    "UNAUTHENTICATED_GOV", "drafts and versions not yet in force need a government API token"
                )
            return public_view(record)
        return record

    @app.post(
        "/v1/schemes:validate",
        tags=["schemes"],
        summary="Validate a scheme document",
        **documented(Validation),
        openapi_extra=security("govToken", "govCookie"),
    )
    def validate_document(request: Request, body: DocumentBody) -> dict[str, Any]:
        require(request)
        try:
            document = document_from(body.document)
        except ServiceError as error:
            return {"valid": False, "errors": [{"field": f, "message": m} for f, m in error.field_violations]}
        errors = sc.validate(document, store.plugins)
        return {"valid": not errors, "errors": [{"field": f, "message": m} for f, m in errors]}

    @app.post(
        "/v1/schemes/{scheme_id}/versions",
        status_code=201,
        tags=["schemes"],
        summary="Draft a new version (drafter)",
        **documented(VersionRecord, 409, status=201),
        openapi_extra=security("govToken", "govCookie"),
    )
    def create_version(scheme_id: SchemeId, request: Request, body: DocumentBody) -> dict[str, Any]:
        user = require(request, "drafter")
        document = document_from(body.document)
        if document.get("scheme_id") != scheme_id:
            raise invalid_argument("document.scheme_id", f"must be {scheme_id!r} (the scheme in the URL)")
        return store.create_draft(document, user.name)

    @app.put(
        "/v1/schemes/{scheme_id}/versions/{version:segment}",
        tags=["schemes"],
        summary="Edit a draft (drafter)",
        **documented(VersionRecord, 404, 409),
        openapi_extra=security("govToken", "govCookie"),
    )
    def update_version(scheme_id: SchemeId, version: Version, request: Request, body: DocumentBody) -> dict[str, Any]:
        user = require(request, "drafter")
        return store.update_draft(scheme_id, version, document_from(body.document), user.name)

    @app.post(
        "/v1/schemes/{scheme_id}/versions/{version}:preview",
        tags=["schemes"],
        summary="Grade distribution before and after this version",
        **documented(Preview, 404),
        openapi_extra=security("govToken", "govCookie"),
    )
    def preview_version(
        scheme_id: SchemeId,
        version: Version,
        request: Request,
        period: Annotated[str | None, Query(min_length=4, max_length=7, pattern=PERIOD_PATTERN)] = None,
    ) -> dict[str, Any]:
        require(request)
        return run_preview(scheme_id, store.record(scheme_id, version)["document"], period)

    @app.post(
        "/v1/schemes/{scheme_id}/versions/{version}:approve",
        tags=["schemes"],
        summary="Approve and publish a version (approver, not its drafter)",
        **documented(VersionRecord, 404, 409),
        openapi_extra=security("govToken", "govCookie"),
    )
    def approve_version(
        scheme_id: SchemeId, version: Version, request: Request, body: Annotated[ApproveBody | None, Body()] = None
    ) -> dict[str, Any]:
        user = require(request, "approver")
        effective = body.effective_time if body is not None else None
        return store.approve(scheme_id, version, user.name, parse_effective(effective))

    @app.get(
        "/v1/audit",
        tags=["audit"],
        summary="The hash-chained audit log and its verification",
        **documented(AuditLog),
        openapi_extra=security("govToken", "govCookie"),
    )
    def get_audit(request: Request) -> dict[str, Any]:
        require(request)
        items = audit.entries(store.redis)
        intact, bad = audit.verify(store.redis)
        return {"intact": intact, "first_bad_seq": bad, "entries": items}

    @app.post(
        "/v1/population:refresh",
        tags=["population"],
        summary="Reload enterprises from accounting",
        **documented(Refreshed),
        openapi_extra=security("govToken", "govCookie"),
    )
    def population_refresh(request: Request) -> dict[str, Any]:
        require(request)
        if refresh_population is None:
            raise failed_precondition("NO_ACCOUNTING", "no accounting service configured")
        return {"changed_rows": refresh_population()}

    # ------------------------------------------------------------------ HTML
    def page(name: str, request: Request, status: int = 200, **context: Any) -> HTMLResponse:
        html = templates.get_template(name).render(user=user_from(request), **context)
        return HTMLResponse(html, status_code=status)

    @app.exception_handler(ServiceError)
    async def _errors(request: Request, error: ServiceError) -> Response:
        if request.url.path.startswith("/v1/") or request.url.path == "/healthz":
            return JSONResponse(error.to_json(), status_code=error.http_status)
        return page("error.html", request, error.http_status, error=error)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home(request: Request) -> HTMLResponse:
        user = user_from(request)
        if user is None:
            return page("login.html", request)
        rows = []
        for scheme_id in store.scheme_ids() or []:
            active = registry.active_with_time(scheme_id)
            records = store.records(scheme_id)
            rows.append(
                {
                    "id": scheme_id,
                    "active": active[0].version if active else "-",
                    "name": active[0].display_name if active else None,
                    "drafts": [r["version"] for r in records if r["status"] == "draft"],
                }
            )
        return page("home.html", request, schemes=rows)

    @app.post("/login", include_in_schema=False)
    def login(token: str = Form(...)) -> Response:
        if _hash(token.strip()) not in users:
            raise unauthenticated("UNAUTHENTICATED_GOV", "unknown token")
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(COOKIE, token.strip(), httponly=True, samesite="strict", secure=secure_cookies)
        return response

    @app.post("/logout", include_in_schema=False)
    def logout() -> Response:
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(COOKIE, httponly=True, samesite="strict", secure=secure_cookies)
        return response

    @app.get("/schemes/{scheme_id}", response_class=HTMLResponse, include_in_schema=False)
    def scheme_page(scheme_id: str, request: Request) -> HTMLResponse:
        require(request)
        active = registry.active_with_time(scheme_id)
        return page(
            "scheme.html",
            request,
            scheme_id=scheme_id,
            records=store.records(scheme_id),
            timeline=store.timeline(scheme_id),
            active=active[0].version if active else None,
        )

    @app.post("/schemes/{scheme_id}/drafts", include_in_schema=False)
    def new_draft(scheme_id: str, request: Request, base: str = Form("")) -> Response:
        user = require(request, "drafter")
        source = base or (registry.active(scheme_id).version if registry.active(scheme_id) else "")  # type: ignore[union-attr]
        document = dict(store.record(scheme_id, source)["document"])
        record = store.create_draft(document, user.name)
        return RedirectResponse(f"/schemes/{scheme_id}/versions/{record['version']}", status_code=303)

    @app.get("/new", response_class=HTMLResponse, include_in_schema=False)
    def new_scheme_form(request: Request) -> HTMLResponse:
        require(request, "drafter")
        template = dict(store.record("zhejiang-carbon-efficiency", "1")["document"]) if store.scheme_ids() else {}
        template.pop("version", None)
        template["scheme_id"] = "my-new-scheme"
        return page("new.html", request, text=to_yaml(template), errors=[])

    @app.post("/new", response_class=HTMLResponse, include_in_schema=False)
    def new_scheme(request: Request, document: str = Form(...)) -> Response:
        user = require(request, "drafter")
        try:
            record = store.create_draft(document_from(document), user.name)
        except ServiceError as error:
            if error.field_violations:
                return page("new.html", request, 400, text=document, errors=error.field_violations)
            raise
        return RedirectResponse(f"/schemes/{record['scheme_id']}/versions/{record['version']}", status_code=303)

    def version_page(
        request: Request,
        scheme_id: str,
        version: str,
        text: str | None = None,
        errors: list[tuple[str, str]] | None = None,
        status: int = 200,
        notice: str = "",
    ) -> HTMLResponse:
        record = store.record(scheme_id, version)
        result, chart, preview_error = None, "", ""
        document = record["document"]
        if text is not None and not errors:
            with contextlib.suppress(ServiceError):
                document = document_from(text)
        try:
            result = run_preview(scheme_id, document)
            chart = chart_svg(result)
        except (sc.InvalidScheme, LookupError) as error:
            preview_error = str(error)
        return page(
            "version.html",
            request,
            status,
            record=record,
            text=text if text is not None else to_yaml(record["document"]),
            errors=errors or [],
            preview=result,
            chart=chart,
            preview_error=preview_error,
            notice=notice,
            now_local=datetime.now(CHINA).strftime("%Y-%m-%dT%H:%M"),
        )

    @app.get("/schemes/{scheme_id}/versions/{version}", response_class=HTMLResponse, include_in_schema=False)
    def show_version(scheme_id: str, version: str, request: Request) -> HTMLResponse:
        require(request)
        return version_page(request, scheme_id, version)

    @app.post("/schemes/{scheme_id}/versions/{version}", response_class=HTMLResponse, include_in_schema=False)
    def save_version(scheme_id: str, version: str, request: Request, document: str = Form(...)) -> Response:
        user = require(request, "drafter")
        try:
            store.update_draft(scheme_id, version, document_from(document), user.name)
        except ServiceError as error:
            if error.field_violations:
                return version_page(request, scheme_id, version, document, error.field_violations, 400)
            raise
        return version_page(request, scheme_id, version, notice="Saved and validated.")

    @app.post("/schemes/{scheme_id}/versions/{version}/approve", include_in_schema=False)
    def approve_form(scheme_id: str, version: str, request: Request, effective_time: str = Form("")) -> Response:
        user = require(request, "approver")
        store.approve(scheme_id, version, user.name, parse_effective(effective_time))
        registry.refresh()
        return RedirectResponse(f"/schemes/{scheme_id}", status_code=303)

    @app.get("/audit", response_class=HTMLResponse, include_in_schema=False)
    def audit_page(request: Request) -> HTMLResponse:
        require(request)
        items = audit.entries(store.redis)
        intact, bad = audit.verify(store.redis)
        return page("audit.html", request, entries=list(reversed(items)), intact=intact, bad=bad)

    return app
