from __future__ import annotations

from carbon_common.settings import BaseServiceSettings
from pydantic import Field


class TaxSettings(BaseServiceSettings):
    service_name: str = "ingest-tax"
    grpc_port: int = Field(default=50052, ge=0, le=65535)
    http_port: int = Field(default=8082, ge=0, le=65535)
    idempotency_ttl_days: int = Field(default=400, ge=1)
    consent_cache_seconds: float = Field(default=0.5, ge=0, le=1.0)
    max_invoices_per_batch: int = Field(default=10_000, ge=1)
    compact_interval_seconds: float = Field(default=600.0, ge=1)
    compact_min_files: int = Field(default=32, ge=2)
    time_zone: str = "Asia/Shanghai"
