"""Pricing's consent on event-carried state: bank authentication and access decisions from an
in-process projection of consent (carbon_consent.projection), deciding with the consent service's own
rule, no call per quote. Fails closed: a projection without a consent heartbeat younger than 1 s
answers UNAVAILABLE (CONSENT_PROJECTION_STALE), never from old state."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from carbon_common import events
from carbon_common.errors import ServiceError, unauthenticated, unavailable
from carbon_common.identity import hash_api_key
from carbon_common.names import period_span
from carbon_consent.domain import DataPeriod, Scope
from carbon_consent.projection import ConsentProjection, ProjectionStale

from carbon_pricing.sources import AccessDecision

STALE = "CONSENT_PROJECTION_STALE"


def _stale(error: ProjectionStale) -> ServiceError:
    return unavailable(STALE, f"{error}; access refused, retry shortly")


class ProjectedConsent:
    """BankDirectory and ConsentChecker of the pricing core, over a ConsentProjection."""

    def __init__(self, projection: ConsentProjection, client: Any, clock: Callable[[], datetime] | None = None) -> None:
        self.projection = projection
        self.client = client
        self.clock = clock or (lambda: datetime.now(UTC))

    def authenticate(self, api_key: str) -> str:
        try:
            bank = self.projection.bank_for_key(hash_api_key(api_key)) if api_key else None
        except ProjectionStale as error:
            raise _stale(error) from None
        if bank is None:
            raise unauthenticated("UNAUTHENTICATED_BANK", "unknown or revoked bank API key")
        return str(bank).removeprefix("banks/")

    def decide(self, uscc: str, grantee: str, scope: int, period: str | None) -> AccessDecision:
        span = period_span(period) if period else None
        now = self.clock()
        try:
            projected = self.projection.decide(
                enterprise=uscc,
                grantee=grantee,
                scope=Scope(scope),
                period=DataPeriod(*span) if span else None,
                now=now,
            )
        except ProjectionStale as error:
            raise _stale(error) from None
        d = projected.decision
        return AccessDecision(
            grantee, uscc, scope, span, d.allowed, d.reason, d.consent, d.message, now, projected.position
        )

    def record(self, decision: AccessDecision) -> None:
        events.ACCESS.add(self.client, decision.event())
