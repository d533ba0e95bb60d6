"""Wiring: settings -> Redis, reading store, consent projection, core, edges, workers."""

from __future__ import annotations

from carbon_common.http import service_app
from carbon_common.identity import RequireServiceInterceptor
from carbon_common.server import Service
from carbon_consent.projected import ProjectedGate
from carbon_ingest import wiring
from fastapi import FastAPI

from carbon_ingest_energy import grpc_api
from carbon_ingest_energy.core import EnergyCore
from carbon_ingest_energy.rest import health
from carbon_ingest_energy.settings import EnergySettings
from carbon_ingest_energy.store import ReadingStore


def create_http_app() -> FastAPI:
    http = service_app(
        "ingest-energy",
        "v1",
        "Energy readings are ingested over gRPC (EnergyIngestionService); HTTP serves health probes.",
    )
    http.include_router(health.router)
    return http


def build(settings: EnergySettings | None = None) -> Service:
    settings = settings or EnergySettings()
    platform = wiring.connect_platform(settings)
    # Collection consent decided from consent's projection, no call per batch (carbon_consent.projected).
    gate = ProjectedGate.connect(settings.redis_url, settings.service_name, settings.projection_warm_up_seconds)
    store = ReadingStore(platform.redis, settings.data_dir, settings.idempotency_ttl_days)
    core = EnergyCore(settings, store, gate)
    return Service(
        name=settings.service_name,
        settings=settings,
        register=grpc_api.register(core),
        # Data arrives only from platform feeds (tax and grid gateways, the upload portal).
        interceptors=[RequireServiceInterceptor(platform.services, {"carbon.v1.EnergyIngestionService"})],
        http_app=create_http_app(),
        workers=[
            *wiring.maintenance_workers(
                settings,
                store.ledger,
                core.erase,
                lambda: store.compact(settings.compact_min_files, settings.compact_large_rows),
            ),
            gate.worker(),
        ],
    )
