"""Wiring: settings -> Redis, consent and rating channels, store, recompute, core, edges (gRPC,
REST routers, the activity-event consumer, the erasure consumer)."""

from __future__ import annotations

import threading

from carbon_common import redis_conn
from carbon_common.channels import service_channel
from carbon_common.erasure import erasure_worker
from carbon_common.http import service_app
from carbon_common.ratelimit import RateLimiter, RateLimitInterceptor, install_rest_limits, prefix_rule
from carbon_common.server import Service
from carbon_ingest import rawdata
from fastapi import FastAPI

from carbon_accounting import grpc_api
from carbon_accounting.consumer import consume_events
from carbon_accounting.core import Access, AccountingCore
from carbon_accounting.recompute import Accountant
from carbon_accounting.rest import account_pages, health, reports
from carbon_accounting.settings import AccountingSettings
from carbon_accounting.store import AccountStore


def create_http_app(core: AccountingCore, limiter: RateLimiter | None = None) -> FastAPI:
    app = service_app(
        "Carbon accounting reports",
        "v1",
        "The enterprise's carbon account report for a period, for banks with consent or the enterprise.",
    )
    if limiter is not None:
        install_rest_limits(app, limiter, prefix_rule({"/v1/": "address", "/enterprises/": "address"}))
    app.state.core = core
    app.include_router(reports.router)
    app.include_router(account_pages.router)
    app.include_router(health.router)
    return app


def build(settings: AccountingSettings | None = None) -> Service:
    settings = settings or AccountingSettings()
    rawdata.check_root(settings.data_dir)  # a local directory or s3://bucket/prefix, else fail now
    secret = settings.effective_service_secret()
    client = redis_conn.connect(settings.redis_url)
    consent = service_channel(settings.consent_target, settings.service_name, secret)
    rating = service_channel(settings.rating_target, settings.service_name, secret)
    accountant = Accountant(settings, AccountStore(client), consent)
    core = AccountingCore(accountant, Access(settings, consent, client), rating_channel=rating, consent_channel=consent)
    # Banks call GetAccount and the report directly: per API key and per address.
    limiter = RateLimiter.from_settings(client, settings)

    def events(stopping: threading.Event) -> None:
        consume_events(core, redis_conn.connect(settings.redis_url), stopping)

    return Service(
        name=settings.service_name,
        settings=settings,
        register=grpc_api.register(core),
        http_app=create_http_app(core, limiter),
        interceptors=[RateLimitInterceptor(limiter, {"carbon.v1.AccountingService"})],
        workers=[
            events,
            erasure_worker(lambda: redis_conn.connect(settings.redis_url), settings.service_name, core.erase),
        ],
        on_stop=[consent.close, rating.close],
    )
