"""GET /healthz: liveness of the HTTP edge and the factor set in use (a probe, not in the OpenAPI document)."""

from __future__ import annotations

from fastapi import APIRouter

from carbon_accounting.rest import Core

router = APIRouter()


@router.get("/healthz", include_in_schema=False)
async def healthz(core: Core) -> dict[str, str]:
    return {"status": "ok", "factor_set": core.factor_set_version}
