"""Government pages (server-rendered HTML; one small local script for the live preview, no CDN).

The scheme editor is a form over every part of a scheme version (a draft, or a brand-new scheme at /new), its
fields named by document path so the JSON Schema's errors land beside them; the YAML view stays as an
advanced tab. The preview (distribution
of the charted indicator with the thresholds on it, and the transition matrix) is rendered here and
refreshed by static/editor.js from /live as the form changes, without saving.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Annotated, Any

from carbon_common.errors import ServiceError, invalid_arguments, permission_denied, unauthenticated
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.datastructures import FormData

from carbon_rating import scheme as sc
from carbon_rating.benchmarks import BASES
from carbon_rating.gov import chart
from carbon_rating.gov.auth import COOKIE, GovUser, SignedIn, known_token, user_from
from carbon_rating.gov.core import PreviewOutcome, chart_indicator
from carbon_rating.gov.document import (
    CHINA,
    apply_form,
    document_from,
    parse_effective,
    sources_text,
    steps,
    to_yaml,
)
from carbon_rating.gov.models import Core
from carbon_rating.registry import Status, VersionRecord
from carbon_rating.vectorised import UNGRADED

router = APIRouter(include_in_schema=False)
templates = Environment(loader=PackageLoader("carbon_rating", "templates"), autoescape=select_autoescape(["html"]))
# The editor's own controls, as opposed to document fields.
CONTROLS = ("editor", "base_document", "chart_indicator", "edit", "document")
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
OPS = ("<", "<=", ">", ">=", "==")
METHODS = {
    "bands": ("按区间分级", "bands on one indicator"),
    "rules": ("按规则分级", "rules, first match wins"),
    "weighted_score": ("加权评分", "weighted score"),
    "plugin": ("插件", "plug-in"),
}


def page(name: str, request: Request, status: int = 200, **context: Any) -> HTMLResponse:
    html = templates.get_template(name).render(user=user_from(request), **context)
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def error_page(request: Request, error: ServiceError) -> HTMLResponse:
    return page("error.html", request, error.http_status, error=error)


# ---------------------------------------------------------------------------- the preview panel


@dataclass(frozen=True)
class GradeView:
    id: str
    zh: str
    en: str
    colour: str
    ink: str  # text colour readable on `colour`


def grade_views(document: dict[str, Any], result_grades: tuple[str, ...]) -> list[GradeView]:
    colours = chart.grade_colours(document)
    labels = {str(g.get("id")): g.get("label") or {} for g in document.get("grades", []) if isinstance(g, dict)}
    out = []
    for grade in result_grades:
        label = labels.get(grade) or ({"zh": "未评级", "en": "ungraded"} if grade == UNGRADED else {})
        colour = colours.get(grade, chart.UNGRADED_COLOUR)
        out.append(GradeView(grade, label.get("zh", grade), label.get("en", grade), colour, chart.text_colour(colour)))
    return out


def preview_html(outcome: PreviewOutcome, document: dict[str, Any], indicator: str) -> str:
    result, after = outcome.result, outcome.after
    chosen = chart_indicator(after, indicator)
    grades = grade_views(document, result.grades)
    shown = [g for g in grades if g.id != UNGRADED or result.before.get(g.id) or result.after.get(g.id)]
    lines = [chart.Line(t, "after") for t in sc.thresholds(after, chosen)]
    if outcome.before is not None:
        lines += [chart.Line(t, "before") for t in sc.thresholds(outcome.before, chosen)]
    svg = ""
    if result.distribution is not None:
        if chosen == "score":
            axis = "综合得分 score (0-100)"
        else:
            spec = after.indicator_spec(chosen)
            axis = f"{spec.display_name.zh} {chosen} ({spec.unit})"
        svg = chart.distribution_svg(
            result.distribution,
            [g.id for g in grades],
            {g.id: g.zh for g in grades},
            {g.id: g.colour for g in grades},
            lines,
            axis,
        )
    matrix = {(t.from_grade, t.to_grade): t.count for t in result.matrix}
    choices = [(s.id, f"{s.display_name.zh} {s.id}") for s in after.indicators]
    if after.has_score:
        choices.append(("score", "综合得分 score"))
    return templates.get_template("_preview.html").render(
        preview=result,
        grades=shown,
        matrix=matrix,
        chart=svg,
        indicator=chosen,
        choices=choices,
        distribution=result.distribution,
    )


# ---------------------------------------------------------------------------- the editor


def _value(document: Any, path: str) -> Any:
    node = document
    with contextlib.suppress(KeyError, IndexError, TypeError, ValueError):
        for part in steps(path):
            node = node[part]
        return node
    return None


def editor_context(document: dict[str, Any], errors: list[tuple[str, str]]) -> dict[str, Any]:
    def value(path: str) -> str:
        found = _value(document, path)
        if found is None:
            return ""
        if isinstance(found, list):
            return ", ".join(map(str, found))
        return str(found)

    return {
        "doc": document,
        "value": value,
        "field_errors": by_field(errors),
        "ops": OPS,
        "methods": list(METHODS),
        "metrics": sorted(sc.METRICS),
        "official_metrics": sorted(BASES),
        "grade_ids": [str(g.get("id", "")) for g in document.get("grades", []) if isinstance(g, dict)],
        "colours": chart.grade_colours(document),
        "indicator_ids": [str(i.get("id", "")) for i in document.get("indicators", []) if isinstance(i, dict)],
        "sources": sources_text(document),
        "params": to_yaml(document.get("grading", {}).get("params") or {}) if document.get("grading") else "",
        "base_document": json.dumps(document, ensure_ascii=False),
    }


def form_document(base: Mapping[str, Any], form: FormData) -> tuple[dict[str, Any], list[tuple[str, str]], str]:
    """(working document, problems the form could not apply, structural edit) from a posted editor form.

    The form carries the document it was rendered from (`base_document`), so unsaved structural edits (a row
    added, the method switched) survive the round trip; `base` stands in when it is missing or unreadable.
    """
    raw = form.get("base_document")
    if isinstance(raw, str) and raw:
        try:
            loaded = json.loads(raw)
        except ValueError:
            loaded = None
        if isinstance(loaded, dict):
            base = loaded
    fields = [(k, v) for k, v in form.multi_items() if k not in CONTROLS and isinstance(v, str)]
    edit = form.get("edit")
    result = apply_form(base, fields, edit if isinstance(edit, str) else "")
    return result.document, list(result.problems), edit if isinstance(edit, str) else ""


def by_field(errors: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Errors keyed by the form field they belong beside (the document path)."""
    out: dict[str, list[str]] = {}
    for field, message in errors:
        out.setdefault(field.removeprefix("document."), []).append(message)
    return out


