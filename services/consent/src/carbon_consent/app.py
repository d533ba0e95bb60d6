"""Wiring: settings -> Redis store, audit log, core, edges (gRPC, REST routers), workers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from carbon_common import http
from carbon_common.identity import ServiceVerifier
from carbon_common.ratelimit import RateLimiter, install_rest_limits, prefix_rule
from carbon_common.redis_conn import connect
from carbon_common.server import Service
from fastapi import FastAPI

from carbon_consent import grpc_api
from carbon_consent.access_audit import AccessAuditor
from carbon_consent.audit import AuditLog
from carbon_consent.auth import Authenticator, EnterpriseIdentityProvider, LinkSigner, SignedLinkProvider
from carbon_consent.changes import Heartbeat
from carbon_consent.core import Clock, ConsentCore, Sweeper, system_clock
from carbon_consent.rest import banks, consents, enterprises, erasure, pages
from carbon_consent.rest.common import ConsentEdge
from carbon_consent.settings import ConsentSettings
from carbon_consent.store import Store


@dataclass
class Components:
    settings: ConsentSettings
    store: Store
    core: ConsentCore
    auth: Authenticator
    links: LinkSigner


def build(
    settings: ConsentSettings,
    *,
    clock: Clock = system_clock,
    extra_providers: Sequence[EnterpriseIdentityProvider] = (),
) -> Components:
    client = connect(settings.redis_url)
    store = Store(client, AuditLog(client))
    links = LinkSigner(settings.effective_link_secret())
    core = ConsentCore(
        store,
        limits=settings.limits(),
        links=links,
        base_url=settings.base_url(),
        link_ttl_seconds=settings.link_ttl_seconds,
        manage_link_ttl_seconds=settings.manage_link_ttl_seconds,
        audit_checks=settings.audit_checks,
        erasure_services=list(settings.erasure_services),
        clock=clock,
    )
    auth = Authenticator(
        store,
        ServiceVerifier(settings.service_name, settings.effective_service_secret(), client),
        settings.effective_admin_token(),
        [SignedLinkProvider(links), *extra_providers],
        clock=lambda: clock().timestamp(),
    )
    return Components(settings, store, core, auth, links)


def create_http_app(core: ConsentCore, auth: Authenticator, limiter: RateLimiter | None = None) -> FastAPI:
    app = http.service_app(
        "Carbon consent service",
        "1.0",
        (
            "Enterprises' consents to banks and to the platform (request, authorise, revoke, check), the "
            "enterprise and bank registries, and erasure requests. Errors are google.rpc.Status JSON (AIP-193)."
        ),
    )
    app.state.consent = ConsentEdge(core, auth)
    if limiter is not None:
        # One-click pages per client address (link guessing); the REST API per credential and address.
        install_rest_limits(app, limiter, prefix_rule({"/consents/": "page", "/v1/": "address"}))
    for router in (pages.router, http.health, enterprises.router, banks.router, consents.router, erasure.router):
        app.include_router(router)
    return app


def service(settings: ConsentSettings | None = None, **kwargs: object) -> Service:
    settings = settings or ConsentSettings()
    parts = build(settings, **kwargs)  # type: ignore[arg-type]  # build's keyword-only parameters check what tests pass
    return Service(
        name=settings.service_name,
        settings=settings,
        register=grpc_api.register(parts.core, parts.auth),
        http_app=create_http_app(parts.core, parts.auth, RateLimiter.from_settings(parts.store.r, settings)),
        workers=[
            Sweeper(parts.core, settings.sweep_interval_seconds),
            Heartbeat(parts.store.r, settings.heartbeat_interval_seconds),
            AccessAuditor(parts.store.r, parts.store.audit),
        ],
        on_stop=[lambda: parts.store.r.close()],
    )
