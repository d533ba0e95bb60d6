"""Wiring of the loan book into the pricing service: its cores, gRPC service, REST routers and bank page."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import grpc
from carbon_common import redis_conn
from carbon_common.channels import service_channel
from fastapi import FastAPI

from carbon_pricing.core import RATING_SCOPE, PricingCore
from carbon_pricing.portfolio import grpc_api, rest
from carbon_pricing.portfolio.accounts import ProjectedAccountFacts
from carbon_pricing.portfolio.core import LoanBookCore
from carbon_pricing.portfolio.domain import HighCarbonGrades
from carbon_pricing.portfolio.grades import AllowedMany, ConsentedGrades
from carbon_pricing.portfolio.repricing import RepricingCore
from carbon_pricing.portfolio.rest import page
from carbon_pricing.portfolio.sources import GrpcAccountFacts, ProjectedDecisions
from carbon_pricing.portfolio.store import BookStore, RunStore
from carbon_pricing.projected import ProjectedConsent
from carbon_pricing.settings import PricingSettings
from carbon_pricing.sources import RatingFacts

Register = Callable[[grpc.Server], list[str]]


@dataclass(frozen=True)
class LoanBooks:
    core: LoanBookCore
    runs: RepricingCore | None = None
    workers: list[Callable[[threading.Event], None]] = field(default_factory=list)
    secure_cookies: bool = True  # the bank page's login cookie (off only in dev mode, plain http)

    def register(self, inner: Register) -> Register:
        def _register(server: grpc.Server) -> list[str]:
            return [*inner(server), *grpc_api.register(self.core, server, self.runs)]

        return _register

    @staticmethod
    def body_limits() -> dict[str, int]:
        """The upload route's body bound (larger than the app-wide JSON bound)."""
        return rest.body_limits()

    def mount(self, app: FastAPI) -> FastAPI:
        rest.install(app, self.core, self.runs)
        app.include_router(page.router(self.core, self.secure_cookies, self.runs))
        return app


def rating_consent(consent: ProjectedConsent) -> AllowedMany:
    """RATING consent decisions for a book's graded borrowers (the quote rule, pricing's consent
    projection), each handed to consent's audit."""

    def allowed(usccs: Sequence[str], grantee: str, period: str | None) -> list[bool]:
        decisions = consent.decide_many(usccs, grantee, RATING_SCOPE, period)
        consent.record_all(decisions)
        return [d.allowed for d in decisions]

    return allowed


def build_loan_books(
    settings: PricingSettings,
    pricing: PricingCore,
    consent: ProjectedConsent,
    published: Callable[[str, str], RatingFacts | None],
) -> LoanBooks:
    """Shares the pricing core's Redis client, bank directory and consent projection (same tenants,
    same keys, same decision rule); grades from the rating projection (`published`: no call per borrower)."""
    secret = settings.effective_service_secret()
    caller = settings.service_name
    timeout = settings.peer_timeout_seconds
    grpc_accounts = GrpcAccountFacts(service_channel(settings.accounting_target, caller, secret), timeout)
    # Account facts: projected from the accounts stream (fetched when an account changes), one HMGET per book.
    projected = ProjectedAccountFacts(redis_conn.connect(settings.redis_url))
    high_carbon = HighCarbonGrades.load()
    books = LoanBookCore(
        store=BookStore(pricing.store.redis),
        banks=pricing.banks,
        access=ProjectedDecisions(consent),
        accounts=projected,
        grades=ConsentedGrades(sorted(high_carbon.schemes), published, rating_consent(consent)),
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
