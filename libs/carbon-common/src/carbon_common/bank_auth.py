"""Bank API keys -> banks/{id}, through the consent service (BankService).

Every edge a bank calls (accounting reports, rating reads, pricing quotes)
resolves keys the same way: unknown or revoked keys are UNAUTHENTICATED, a
consent service that cannot answer is UNAVAILABLE (fail closed). Resolutions
may be cached by key hash for at most one second, so a revoked key stops
working everywhere within a second.
"""

from __future__ import annotations

import hashlib
import threading
import time

import grpc
from carbon.v1 import consent_pb2, consent_pb2_grpc

from carbon_common.errors import from_rpc_error, unauthenticated, unavailable

_REJECTED = (
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.INVALID_ARGUMENT,
)
_TRANSIENT = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


class BankAuthenticator:
    def __init__(self, consent_channel: grpc.Channel, cache_seconds: float = 0.0, timeout: float = 2.0) -> None:
        self._stub = consent_pb2_grpc.BankServiceStub(consent_channel)
        self._ttl = min(cache_seconds, 1.0)
        self._timeout = timeout
        self._cache: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def authenticate(self, api_key: str) -> str:
        """The bank id (without the `banks/` prefix) owning `api_key`."""
        if not api_key:
            raise unauthenticated("UNAUTHENTICATED_BANK", "missing bank API key (authorization: Bearer <api key>)")
        digest = hashlib.sha256(api_key.encode()).hexdigest()
        now = time.monotonic()
        if self._ttl:
            with self._lock:
                hit = self._cache.get(digest)
            if hit and now - hit[0] < self._ttl:
                return hit[1]
        try:
            bank = self._stub.AuthenticateBank(
                consent_pb2.AuthenticateBankRequest(api_key=api_key), timeout=self._timeout
            )
        except grpc.RpcError as error:
            if error.code() in _REJECTED:
                raise unauthenticated("UNAUTHENTICATED_BANK", "unknown or revoked bank API key") from None
            if error.code() in _TRANSIENT:
                raise unavailable(
                    "CONSENT_SERVICE_UNAVAILABLE", "consent service unavailable; access refused"
                ) from None
            raise from_rpc_error(error) from None
        bank_id = str(bank.name).removeprefix("banks/")
        if self._ttl:
            with self._lock:
                if len(self._cache) > 10_000:
                    self._cache.clear()
                self._cache[digest] = (now, bank_id)
        return bank_id

    def principal(self, api_key: str) -> str:
        """`banks/{id}`: the grantee name consents are checked against."""
        return f"banks/{self.authenticate(api_key)}"
