"""What both ingestion services (ingest-tax, ingest-energy) configure and wire alike: their common
settings, the platform they stand on (Redis, the service verifier, the consent gate) and their
maintenance workers (erasure, compaction)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import grpc
import redis
from carbon_common import catalog
from carbon_common.channels import service_channel
from carbon_common.consent_gate import ConsentGate
from carbon_common.identity import ServiceVerifier
from carbon_common.redis_conn import connect
from carbon_common.settings import BaseServiceSettings
from pydantic import Field

from carbon_ingest import parquet_io, rawdata
from carbon_ingest.common import compaction_worker, erasure_worker, one_off_worker


class IngestSettings(BaseServiceSettings):
    """Settings both ingestion services read (each adds its name, ports and its own)."""

    # gRPC targets of its peers (CARBON_*_TARGET), `make run` addresses by default.
    consent_target: str = catalog.service("consent").local_target()
    idempotency_ttl_days: int = Field(default=400, ge=1)
    consent_cache_seconds: float = Field(default=0.5, ge=0, le=1.0)
    compact_interval_seconds: float = Field(default=600.0, ge=1)
    compact_min_files: int = Field(default=32, ge=2)
    # Raw files announced but not committed for this long are orphans of a writer that died
    # between its write and its commit (and whose client never retried): swept. Far above any write.
    pending_lease_seconds: float = Field(default=3600.0, ge=60)


@dataclass(frozen=True)
class Platform:
    redis: redis.Redis
    services: ServiceVerifier  # verifies the platform feeds' service tokens
    consent_channel: grpc.Channel
    gate: ConsentGate  # the platform's collection consent, checked on every batch


def connect_platform(settings: IngestSettings) -> Platform:
    """The data root checked (a local directory or s3://bucket/prefix, else fail now), Redis, the
    verifier of service tokens and the consent gate."""
    rawdata.check_root(settings.data_dir)
    secret = settings.effective_service_secret()
    client = connect(settings.redis_url)
    channel = service_channel(settings.consent_target, settings.service_name, secret)
    return Platform(
        client,
        ServiceVerifier(settings.service_name, secret, client),
        channel,
        ConsentGate(channel, cache_seconds=settings.consent_cache_seconds),
    )


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
