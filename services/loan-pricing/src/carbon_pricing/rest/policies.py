"""Policy administration: GET /v1/policies (bank or admin), POST /v1/policies:dryRun and :activate (admin).

The documents are the policy lifecycle's records (carbon_pricing.lifecycle); a draft arrives as files,
a drafts-directory path or an overlay on the active bundle.
"""

from __future__ import annotations

from typing import Annotated

from carbon_common.http import bank_api_key, security
from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from carbon_pricing.lifecycle import Activated, Draft, DryRunResult, Policies
from carbon_pricing.rest.deps import ADMIN, BANK, ERROR_RESPONSES, Edge, RequireAdmin

router = APIRouter(tags=["policies"])


class DraftBundle(BaseModel):
    model_config = ConfigDict(extra="forbid")

    files: dict[str, str] | None = Field(
        default=None, description="Bundle files: relative path (e.g. quzhou_tanrongyi/data.json, .manifest) -> content"
    )
    draft_path: str | None = Field(default=None, description="A bundle directory under the drafts directory")
    overlay: bool = Field(default=False, description="Lay the files over the active bundle instead of a full bundle")
    revision: str | None = Field(default=None, description="Sets .manifest revision of the draft")

    def draft(self) -> Draft:
        return Draft(files=self.files, draft_path=self.draft_path, overlay=self.overlay, revision=self.revision)


class DryRunRequest(DraftBundle):
    limit: int = Field(default=100, ge=1, le=10_000, description="How many of the most recent quotes to replay")


class ActivateRequest(DraftBundle):
    expected_active_version: str | None = Field(
        default=None, description="Refuse (FAILED_PRECONDITION) unless this bundle is still the active one"
    )


@router.get(
    "/v1/policies",
    summary="Active policy bundle and products",
    response_model=None,
    responses={200: {"model": Policies, "description": "Successful Response"}, **ERROR_RESPONSES},
    openapi_extra=security(BANK, ADMIN),
)
def policies(key: Annotated[str, Depends(bank_api_key)], edge: Edge) -> Policies:
    if not edge.is_admin(key):
        edge.core.authenticate(key)
    return edge.core.policies_in_force()


@router.post(
    "/v1/policies:dryRun",
    dependencies=[RequireAdmin],
    response_model=None,
    responses={200: {"model": DryRunResult, "description": "Successful Response"}, **ERROR_RESPONSES},
    summary="Evaluate a draft bundle against the most recent stored quote inputs",
    openapi_extra=security(ADMIN),
)
def dry_run(body: DryRunRequest, edge: Edge) -> DryRunResult:
    return edge.core.dry_run(body.draft(), body.limit)


@router.post(
    "/v1/policies:activate",
    dependencies=[RequireAdmin],
    response_model=None,
    responses={200: {"model": Activated, "description": "Successful Response"}, **ERROR_RESPONSES},
    summary="Make a draft bundle the live one on every replica",
    openapi_extra=security(ADMIN),
)
def activate(body: ActivateRequest, edge: Edge) -> Activated:
    return edge.core.activate(body.draft(), body.expected_active_version)