def preview_for(core: Core, scheme_id: str, document: dict[str, Any], indicator: str) -> tuple[str, int | None, str]:
    """(preview panel HTML, enterprises moved, why there is no preview) for a document."""
    try:
        outcome = core.preview(scheme_id, document, indicator=indicator)
    except sc.InvalidScheme as error:
        return "", None, "; ".join(f"{f}: {m}" for f, m in error.violations[:5])
    except LookupError as error:
        return "", None, str(error)[:300]
    return preview_html(outcome, document, indicator), outcome.result.moved, ""


def live_answer(
    core: Core, scheme_id: str, document: dict[str, Any], errors: list[tuple[str, str]], indicator: str
) -> JSONResponse:
    """The editor's live answer: the preview panel and the errors by field (nothing is stored)."""
    html, moved = "", None
    if not errors:
        html, moved, problem = preview_for(core, scheme_id, document, indicator)
        if problem:
            errors = [("document", problem)]
    return JSONResponse(
        {"html": html, "moved": moved, "errors": by_field(errors)}, headers={"Cache-Control": "no-store"}
    )


def version_page(
    request: Request,
    core: Core,
    user: GovUser,
    record: VersionRecord,
    *,
    document: dict[str, Any] | None = None,
    text: str | None = None,
    errors: list[tuple[str, str]] | None = None,
    notice: str = "",
    view: str = "form",
    indicator: str = "",
    status: int = 200,
) -> HTMLResponse:
    working = document if document is not None else record.document
    if text is None and document is None:
        text = to_yaml(record.document)
    elif text is None:
        text = to_yaml(working)
    errors = errors or []
    candidate = working
    if text is not None and document is None and view == "yaml" and not errors:
        with contextlib.suppress(ServiceError):
            candidate = document_from(text)
    preview, moved, preview_error = preview_for(core, record.scheme_id, candidate, indicator)
    editable = record.status == Status.DRAFT and user.role == "drafter" and user.name == record.drafter
    return page(
        "version.html",
        request,
        status,
        record=record,
        text=text,
        errors=errors,
        preview=preview,
        preview_error=preview_error,
        moved=moved,
        notice=notice,
        view=view if editable else "read",
        editable=editable,
        active=core.active_version(record.scheme_id),
        now_local=datetime.now(CHINA).strftime("%Y-%m-%dT%H:%M"),
        form_action=f"/schemes/{record.scheme_id}/versions/{record.version}",
        new_scheme=False,
        **editor_context(working, errors),
    )


