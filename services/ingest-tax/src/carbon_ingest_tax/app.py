"""Wiring: settings -> Redis, tax store, consent gate, core, edges (gRPC, REST routers), workers."""

from __future__ import annotations

from carbon_common import limits
from carbon_common.channels import service_channel
from carbon_common.consent_gate import ConsentGate
from carbon_common.docs import install_offline_docs
from carbon_common.http import install_error_handlers
from carbon_common.identity import RequireServiceInterceptor, ServiceVerifier
from carbon_common.redis_conn import connect
from carbon_common.server import Service
from carbon_ingest import parquet_io, rawdata
from carbon_ingest.common import compaction_worker, erasure_worker, one_off_worker
from fastapi import FastAPI

from carbon_ingest_tax import grpc_api, upload
from carbon_ingest_tax.core import TaxCore
from carbon_ingest_tax.rest import health, uploads
from carbon_ingest_tax.settings import TaxSettings
from carbon_ingest_tax.store import TaxStore


def create_http_app(core: TaxCore, max_bytes: int, time_zone: str, services: ServiceVerifier) -> FastAPI:
    app = FastAPI(title="ingest-tax", version="v1", description=upload.__doc__, docs_url=None, redoc_url=None)
    # The file plus its multipart framing; the file alone is checked against max_bytes by the router.
    install_error_handlers(app, max_body_bytes=max_bytes + 64 * 1024)
    install_offline_docs(app)
    app.state.uploads = uploads.UploadEdge(core, max_bytes, time_zone, services)
    app.include_router(health.router)
    app.include_router(uploads.router)
    return app


def build(settings: TaxSettings | None = None) -> Service:
    settings = settings or TaxSettings()
    rawdata.check_root(settings.data_dir)  # a local directory or s3://bucket/prefix, else fail now
    secret = settings.effective_service_secret()
    client = connect(settings.redis_url)
    services = ServiceVerifier(settings.service_name, secret, client)
    channel = service_channel(settings.consent_target, settings.service_name, secret)
    gate = ConsentGate(channel, cache_seconds=settings.consent_cache_seconds)
    store = TaxStore(client, settings.data_dir, ttl_days=settings.idempotency_ttl_days)
    core = TaxCore(store, gate, tz=settings.time_zone, max_invoices=settings.max_invoices_per_batch)
    parquet_io.cleanup_tmp(store.root)
    return Service(
        name=settings.service_name,
        settings=settings,
        register=grpc_api.register(core),
        # Data arrives only from platform feeds (tax and grid gateways, the upload portal).
        interceptors=[RequireServiceInterceptor(services, {"carbon.v1.TaxIngestionService"})],
        http_app=create_http_app(core, limits.current().max_upload_bytes, settings.time_zone, services),
        workers=[
            erasure_worker(lambda: connect(settings.redis_url), settings.service_name, core.erase),
            compaction_worker(
                lambda: core.compact(settings.compact_min_files), settings.compact_interval_seconds, "compaction"
            ),
            one_off_worker(core.backfill_periods, "periods-backfill"),
        ],
        on_stop=[channel.close],
    )
