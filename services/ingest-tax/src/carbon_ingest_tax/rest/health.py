"""GET /healthz: liveness of the HTTP edge (a probe, not in the OpenAPI document)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()


@router.get("/healthz", include_in_schema=False)
def healthz() -> dict[str, str]:
    return {"status": "ok"}
