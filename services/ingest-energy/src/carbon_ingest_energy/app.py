"""Wiring: settings, Redis, consent gate, servicer, workers."""

from __future__ import annotations

from carbon_common.channels import service_channel
from carbon_common.consent_gate import ConsentGate
from carbon_common.docs import install_offline_docs
from carbon_common.http import install_error_handlers
from carbon_common.identity import RequireServiceInterceptor, ServiceVerifier
from carbon_common.redis_conn import connect
from carbon_common.server import Service
from carbon_ingest import parquet_io, rawdata
from carbon_ingest.common import compaction_worker, erasure_worker
from fastapi import FastAPI
from pydantic import BaseModel

from carbon_ingest_energy.servicer import EnergyIngestion, register
from carbon_ingest_energy.settings import EnergySettings
from carbon_ingest_energy.store import ReadingStore


class Health(BaseModel):
    status: str


def build(settings: EnergySettings | None = None) -> Service:
    settings = settings or EnergySettings()
    rawdata.check_root(settings.data_dir)  # a local directory or s3://bucket/prefix, else fail now
    secret = settings.effective_service_secret()
    client = connect(settings.redis_url)
    services = ServiceVerifier(settings.service_name, secret, client)
    store = ReadingStore(client, settings.data_dir, settings.idempotency_ttl_days)
    parquet_io.cleanup_tmp(store.root)
    channel = service_channel(settings.consent_target, settings.service_name, secret)
    gate = ConsentGate(channel, cache_seconds=settings.consent_cache_seconds)
    servicer = EnergyIngestion(settings, store, gate)

    def erase(uscc: str) -> dict[str, int]:
        servicer.forget(uscc)
        return store.erase(uscc)

    # Readings arrive over gRPC only; the HTTP edge serves probes.
    http = FastAPI(
        title="ingest-energy",
        version="v1",
        description="Energy readings are ingested over gRPC (EnergyIngestionService); HTTP serves health probes.",
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(http)
    install_offline_docs(http)

    @http.get("/healthz", response_model=Health, tags=["health"], summary="Liveness of the HTTP edge")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return Service(
        name=settings.service_name,
        settings=settings,
        register=lambda server: register(server, servicer),
        # Data arrives only from platform feeds (tax and grid gateways, the upload portal).
        interceptors=[RequireServiceInterceptor(services, {"carbon.v1.EnergyIngestionService"})],
        http_app=http,
        workers=[
            erasure_worker(lambda: connect(settings.redis_url), settings.service_name, erase),
            compaction_worker(
                lambda: store.compact(settings.compact_min_files, settings.compact_large_rows),
                settings.compact_interval_seconds,
                "compaction",
            ),
        ],
        on_stop=[channel.close],
    )
