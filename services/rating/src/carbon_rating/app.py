"""Wiring: settings -> Redis, registry, population, rating store and core, gRPC edge, government
app, workers (scheme poll, population refresh, accounts stream, erasure consumer)."""

from __future__ import annotations

import logging

from carbon.v1 import accounting_pb2_grpc
from carbon_common import catalog, redis_conn
from carbon_common.bank_auth import BankAuthenticator
from carbon_common.channels import service_channel
from carbon_common.consent_gate import ConsentGate
from carbon_common.erasure import erasure_worker
from carbon_common.identity import ServiceVerifier
from carbon_common.ratelimit import RateLimiter, RateLimitInterceptor
from carbon_common.server import Service

from carbon_rating import gov, registry
from carbon_rating.builtin import builtin_documents
from carbon_rating.core import RatingCore
from carbon_rating.grpc_api import RatingServicer, register
from carbon_rating.plugins import load_plugins
from carbon_rating.population import PopulationCache, refresh_enterprises, store_frame, stream_worker
from carbon_rating.scheme import SchemeVersion
from carbon_rating.settings import RatingSettings
from carbon_rating.store import RatingStore

log = logging.getLogger(__name__)


def build(settings: RatingSettings | None = None) -> Service:
    settings = settings or RatingSettings()
    secret = settings.effective_service_secret()
    client = redis_conn.connect(settings.redis_url)
    plugins = load_plugins()
    store = registry.SchemeStore(client, plugins)
    added = store.seed(builtin_documents().values())
    if added:
        log.info("built-in scheme versions published", extra={"versions": added})
    schemes = registry.SchemeRegistry(client, plugins, settings.scheme_poll_seconds)
    schemes.refresh(force=True)
    population = PopulationCache(client)
    if settings.dev_synthetic_population and settings.dev_mode and not client.exists("carbon:rating:population"):
        from carbon_rating.synthetic import population as synthetic

        store_frame(client, synthetic(settings.dev_synthetic_population))
        log.info("dev mode: synthetic population seeded", extra={"enterprises": settings.dev_synthetic_population})

    accounting_channel = service_channel(settings.accounting_target, settings.service_name, secret)
    accounting = accounting_pb2_grpc.AccountingServiceStub(accounting_channel)
    consent_channel = service_channel(settings.consent_target, settings.service_name, secret)
    core = RatingCore(
        RatingStore(client, settings.rating_cache_seconds),
        schemes,
        population,
        accounting,
        ConsentGate(consent_channel),
        plugins,
    )
    servicer = RatingServicer(
        core, ServiceVerifier(settings.service_name, secret, client), BankAuthenticator(consent_channel)
    )

    tokens = settings.gov_tokens
    if not tokens:
        if not settings.dev_mode:
            raise ValueError("CARBON_GOV_TOKENS is required unless CARBON_DEV_MODE=true")
        tokens, path = gov.dev_tokens(settings.data_dir)
        log.warning(
            "dev mode: government tokens generated", extra={"users": ["dev-drafter", "dev-approver"], "file": str(path)}
        )
    users = gov.parse_tokens(tokens)
    log.info("government users", extra={"users": sorted({f"{u.name}:{u.role}" for u in users.values()})})
    # Banks read ratings over gRPC (per API key and address); the login form is limited per address.
    limiter = RateLimiter.from_settings(client, settings)
    http_app = gov.create_app(
        store,
        schemes,
        population,
        users,
        lambda: refresh_enterprises(client, accounting),
        limiter,
        secure_cookies=not settings.dev_mode,  # dev mode serves plain http://127.0.0.1
    )

    def warm() -> list[SchemeVersion]:
        return [s for s in (schemes.active(i) for i in schemes.snapshot.schemes) if s is not None]

    workers = [
        schemes.worker,
        population.worker(settings.population_refresh_seconds, warm, settings.population_refresh_max_share),
        stream_worker(client, accounting, core.rerate),
        # an erased enterprise's population rows and ratings go too, once accounting has erased the
        # accounts they come from (an account it announced before then is older than rating's erasure)
        erasure_worker(
            lambda: redis_conn.connect(settings.redis_url),
            settings.service_name,
            core.erase,
            after=(catalog.service("accounting").name,),
        ),
    ]
    if settings.scheme_source == "configmap":
        workers.append(registry.poll_configmaps(store, settings.configmap_namespace, settings.configmap_poll_seconds))
    return Service(
        name=settings.service_name,
        settings=settings,
        register=register(servicer),
        http_app=http_app,
        interceptors=[RateLimitInterceptor(limiter, {"carbon.v1.RatingService"})],
        workers=workers,
        on_stop=[accounting_channel.close, consent_channel.close, client.close],
    )
