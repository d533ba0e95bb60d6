"""Client side of consent enforcement, used by every service that touches
enterprise data. Asks the consent service on every access (a revocation must
bite within a second everywhere), with an optional very short cache.

Every read names the period of the data it reads: `require_period(...,
"2024")` for an account period (YYYY or YYYY-MM, calendar periods in China
time, as ingestion assigns readings and invoices to months), or
`require(..., (start, end))` for a half-open span [start, end). The
consent service allows it only if the whole period lies inside the consent's
data window. Ingestion passes one instant (a datetime).
"""

from __future__ import annotations

import time
from datetime import datetime

import grpc
from carbon.v1 import consent_pb2, consent_pb2_grpc

from carbon_common.errors import from_rpc_error, permission_denied, unavailable

# Periods moved to carbon_common.names; re-exported for existing callers.
from carbon_common.names import PERIOD_ZONE as PERIOD_ZONE
from carbon_common.names import Span as Span
from carbon_common.names import period_span as period_span
from carbon_common.ttlcache import TtlCache

Scope = consent_pb2.ConsentScope
# Answers about the request itself; anything else means the consent service
# could not decide, which the caller sees as UNAVAILABLE.
CLIENT_ERRORS = (
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.UNAUTHENTICATED,
)

# What a check is about: one instant of data, a span of it, or (None) the instant now.
When = datetime | Span | None


def _micros(moment: datetime) -> int:
    """Exact instant on the microsecond grid (cache keys must not merge distinct instants)."""
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


class ConsentGate:
    def __init__(self, channel: grpc.Channel, cache_seconds: float = 0.0, timeout: float = 2.0) -> None:
        self._stub = consent_pb2_grpc.ConsentServiceStub(channel)
        self._cache: TtlCache[tuple[str, str, int, str, int, int], consent_pb2.CheckAccessResponse] = TtlCache(
            cache_seconds
        )
        self._timeout = timeout

    def check(self, uscc: str, grantee: str, scope: int, when: When = None) -> consent_pb2.CheckAccessResponse:
        """CheckAccess for one instant, a span [start, end), or (None) the instant now."""
        if isinstance(when, tuple):
            key = (uscc, grantee, scope, "period", _micros(when[0]), _micros(when[1]))
        elif when is not None:
            key = (uscc, grantee, scope, "instant", _micros(when), 0)
        else:
            key = (uscc, grantee, scope, "now", 0, 0)
        asked = time.monotonic()
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        request = consent_pb2.CheckAccessRequest(enterprise=f"enterprises/{uscc}", grantee=grantee, scope=scope)
        if isinstance(when, tuple):
            request.data_period.start_time.FromDatetime(when[0])
            request.data_period.end_time.FromDatetime(when[1])
        elif when is not None:
            request.data_time.FromDatetime(when)
        try:
            response: consent_pb2.CheckAccessResponse = self._stub.CheckAccess(request, timeout=self._timeout)
        except grpc.RpcError as error:
            if error.code() not in CLIENT_ERRORS:
                # Fail closed and retryable: no consent answer, no access.
                raise unavailable(
                    "CONSENT_SERVICE_UNAVAILABLE", "consent service unavailable; access refused"
                ) from None
            raise from_rpc_error(error) from None
        self._cache.put(key, response, asked)
        return response

    def require(self, uscc: str, grantee: str, scope: int, when: When = None) -> str:
        """Raise PERMISSION_DENIED (ErrorInfo reason from the consent service) unless allowed;
        returns the name of the consent that allowed the access."""
        response = self.check(uscc, grantee, scope, when)
        if not response.allowed:
            raise permission_denied(
                response.reason or "CONSENT_REQUIRED",
                response.message or f"{grantee} has no authorised consent for enterprises/{uscc}",
                enterprise=f"enterprises/{uscc}",
                grantee=grantee,
                scope=Scope.Name(scope),
                consent=response.consent,
            )
        return str(response.consent)

    def require_period(self, uscc: str, grantee: str, scope: int, period: str) -> str:
        """`require` for the account period "YYYY" / "YYYY-MM" (see `period_span`)."""
        return self.require(uscc, grantee, scope, period_span(period))

    def allows_period(self, uscc: str, grantee: str, scope: int, period: str) -> consent_pb2.CheckAccessResponse:
        """The decision for an account period, without raising (for filtering lists)."""
        return self.check(uscc, grantee, scope, period_span(period))
