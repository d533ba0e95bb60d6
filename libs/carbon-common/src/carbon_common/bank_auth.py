"""Bank API keys -> banks/{id}, through the consent service (BankService).

Every edge a bank calls (accounting reports, rating reads, pricing quotes)
resolves keys the same way: unknown or revoked keys are UNAUTHENTICATED, a
consent service that cannot answer is UNAVAILABLE (fail closed). Resolutions
may be cached by key hash for at most one second, so a revoked key stops
working everywhere within a second.
"""

from __future__ import annotations

import hashlib
import time

import grpc
from carbon.v1 import consent_pb2, consent_pb2_grpc

from carbon_common.errors import from_rpc_error, unauthenticated, unavailable
from carbon_common.ttlcache import TtlCache

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
        self._cache: TtlCache[str, str] = TtlCache(min(cache_seconds, 1.0))
        self._timeout = timeout

    def authenticate(self, api_key: str) -> str:
        """The bank id (without the `banks/` prefix) owning `api_key`."""
        if not api_key:
            raise unauthenticated("UNAUTHENTICATED_BANK", "missing bank API key (authorization: Bearer <api key>)")
        digest = hashlib.sha256(api_key.encode()).hexdigest()
        asked = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None:
            return cached
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
        self._cache.put(digest, bank_id, asked)
        return bank_id

    def principal(self, api_key: str) -> str:
        """`banks/{id}`: the grantee name consents are checked against."""
        return f"banks/{self.authenticate(api_key)}"