# ---------------------------------------------------------------------------- routes


@router.get("/static/editor.js")
def editor_script() -> Response:
    script = resources.files("carbon_rating").joinpath("static/editor.js").read_text(encoding="utf-8")
    return Response(script, media_type="text/javascript", headers={"Cache-Control": "max-age=300", **HEADERS})


@router.get("/", response_class=HTMLResponse)
def home(request: Request, core: Core) -> HTMLResponse:
    user = user_from(request)
    if user is None:
        return page("login.html", request)
    return page("home.html", request, schemes=core.schemes(user))


@router.post("/login")
def login(request: Request, token: Annotated[str, Form()]) -> Response:
    if not known_token(request, token.strip()):
        raise unauthenticated("UNAUTHENTICATED_GOV", "unknown token")
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        COOKIE, token.strip(), httponly=True, samesite="strict", secure=request.app.state.secure_cookies
    )
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(COOKIE, httponly=True, samesite="strict", secure=request.app.state.secure_cookies)
    return response


@router.get("/schemes/{scheme_id}", response_class=HTMLResponse)
def scheme_page(scheme_id: str, request: Request, core: Core, user: SignedIn) -> HTMLResponse:
    records = core.versions(user, scheme_id)
    if not records:
        core.version(user, scheme_id, "1")  # NOT_FOUND for an unknown scheme
    return page(
        "scheme.html",
        request,
        scheme_id=scheme_id,
        records=records,
        timeline=core.timeline(scheme_id),
        active=core.active_version(scheme_id),
    )


@router.post("/schemes/{scheme_id}/drafts")
def new_draft(scheme_id: str, core: Core, user: SignedIn, base: Annotated[str, Form()] = "") -> Response:
    drafter = _require_role(user, "drafter")
    record = core.draft_from(drafter, scheme_id, base)
    return RedirectResponse(f"/schemes/{scheme_id}/versions/{record.version}", status_code=303)


@router.get("/schemes/{scheme_id}/diff", response_class=HTMLResponse)
def diff_page(
    scheme_id: str,
    request: Request,
    core: Core,
    user: SignedIn,
    older: Annotated[str, Query(alias="from", max_length=32)] = "",
    newer: Annotated[str, Query(alias="to", max_length=32)] = "",
) -> HTMLResponse:
    records = core.versions(user, scheme_id)
    versions = [r.version for r in records]
    newer = newer or (versions[-1] if versions else "")
    older = older or (core.active_version(scheme_id) or (versions[0] if versions else ""))
    changes = core.diff(scheme_id, older, newer) if older and newer else []
    return page("diff.html", request, scheme_id=scheme_id, versions=versions, older=older, newer=newer, changes=changes)


