"""REST: schemes and their versions (/v1/schemes...)."""

from __future__ import annotations

from typing import Annotated, Any

from carbon_common.http import PERIOD_PATTERN, documented, security
from fastapi import APIRouter, Body, Query

from carbon_rating.gov.auth import Approver, Drafter, Reader, SignedIn
from carbon_rating.gov.document import parse_effective
from carbon_rating.gov.models import (
    ApproveBody,
    Core,
    Diff,
    DocumentBody,
    PreviewModel,
    RejectBody,
    SchemeId,
    SchemeList,
    Validation,
    Version,
    VersionList,
    VersionModel,
    preview_json,
    version_json,
)

router = APIRouter(prefix="/v1", tags=["schemes"])
READ = security({}, "govToken", "govCookie")  # anonymous reads see published versions in force
GOV = security("govToken", "govCookie")
Period = Annotated[str | None, Query(min_length=4, max_length=7, pattern=PERIOD_PATTERN)]


@router.get(
    "/schemes",
    summary="Schemes, active versions and drafts (published versions in force without a credential)",
    **documented(SchemeList),
    openapi_extra=READ,
)
def list_schemes(core: Core, user: Reader) -> dict[str, Any]:
    fields = ("version", "status", "drafter") if user else ("version", "status")
    return {
        "schemes": [
            {
                "scheme_id": s.scheme_id,
                "active_version": s.active_version,
                "effective_time": s.effective_time.isoformat() if s.effective_time else None,
                "versions": [{k: r.as_json()[k] for k in fields} for r in s.versions],
            }
            for s in core.schemes(user)
        ]
    }


@router.get(
    "/schemes/{scheme_id}/versions",
    summary="A scheme's versions (published versions in force without a credential)",
    **documented(VersionList),
    openapi_extra=READ,
)
def list_versions(scheme_id: SchemeId, core: Core, user: Reader) -> dict[str, Any]:
    return {"versions": [version_json(r, public=user is None) for r in core.versions(user, scheme_id)]}


@router.get(
    "/schemes/{scheme_id}/versions/{version:segment}",
    summary="One version (a draft or a version not yet in force needs a credential)",
    **documented(VersionModel, 404),
    openapi_extra=READ,
)
def get_version(scheme_id: SchemeId, version: Version, core: Core, user: Reader) -> dict[str, Any]:
    return version_json(core.version(user, scheme_id, version), public=user is None)


@router.get(
    "/schemes/{scheme_id}/versions/{version}:diff",
    summary="What changed in this version against another version of the scheme",
    **documented(Diff, 404),
    openapi_extra=GOV,
)
def diff_version(
    scheme_id: SchemeId,
    version: Version,
    core: Core,
    user: SignedIn,
    against: Annotated[str, Query(min_length=1, max_length=32, pattern=r"^[0-9A-Za-z._-]+$")],
) -> dict[str, Any]:
    changes = core.diff(scheme_id, against, version)
    return {
        "scheme_id": scheme_id,
        "version": version,
        "against": against,
        "changes": [{"path": c.path, "before": c.before, "after": c.after} for c in changes],
    }


@router.post("/schemes:validate", summary="Validate a scheme document", **documented(Validation), openapi_extra=GOV)
def validate_document(core: Core, user: SignedIn, body: DocumentBody) -> dict[str, Any]:
    errors = core.validate(body.document)
    return {"valid": not errors, "errors": [{"field": f, "message": m} for f, m in errors]}


@router.post(
    "/schemes/{scheme_id}/versions",
    status_code=201,
    summary="Draft a new version (drafter)",
    **documented(VersionModel, 409, status=201),
    openapi_extra=GOV,
)
def create_version(scheme_id: SchemeId, core: Core, user: Drafter, body: DocumentBody) -> dict[str, Any]:
    return version_json(core.create(user, body.document, scheme_id))


@router.put(
    "/schemes/{scheme_id}/versions/{version:segment}",
    summary="Edit a draft (its drafter)",
    **documented(VersionModel, 404, 409),
    openapi_extra=GOV,
)
def update_version(
    scheme_id: SchemeId, version: Version, core: Core, user: Drafter, body: DocumentBody
) -> dict[str, Any]:
    return version_json(core.update(user, scheme_id, version, body.document))


@router.post(
    "/schemes/{scheme_id}/versions/{version}:preview",
    summary="Grade distribution before and after this version",
    **documented(PreviewModel, 404),
    openapi_extra=GOV,
)
def preview_version(
    scheme_id: SchemeId, version: Version, core: Core, user: SignedIn, period: Period = None
) -> dict[str, Any]:
    document = core.version(user, scheme_id, version).document
    return preview_json(core.preview(scheme_id, document, period).result)


@router.post(
    "/schemes/{scheme_id}/versions/{version}:approve",
    summary="Approve and publish a version (approver, not its drafter)",
    **documented(VersionModel, 404, 409),
    openapi_extra=GOV,
)
def approve_version(
    scheme_id: SchemeId,
    version: Version,
    core: Core,
    user: Approver,
    body: Annotated[ApproveBody | None, Body()] = None,
) -> dict[str, Any]:
    body = body or ApproveBody()
    return version_json(core.approve(user, scheme_id, version, parse_effective(body.effective_time), body.comment))


@router.post(
    "/schemes/{scheme_id}/versions/{version}:reject",
    summary="Reject a draft with a comment (approver, not its drafter)",
    **documented(VersionModel, 404, 409),
    openapi_extra=GOV,
)
def reject_version(
    scheme_id: SchemeId, version: Version, core: Core, user: Approver, body: RejectBody
) -> dict[str, Any]:
    return version_json(core.reject(user, scheme_id, version, body.comment))
