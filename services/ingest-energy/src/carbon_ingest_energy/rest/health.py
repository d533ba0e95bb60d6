"""GET /healthz: liveness of the HTTP edge."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel


class Health(BaseModel):
    status: str


router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="Liveness of the HTTP edge")
def healthz() -> Health:
    return Health(status="ok")
