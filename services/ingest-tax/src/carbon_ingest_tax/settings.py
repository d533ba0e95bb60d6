from __future__ import annotations

from carbon_common import catalog
from carbon_common.settings import BaseServiceSettings
from pydantic import Field

_CATALOG = catalog.service("ingest-tax")


class TaxSettings(BaseServiceSettings):
    service_name: str = _CATALOG.name
    grpc_port: int = Field(default=_CATALOG.local.grpc, ge=0, le=65535)
    http_port: int = Field(default=_CATALOG.local.http, ge=0, le=65535)
    # gRPC targets of its peers (CARBON_*_TARGET), `make run` addresses by default.
    consent_target: str = catalog.service("consent").local_target()
    idempotency_ttl_days: int = Field(default=400, ge=1)
    consent_cache_seconds: float = Field(default=0.5, ge=0, le=1.0)
    max_invoices_per_batch: int = Field(default=10_000, ge=1)
    compact_interval_seconds: float = Field(default=600.0, ge=1)
    compact_min_files: int = Field(default=32, ge=2)
    time_zone: str = "Asia/Shanghai"