def new_scheme_problems(core: Core, document: dict[str, Any], problems: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The JSON Schema's errors (as the API's), and an id already taken: a new version of an existing scheme is
    drafted from that scheme's page, never by accident here."""
    errors = problems or sc.validate(document, core.store.plugins)
    scheme_id = document.get("scheme_id")
    if isinstance(scheme_id, str) and scheme_id in core.store.scheme_ids():
        errors = [*errors, ("scheme_id", f"方案 {scheme_id} 已存在 already exists: draft a new version from its page")]
    return errors


def new_scheme_page(
    request: Request,
    core: Core,
    document: dict[str, Any],
    *,
    text: str | None = None,
    errors: list[tuple[str, str]] | None = None,
    notice: str = "",
    view: str = "form",
    indicator: str = "",
    status: int = 200,
) -> HTMLResponse:
    """A brand-new scheme in the same form as a draft (the YAML stays as the advanced tab); the preview grades
    the current population under it (nothing is in force for a new scheme, so nobody "moves")."""
    errors = errors or []
    preview, moved, preview_error = "", None, ""
    if view == "form":
        preview, moved, preview_error = preview_for(core, str(document.get("scheme_id", "")), document, indicator)
    return page(
        "new.html",
        request,
        status,
        text=text if text is not None else to_yaml(document),
        errors=errors,
        preview=preview,
        preview_error=preview_error,
        moved=moved,
        notice=notice,
        view=view,
        editable=True,
        form_action="/new",
        new_scheme=True,
        **editor_context(document, errors),
    )


@router.get("/new", response_class=HTMLResponse)
def new_scheme_form(
    request: Request, core: Core, user: SignedIn, view: Annotated[str, Query(max_length=8)] = "form"
) -> HTMLResponse:
    _require_role(user, "drafter")
    return new_scheme_page(request, core, core.template_document(), view="yaml" if view == "yaml" else "form")


@router.post("/new", response_class=HTMLResponse)
async def new_scheme(request: Request, core: Core, user: SignedIn) -> Response:
    drafter = _require_role(user, "drafter")
    form = await request.form()
    if form.get("editor") == "yaml":
        text = str(form.get("document") or "")
        try:
            record = core.create(drafter, text)
        except ServiceError as error:
            if error.field_violations:
                return new_scheme_page(
                    request,
                    core,
                    core.template_document(),
                    text=text,
                    errors=error.field_violations,
                    view="yaml",
                    status=400,
                )
            raise
        return RedirectResponse(f"/schemes/{record.scheme_id}/versions/{record.version}", status_code=303)
    document, problems, edit = form_document(core.template_document(), form)
    indicator = str(form.get("chart_indicator") or "")
    errors = new_scheme_problems(core, document, problems)
    if edit:  # add/remove a row or switch the method: show the result, create later
        notice = "尚未保存 Not saved yet: fill in the new fields, then save."
        return new_scheme_page(request, core, document, errors=errors, notice=notice, indicator=indicator)
    if errors:
        return new_scheme_page(request, core, document, errors=errors, indicator=indicator, status=400)
    try:
        record = core.create(drafter, document)
    except ServiceError as error:
        if error.field_violations:
            return new_scheme_page(
                request, core, document, errors=error.field_violations, indicator=indicator, status=400
            )
        raise
    return RedirectResponse(f"/schemes/{record.scheme_id}/versions/{record.version}", status_code=303)


@router.post("/new/live")
async def new_scheme_live(request: Request, core: Core, user: SignedIn) -> JSONResponse:
    """The new-scheme form, unsaved -> the preview panel and the errors by field (nothing is stored)."""
    _require_role(user, "drafter")
    form = await request.form()
    document, problems, _ = form_document(core.template_document(), form)
    errors = new_scheme_problems(core, document, problems)
    scheme_id = str(document.get("scheme_id", ""))
    return live_answer(core, scheme_id, document, errors, str(form.get("chart_indicator") or ""))


