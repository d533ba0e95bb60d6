"""Wiring of the loan book into the pricing service: its core, gRPC service and REST router."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc
from carbon_common import redis_conn
from carbon_common.channels import service_channel
from carbon_common.consent_gate import ConsentGate
from carbon_common.errors import ServiceError
from fastapi import FastAPI

from carbon_pricing.core import RATING_SCOPE, PricingCore
from carbon_pricing.portfolio import page, rest, runs_rest, servicer
from carbon_pricing.portfolio.accounts import ProjectedAccountFacts
from carbon_pricing.portfolio.core import LoanBookCore
from carbon_pricing.portfolio.domain import HighCarbonGrades
from carbon_pricing.portfolio.grades import ConsentedGrades
from carbon_pricing.portfolio.repricing import RepricingCore, RunStore
from carbon_pricing.portfolio.sources import GateDecisions, GrpcAccountFacts
from carbon_pricing.portfolio.store import BookStore
from carbon_pricing.settings import PricingSettings

Register = Callable[[grpc.Server], list[str]]


@dataclass(frozen=True)
class LoanBooks:
    core: LoanBookCore
    runs: RepricingCore | None = None
    workers: list[Callable[[threading.Event], None]] = field(default_factory=list)
    secure_cookies: bool = True  # the bank page's login cookie (off only in dev mode, plain http)

    def register(self, inner: Register) -> Register:
        def _register(server: grpc.Server) -> list[str]:
            return [*inner(server), *servicer.register(self.core, server, self.runs)]

        return _register

    @staticmethod
    def body_limits() -> dict[str, int]:
        """The upload route's body bound (larger than the app-wide JSON bound)."""
        return rest.body_limits()

    def mount(self, app: FastAPI) -> FastAPI:
        app.include_router(rest.router(self.core))
        app.include_router(page.router(self.core, self.secure_cookies))
        if self.runs is not None:
            app.include_router(runs_rest.router(self.runs))
        return app


def rating_consent(pricing: PricingCore) -> Callable[[str, str, str | None], bool]:
    """Whether the bank's RATING consent covers a rating's period (the quote rule, pricing's consent source)."""

    def allowed(uscc: str, grantee: str, period: str | None) -> bool:
        try:
            pricing.consent.require(uscc, grantee, RATING_SCOPE, period)
        except ServiceError as error:
            if error.code == grpc.StatusCode.PERMISSION_DENIED:
                return False
            raise
        return True

    return allowed


def build_loan_books(settings: PricingSettings, pricing: PricingCore) -> LoanBooks:
    """Shares the pricing core's Redis client and bank directory (same tenants, same keys)."""
    secret = settings.effective_service_secret()
    caller = settings.service_name
    timeout = settings.peer_timeout_seconds
    gate = ConsentGate(service_channel(settings.consent_target, caller, secret), timeout=timeout)
    grpc_accounts = GrpcAccountFacts(service_channel(settings.accounting_target, caller, secret), timeout)
    # Account facts: projected from the accounts stream (fetched when an account changes), one HMGET per book.
    projected = ProjectedAccountFacts(redis_conn.connect(settings.redis_url))
    high_carbon = HighCarbonGrades.load()
    books = LoanBookCore(
        store=BookStore(pricing.store.redis),
        banks=pricing.banks,
        access=GateDecisions(gate),
        accounts=projected,
        grades=ConsentedGrades(sorted(high_carbon.schemes), pricing.ratings.rating, rating_consent(pricing)),
        high_carbon=high_carbon,
    )
    runs = RepricingCore(books, RunStore(pricing.store.redis), pricing, lambda: list(pricing.policies.products))
    return LoanBooks(
        books,
        runs,
        workers=[
            projected.worker(lambda uscc, period: grpc_accounts.accounts([uscc], period).get(uscc)),
            runs.worker(),
        ],
        secure_cookies=not settings.dev_mode,
    )
