"""GET /healthz: liveness of the HTTP edge and the policy bundle in force (a probe, not in the OpenAPI document)."""

from __future__ import annotations

from fastapi import APIRouter

from carbon_pricing.rest.deps import Edge

router = APIRouter()


@router.get("/healthz", include_in_schema=False)
def healthz(edge: Edge) -> dict[str, str]:
    return {"status": "ok", "policy_bundle_version": edge.core.bundle_version}
