"""Access decisions on event-carried state, for the services that read or collect enterprise data without
a call per access: pricing's quotes and loan books, ingestion's batches.

`ProjectedAccess` decides with the consent service's own rule (`domain.decide`) over an in-process
ConsentProjection and queues every decision on carbon:events:access, which the consent service appends
to its hash-chained audit (carbon_consent.access_audit). Fail closed: a projection without a consent
heartbeat younger than 1 s answers UNAVAILABLE (CONSENT_PROJECTION_STALE), never from old state, so a
revocation bites within 1 s.

`ProjectedGate` is the ConsentGate interface (`require`) ingestion uses: each decision is queued for the
audit before the batch is stored, as the synchronous CheckAccess audited it before answering.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Self

from carbon.v1 import consent_pb2
from carbon_common import events, redis_conn, telemetry
from carbon_common.consent_gate import When
from carbon_common.errors import ServiceError, permission_denied, unavailable
from carbon_common.names import Span, period_span

from carbon_consent.domain import DataPeriod, Scope
from carbon_consent.projection import ConsentProjection, ProjectionStale

STALE = "CONSENT_PROJECTION_STALE"


def stale_error(error: ProjectionStale) -> ServiceError:
    return unavailable(STALE, f"{error}; access refused, retry shortly")


@dataclass(frozen=True)
class AccessDecision:
    """One access decision on enterprise data: who, what, which data period, the answer, the consent
    it used and the consent-stream position it was decided at. Consent appends it to its audit chain
    (carbon:events:access; pricing writes it with the quote it priced, ingestion before it stores)."""

    grantee: str  # banks/{id}, or "platform" for collection
    uscc: str
    scope: int  # carbon.v1.ConsentScope
    period: tuple[datetime, datetime] | None  # [start, end) of the data read; None: the instant `time`
    allowed: bool
    reason: str
    consent: str
    message: str
    time: datetime
    position: str = ""
    decision_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    traceparent: str | None = None  # the deciding request's trace (consent's audit span continues it)
    caller: str = "loan-pricing"  # the service that decided

    def event(self, quote: str = "") -> events.AccessDecided:
        return events.AccessDecided.create(
            decision_id=self.decision_id,
            bank=self.grantee,
            enterprise=f"enterprises/{self.uscc}",
            scope=consent_pb2.ConsentScope.Name(self.scope).removeprefix("CONSENT_SCOPE_"),
            data_start=self.period[0] if self.period else None,
            data_end=self.period[1] if self.period else None,
            consent=self.consent if self.allowed else "",
            allowed=self.allowed,
            reason=self.reason,
            quote=quote,
            consent_position=self.position,
            time=self.time,
            traceparent=self.traceparent,
            caller=self.caller,
        )

    def denial(self) -> ServiceError:
        return permission_denied(
            self.reason or "CONSENT_REQUIRED",
            self.message or f"{self.grantee} has no authorised consent for enterprises/{self.uscc}",
            enterprise=f"enterprises/{self.uscc}",
            grantee=self.grantee,
            scope=consent_pb2.ConsentScope.Name(self.scope),
            consent=self.consent,
        )


class ProjectedAccess:
    """Decisions from a ConsentProjection, and their queueing for consent's audit."""

    def __init__(
        self,
        projection: ConsentProjection,
        client: Any,
        clock: Callable[[], datetime] | None = None,
        caller: str = "loan-pricing",
    ) -> None:
        self.projection = projection
        self.client = client
        self.clock = clock or (lambda: datetime.now(UTC))
        self.caller = caller

    @classmethod
    def connect(cls, redis_url: str, caller: str, warm_up_seconds: float) -> Self:
        """Over a projection tailing on its own connection (XREAD BLOCK holds one), warmed up before
        serving: run `projection.worker()` as a background worker."""
        projection = ConsentProjection(redis_conn.connect(redis_url))
        projection.warm_up(warm_up_seconds)
        return cls(projection, redis_conn.connect(redis_url), caller=caller)

    def decide(self, uscc: str, grantee: str, scope: int, period: str | None) -> AccessDecision:
        """For the account period `period` ("YYYY" / "YYYY-MM"; None: the instant now)."""
        return self.decide_many([uscc], grantee, scope, period)[0]

    def decide_many(self, usccs: Sequence[str], grantee: str, scope: int, period: str | None) -> list[AccessDecision]:
        """One decision per enterprise, all at the same instant and in the same trace (a loan book's)."""
        return self.decide_spans(usccs, grantee, scope, period_span(period) if period else None)

    def decide_spans(self, usccs: Sequence[str], grantee: str, scope: int, span: Span | None) -> list[AccessDecision]:
        """As decide_many, for the data span [start, end) (None: the instant now). Raises UNAVAILABLE
        (CONSENT_PROJECTION_STALE) when the projection cannot vouch for consent's current state."""
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
                raise stale_error(error) from None
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
                    caller=self.caller,
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


class ProjectedGate:
    """The ConsentGate interface over a projection (ingestion's collection consent): every decision,
    allowed or denied, is on carbon:events:access before the caller goes on, so no batch is stored
    without its audit entry on the way (an entry whose batch then failed records a decision that was
    taken, as CheckAccess's did)."""

    def __init__(self, access: ProjectedAccess) -> None:
        self.access = access

    @classmethod
    def connect(cls, redis_url: str, caller: str, warm_up_seconds: float) -> ProjectedGate:
        """ProjectedAccess.connect's; run `worker()` as a background worker."""
        return cls(ProjectedAccess.connect(redis_url, caller, warm_up_seconds))

    def worker(self) -> Callable[[threading.Event], None]:
        return self.access.projection.worker()

    def require(self, uscc: str, grantee: str, scope: int, when: When = None) -> str:
        """PERMISSION_DENIED (the consent rule's reason) unless allowed; the name of the consent used."""
        if isinstance(when, datetime):
            instant = DataPeriod.instant(when)
            span: Span | None = (instant.start, instant.end)
        else:
            span = when
        decision = self.access.decide_spans([uscc], grantee, scope, span)[0]
        self.access.record(decision)
        if not decision.allowed:
            raise decision.denial()
        return decision.consent
