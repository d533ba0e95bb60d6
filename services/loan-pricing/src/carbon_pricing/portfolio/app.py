"""Wiring of the loan book into the pricing service: its core, gRPC service and REST router."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc
from carbon_common import redis_conn
from carbon_common.channels import service_channel
from fastapi import FastAPI

from carbon_pricing.core import PricingCore
from carbon_pricing.portfolio import rest, servicer
from carbon_pricing.portfolio.accounts import ProjectedAccountFacts
from carbon_pricing.portfolio.core import LoanBookCore
from carbon_pricing.portfolio.sources import GrpcAccountFacts, ProjectedDecisions
from carbon_pricing.portfolio.store import BookStore
from carbon_pricing.projected import ProjectedConsent
from carbon_pricing.settings import PricingSettings

Register = Callable[[grpc.Server], list[str]]


@dataclass(frozen=True)
class LoanBooks:
    core: LoanBookCore
    workers: list[Callable[[threading.Event], None]] = field(default_factory=list)

    def register(self, inner: Register) -> Register:
        def _register(server: grpc.Server) -> list[str]:
            return [*inner(server), *servicer.register(self.core, server)]

        return _register

    def mount(self, app: FastAPI) -> FastAPI:
        app.include_router(rest.router(self.core))
        return app


def build_loan_books(settings: PricingSettings, pricing: PricingCore, consent: ProjectedConsent) -> LoanBooks:
    """Shares the pricing core's Redis client, bank directory and consent projection (same tenants,
    same keys, same decision rule)."""
    secret = settings.effective_service_secret()
    caller = settings.service_name
    timeout = settings.peer_timeout_seconds
    grpc_accounts = GrpcAccountFacts(service_channel(settings.accounting_target, caller, secret), timeout)
    # Account facts: projected from the accounts stream (fetched when an account changes), one HMGET per book.
    projected = ProjectedAccountFacts(redis_conn.connect(settings.redis_url))
    return LoanBooks(
        LoanBookCore(
            store=BookStore(pricing.store.redis),
            banks=pricing.banks,
            access=ProjectedDecisions(consent),
            accounts=projected,
        ),
        workers=[projected.worker(lambda uscc, period: grpc_accounts.accounts([uscc], period).get(uscc))],
    )
