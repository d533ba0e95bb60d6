"""Wiring: settings, Redis, consent gate, gRPC servicer, REST upload, workers."""

from __future__ import annotations

from carbon_common import limits
from carbon_common.channels import service_channel
from carbon_common.consent_gate import ConsentGate
from carbon_common.identity import RequireServiceInterceptor, ServiceVerifier
from carbon_common.redis_conn import connect
from carbon_common.server import Service
from carbon_ingest import parquet_io, rawdata
from carbon_ingest.common import compaction_worker, erasure_worker, one_off_worker

from carbon_ingest_tax.ingest import TaxIngestor
from carbon_ingest_tax.servicer import TaxIngestion, register
from carbon_ingest_tax.settings import TaxSettings
from carbon_ingest_tax.upload import build_app


def build(settings: TaxSettings | None = None) -> Service:
    settings = settings or TaxSettings()
    rawdata.check_root(settings.data_dir)  # a local directory or s3://bucket/prefix, else fail now
    secret = settings.effective_service_secret()
    client = connect(settings.redis_url)
    services = ServiceVerifier(settings.service_name, secret, client)
    channel = service_channel(settings.consent_target, settings.service_name, secret)
    gate = ConsentGate(channel, cache_seconds=settings.consent_cache_seconds)
    ingestor = TaxIngestor(
        client,
        settings.data_dir,
        gate,
        ttl_days=settings.idempotency_ttl_days,
        tz=settings.time_zone,
        max_invoices=settings.max_invoices_per_batch,
    )
    parquet_io.cleanup_tmp(ingestor.root)
    servicer = TaxIngestion(ingestor)
    return Service(
        name=settings.service_name,
        settings=settings,
        register=lambda server: register(server, servicer),
        # Data arrives only from platform feeds (tax and grid gateways, the upload portal).
        interceptors=[RequireServiceInterceptor(services, {"carbon.v1.TaxIngestionService"})],
        http_app=build_app(ingestor, limits.current().max_upload_bytes, settings.time_zone, services),
        workers=[
            erasure_worker(lambda: connect(settings.redis_url), settings.service_name, ingestor.erase),
            compaction_worker(
                lambda: ingestor.compact(settings.compact_min_files), settings.compact_interval_seconds, "compaction"
            ),
            one_off_worker(ingestor.backfill_periods, "periods-backfill"),
        ],
        on_stop=[channel.close],
    )
