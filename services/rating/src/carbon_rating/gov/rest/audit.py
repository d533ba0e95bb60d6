"""REST: the hash-chained audit log of government changes (/v1/audit)."""

from __future__ import annotations

from carbon_common.http import documented, security
from fastapi import APIRouter

from carbon_rating.gov.auth import SignedIn
from carbon_rating.gov.models import AuditLog, Core

router = APIRouter(prefix="/v1", tags=["audit"])


@router.get(
    "/audit",
    summary="The hash-chained audit log and its verification",
    **documented(AuditLog),
    openapi_extra=security("govToken", "govCookie"),
)
def get_audit(core: Core, user: SignedIn) -> AuditLog:
    view = core.audit()
    return AuditLog(intact=view.intact, first_bad_seq=view.first_bad_seq, entries=view.entries)
