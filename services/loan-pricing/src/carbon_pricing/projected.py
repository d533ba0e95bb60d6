"""Pricing's consent on event-carried state: bank authentication and access decisions from an
in-process projection of consent (carbon_consent.projection), deciding with the consent service's own
rule, no call per quote. Fails closed: a projection without a consent heartbeat younger than 1 s
answers UNAVAILABLE (CONSENT_PROJECTION_STALE), never from old state."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from carbon_common import events, telemetry
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
        return self.decide_many([uscc], grantee, scope, period)[0]

    def decide_many(self, usccs: Sequence[str], grantee: str, scope: int, period: str | None) -> list[AccessDecision]:
        """One decision per enterprise, all at the same instant and in the same trace (a loan book's)."""
        span = period_span(period) if period else None
        data_period = DataPeriod(*span) if span else None
        now = self.clock()
        traceparent = telemetry.current_traceparent()
        out = []
        for uscc in usccs:
            try:
                projected = self.projection.decide(
                    enterprise=uscc, grantee=grantee, scope=Scope(scope), period=data_period, now=now
                )
            except ProjectionStale as error:
                raise _stale(error) from None
            d = projected.decision
            out.append(
                AccessDecision(
                    grantee,
                    uscc,
                    scope,
                    span,
                    d.allowed,
                    d.reason,
                    d.consent,
                    d.message,
                    now,
                    projected.position,
                    traceparent=traceparent,
                )
            )
        return out

    def record(self, decision: AccessDecision) -> None:
        events.ACCESS.add(self.client, decision.event())

    def record_all(self, decisions: Sequence[AccessDecision], chunk: int = 1000) -> None:
        """Many decisions (a loan book's), pipelined: one round trip per `chunk`."""
        for start in range(0, len(decisions), chunk):
            pipe = self.client.pipeline(transaction=False)
            for decision in decisions[start : start + chunk]:
                events.ACCESS.add(pipe, decision.event())
            pipe.execute()
