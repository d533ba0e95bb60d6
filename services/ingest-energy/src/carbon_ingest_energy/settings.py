from __future__ import annotations

from carbon_common import catalog
from carbon_common.settings import BaseServiceSettings
from pydantic import Field

_CATALOG = catalog.service("ingest-energy")


class EnergySettings(BaseServiceSettings):
    service_name: str = _CATALOG.name
    grpc_port: int = Field(default=_CATALOG.local.grpc, ge=0, le=65535)
    http_port: int = Field(default=_CATALOG.local.http, ge=0, le=65535)
    # gRPC targets of its peers (CARBON_*_TARGET), `make run` addresses by default.
    consent_target: str = catalog.service("consent").local_target()
    # Physical bound for spikes: an interval above max_power_kw × interval is flagged.
    max_power_kw: int = Field(default=100_000, ge=1)
    # Readings further than this in the future are a client mistake.
    max_future_seconds: int = Field(default=86_400, ge=0)
    idempotency_ttl_days: int = Field(default=400, ge=1)
    consent_cache_seconds: float = Field(default=0.5, ge=0, le=1.0)
    # Compaction looks every compact_interval_seconds (a directory listing when there is nothing
    # to do) and merges a month's files below compact_large_rows once it has compact_min_files:
    # under a live feed (a file per window) a month's recompute opens a bounded number of files.
    compact_interval_seconds: float = Field(default=10.0, ge=0.1)
    compact_min_files: int = Field(default=32, ge=2)
    compact_large_rows: int = Field(default=1_000_000, ge=1)
    # Group commit: a stream's batches are written and committed in windows of at most
    # this many batches / readings (distinct meters per window; memory ≈ 60 B per reading).
    window_max_batches: int = Field(default=64, ge=1, le=10_000)
    window_max_readings: int = Field(default=2_000_000, ge=1)
    max_gaps_reported: int = Field(default=1000, ge=1)