@router.get("/schemes/{scheme_id}/versions/{version}", response_class=HTMLResponse)
def show_version(
    scheme_id: str,
    version: str,
    request: Request,
    core: Core,
    user: SignedIn,
    view: Annotated[str, Query(max_length=8)] = "form",
    indicator: Annotated[str, Query(max_length=40)] = "",
) -> HTMLResponse:
    record = core.version(user, scheme_id, version)
    return version_page(
        request, core, user, record, view=view if view in ("form", "yaml") else "form", indicator=indicator
    )


@router.post("/schemes/{scheme_id}/versions/{version}", response_class=HTMLResponse)
async def save_version(scheme_id: str, version: str, request: Request, core: Core, user: SignedIn) -> Response:
    drafter = _require_role(user, "drafter")
    record = core.version(user, scheme_id, version)
    form = await request.form()
    indicator = str(form.get("chart_indicator") or "")
    if form.get("editor") == "yaml":
        text = str(form.get("document") or "")
        try:
            saved = core.update(drafter, scheme_id, version, text)
        except ServiceError as error:
            if error.field_violations:
                return version_page(
                    request, core, user, record, text=text, errors=error.field_violations, view="yaml", status=400
                )
            raise
        return version_page(request, core, user, saved, notice="已校验并保存 Saved and validated.", view="yaml")
    document, problems, edit = form_document(record.document, form)
    if edit:  # add/remove a row or switch the method: show the result, save later
        errors = problems or sc.validate(document, core.store.plugins)
        notice = "尚未保存 Not saved yet: fill in the new fields, then save."
        return version_page(
            request, core, user, record, document=document, errors=errors, notice=notice, indicator=indicator
        )
    try:
        if problems:
            raise invalid_arguments(problems)
        saved = core.update(drafter, scheme_id, version, document)
    except ServiceError as error:
        if error.field_violations:
            return version_page(
                request,
                core,
                user,
                record,
                document=document,
                errors=error.field_violations,
                indicator=indicator,
                status=400,
            )
        raise
    return version_page(request, core, user, saved, notice="已校验并保存 Saved and validated.", indicator=indicator)


@router.post("/schemes/{scheme_id}/versions/{version}/live")
async def live_preview(scheme_id: str, version: str, request: Request, core: Core, user: SignedIn) -> JSONResponse:
    """The editor's unsaved form -> the preview panel and the field errors (nothing is stored)."""
    record = core.version(user, scheme_id, version)
    form = await request.form()
    document, problems, _ = form_document(record.document, form)
    errors = problems or sc.validate(document, core.store.plugins)
    return live_answer(core, scheme_id, document, errors, str(form.get("chart_indicator") or ""))


@router.post("/schemes/{scheme_id}/versions/{version}/approve")
def approve_form(
    scheme_id: str,
    version: str,
    core: Core,
    user: SignedIn,
    effective_time: Annotated[str, Form(max_length=40)] = "",
    comment: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    approver = _require_role(user, "approver")
    core.approve(approver, scheme_id, version, parse_effective(effective_time), comment)
    return RedirectResponse(f"/schemes/{scheme_id}", status_code=303)


@router.post("/schemes/{scheme_id}/versions/{version}/reject")
def reject_form(
    scheme_id: str, version: str, core: Core, user: SignedIn, comment: Annotated[str, Form(max_length=2000)] = ""
) -> Response:
    approver = _require_role(user, "approver")
    core.reject(approver, scheme_id, version, comment)
    return RedirectResponse(f"/schemes/{scheme_id}/versions/{version}", status_code=303)


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, core: Core, user: SignedIn) -> HTMLResponse:
    view = core.audit()
    return page("audit.html", request, entries=list(reversed(view.entries)), intact=view.intact, bad=view.first_bad_seq)


def _require_role(user: GovUser, role: str) -> GovUser:
    if user.role != role:
        raise permission_denied("ROLE_REQUIRED", f"this needs the {role} role; {user.name} is {user.role}")
    return user
