"""REST: the rated population (/v1/population...)."""

from __future__ import annotations

from typing import Any

from carbon_common.http import documented, security
from fastapi import APIRouter

from carbon_rating.gov.auth import SignedIn
from carbon_rating.gov.models import Core, Refreshed

router = APIRouter(prefix="/v1", tags=["population"])


@router.post(
    "/population:refresh",
    summary="Reload enterprises from accounting",
    **documented(Refreshed),
    openapi_extra=security("govToken", "govCookie"),
)
def population_refresh(core: Core, user: SignedIn) -> dict[str, Any]:
    return {"changed_rows": core.refresh_population()}
