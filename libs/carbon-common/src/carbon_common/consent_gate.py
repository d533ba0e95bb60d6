"""Client side of consent enforcement, used by every service that touches
enterprise data. Asks the consent service on every access (a revocation must
bite within a second everywhere), with an optional very short cache.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime

import grpc
from carbon.v1 import consent_pb2, consent_pb2_grpc

from carbon_common.errors import from_rpc_error, permission_denied, unavailable

Scope = consent_pb2.ConsentScope
# Answers about the request itself; anything else means the consent service
# could not decide, which the caller sees as UNAVAILABLE.
CLIENT_ERRORS = (
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.UNAUTHENTICATED,
)


class ConsentGate:
    def __init__(self, channel: grpc.Channel, cache_seconds: float = 0.0, timeout: float = 2.0) -> None:
        self._stub = consent_pb2_grpc.ConsentServiceStub(channel)
        self._cache_seconds = cache_seconds
        self._timeout = timeout
        self._cache: dict[tuple[str, str, int, int], tuple[float, consent_pb2.CheckAccessResponse]] = {}
        self._lock = threading.Lock()

    def check(
        self, uscc: str, grantee: str, scope: int, data_time: datetime | None = None
    ) -> consent_pb2.CheckAccessResponse:
        day = int(data_time.timestamp()) // 86400 if data_time else -1
        key = (uscc, grantee, scope, day)
        now = time.monotonic()
        if self._cache_seconds:
            with self._lock:
                hit = self._cache.get(key)
            if hit and now - hit[0] < self._cache_seconds:
                return hit[1]
        request = consent_pb2.CheckAccessRequest(enterprise=f"enterprises/{uscc}", grantee=grantee, scope=scope)
        if data_time is not None:
            request.data_time.FromDatetime(data_time)
        try:
            response: consent_pb2.CheckAccessResponse = self._stub.CheckAccess(request, timeout=self._timeout)
        except grpc.RpcError as error:
            if error.code() not in CLIENT_ERRORS:
                # Fail closed and retryable: no consent answer, no access.
                raise unavailable(
                    "CONSENT_SERVICE_UNAVAILABLE", "consent service unavailable; access refused"
                ) from None
            raise from_rpc_error(error) from None
        if self._cache_seconds:
            with self._lock:
                self._cache[key] = (now, response)
        return response

    def require(self, uscc: str, grantee: str, scope: int, data_time: datetime | None = None) -> str:
        """Raise PERMISSION_DENIED (ErrorInfo reason from the consent service) unless allowed."""
        response = self.check(uscc, grantee, scope, data_time)
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
