"""What both ingestion services (ingest-tax, ingest-energy) configure and wire alike: their common
settings, the platform they stand on (Redis, the service verifier) and their maintenance workers
(erasure, compaction). Their consent gate is consent's projection (carbon_consent.projected.ProjectedGate),
wired by each service: this library is shared with accounting, which does not decide consent itself."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import redis
from carbon_common.identity import ServiceVerifier
from carbon_common.redis_conn import connect
from carbon_common.settings import BaseServiceSettings
from pydantic import Field

from carbon_ingest import parquet_io, rawdata
from carbon_ingest.common import compaction_worker, erasure_worker, one_off_worker


class IngestSettings(BaseServiceSettings):
    """Settings both ingestion services read (each adds its name, ports and its own)."""

    idempotency_ttl_days: int = Field(default=400, ge=1)
    # At start, wait this long for the consent projection to apply a heartbeat before serving (batches
    # are refused with CONSENT_PROJECTION_STALE until it has).
    projection_warm_up_seconds: float = Field(default=5.0, ge=0, le=120)
    compact_interval_seconds: float = Field(default=600.0, ge=1)
    compact_min_files: int = Field(default=32, ge=2)
    # Raw files announced but not committed for this long are orphans of a writer that died
    # between its write and its commit (and whose client never retried): swept. Far above any write.
    pending_lease_seconds: float = Field(default=3600.0, ge=60)


@dataclass(frozen=True)
class Platform:
    redis: redis.Redis
    services: ServiceVerifier  # verifies the platform feeds' service tokens


def connect_platform(settings: IngestSettings) -> Platform:
    """The data root checked (a local directory or s3://bucket/prefix, else fail now), Redis and the
    verifier of service tokens."""
    rawdata.check_root(settings.data_dir)
    secret = settings.effective_service_secret()
    client = connect(settings.redis_url)
    return Platform(client, ServiceVerifier(settings.service_name, secret, client))


def maintenance_workers(
    settings: IngestSettings,
    ledger: parquet_io.Ledger,
    erase: Callable[[str], dict[str, int]],
    compact: Callable[[], int],
) -> list[Callable[[threading.Event], None]]:
    """Erasure on the erasure stream; the sweep of orphaned uncommitted files once at start (in
    the background: it retries until Redis answers) and with every compaction, which runs every
    compact_interval_seconds. A crash's temporary files are removed right away."""
    parquet_io.cleanup_tmp(ledger.root)

    def sweep() -> int:
        return ledger.sweep(settings.pending_lease_seconds)

    def sweep_and_compact() -> int:
        sweep()
        return compact()

    return [
        erasure_worker(lambda: connect(settings.redis_url), settings.service_name, erase),
        one_off_worker(sweep, "pending-sweep"),
        compaction_worker(sweep_and_compact, settings.compact_interval_seconds, "compaction"),
    ]
