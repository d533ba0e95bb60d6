from __future__ import annotations

from carbon_common import catalog
from carbon_ingest.wiring import IngestSettings
from pydantic import Field

_CATALOG = catalog.service("ingest-tax")


class TaxSettings(IngestSettings):
    service_name: str = _CATALOG.name
    grpc_port: int = Field(default=_CATALOG.local.grpc, ge=0, le=65535)
    http_port: int = Field(default=_CATALOG.local.http, ge=0, le=65535)
    max_invoices_per_batch: int = Field(default=10_000, ge=1)
    time_zone: str = "Asia/Shanghai"
