"""Wiring: settings -> Redis, tax store, consent projection, core, edges (gRPC, REST routers), workers."""

from __future__ import annotations

from carbon_common import limits
from carbon_common.http import health, service_app
from carbon_common.identity import RequireServiceInterceptor, ServiceVerifier
from carbon_common.server import Service
from carbon_consent.projected import ProjectedGate
from carbon_ingest import wiring
from carbon_ingest.common import one_off_worker
from fastapi import FastAPI

from carbon_ingest_tax import grpc_api, upload
from carbon_ingest_tax.core import TaxCore
from carbon_ingest_tax.rest import uploads
from carbon_ingest_tax.settings import TaxSettings
from carbon_ingest_tax.store import TaxStore


def create_http_app(core: TaxCore, max_bytes: int, time_zone: str, services: ServiceVerifier) -> FastAPI:
    # The file plus its multipart framing; the file alone is checked against max_bytes by the router.
    app = service_app("ingest-tax", "v1", upload.__doc__ or "", max_body_bytes=max_bytes + 64 * 1024)
    app.state.uploads = uploads.UploadEdge(core, max_bytes, time_zone, services)
    app.include_router(health)
    app.include_router(uploads.router)
    return app


def build(settings: TaxSettings | None = None) -> Service:
    settings = settings or TaxSettings()
    platform = wiring.connect_platform(settings)
    # Collection consent decided from consent's projection, no call per batch (carbon_consent.projected).
    gate = ProjectedGate.connect(settings.redis_url, settings.service_name, settings.projection_warm_up_seconds)
    store = TaxStore(platform.redis, settings.data_dir, ttl_days=settings.idempotency_ttl_days)
    core = TaxCore(store, gate, tz=settings.time_zone, max_invoices=settings.max_invoices_per_batch)
    return Service(
        name=settings.service_name,
        settings=settings,
        register=grpc_api.register(core),
        # Data arrives only from platform feeds (tax and grid gateways, the upload portal).
        interceptors=[RequireServiceInterceptor(platform.services, {"carbon.v1.TaxIngestionService"})],
        http_app=create_http_app(core, limits.current().max_upload_bytes, settings.time_zone, platform.services),
        workers=[
            *wiring.maintenance_workers(
                settings, store.ledger, core.erase, lambda: core.compact(settings.compact_min_files)
            ),
            one_off_worker(core.backfill_periods, "periods-backfill"),
            gate.worker(),
        ],
    )
