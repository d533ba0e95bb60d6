"""Who is calling: services (HMAC tokens) and banks (API keys).

A service token names the calling service (which must be in the service
catalog), the called service (its audience), when it was issued and a random
nonce, signed with CARBON_SERVICE_SECRET:

    v2.<audience>.<issued unix seconds>.<nonce>.<hex HMAC-SHA256>

The receiver accepts it for TOKEN_LIFETIME_SECONDS after issue, tolerates
CLOCK_SKEW_SECONDS of a caller's clock running ahead, and only once: the
first use of each nonce is recorded in Redis (SET NX EX), so a replay is
refused on every replica of the service, at the cost of one Redis operation
per authenticated call. The only repeat allowed is gRPC's own retry of the
same call (the channel resends the same metadata with a higher
`grpc-previous-rpc-attempts`), once per attempt number up to the channel's
RETRY_MAX_ATTEMPTS. In production a mesh with mTLS (Istio/Linkerd) is the
stronger option: see charts/carbon-platform/README.md.

Banks present `authorization: Bearer <api key>`; the consent service resolves
the key (stored only as a SHA-256 hash) to banks/{bank_id}.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
import redis

from carbon_common import catalog
from carbon_common.errors import STORE_DOWN, ServiceError, abort, store_unavailable, unauthenticated

SERVICE_HEADER = "x-carbon-service"
TOKEN_HEADER = "x-carbon-service-token"
ATTEMPTS_HEADER = "grpc-previous-rpc-attempts"
TOKEN_VERSION = "v2"
TOKEN_LIFETIME_SECONDS = 60
CLOCK_SKEW_SECONDS = 5
# Attempts of one call under the channels' retry policy (carbon_common.channels).
RETRY_MAX_ATTEMPTS = 4


@dataclass(frozen=True)
class Caller:
    kind: str  # "service" | "bank" | "anonymous"
    id: str

    @property
    def principal(self) -> str:
        return f"{'services' if self.kind == 'service' else 'banks'}/{self.id}" if self.id else "anonymous"


@dataclass(frozen=True)
class Reader:
    """Who reads an enterprise's data: a platform service (it does its own bank checks) or the bank
    of an API key (checked against its consent's scope and data window)."""

    principal: str
    is_bank: bool


@dataclass(frozen=True)
class ServiceClaims:
    service: str
    audience: str
    issued: int
    nonce: str


class TokenRejected(Exception):
    """Why a service token is refused (the message names the rule, never the token)."""


def _mac(secret: str, service: str, audience: str, issued: int, nonce: str) -> str:
    message = f"{TOKEN_VERSION}\n{service}\n{audience}\n{issued}\n{nonce}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign_service_token(service: str, audience: str, secret: str, now: float | None = None) -> str:
    """A one-use token for `service` calling `audience`."""
    issued = int(now if now is not None else time.time())
    nonce = secrets.token_urlsafe(16)
    return f"{TOKEN_VERSION}.{audience}.{issued}.{nonce}.{_mac(secret, service, audience, issued, nonce)}"


def check_service_token(service: str, token: str, secret: str, audience: str, now: float) -> ServiceClaims:
    """The stateless rules (name, audience, signature, lifetime, skew); raises TokenRejected."""
    if service not in catalog.principals():
        raise TokenRejected("the calling service is not in the service catalog")
    parts = token.split(".")
    if len(parts) != 5 or parts[0] != TOKEN_VERSION or not parts[2].isdigit() or len(token) > 256:
        raise TokenRejected("malformed service token")
    _, token_audience, issued_text, nonce, mac = parts
    issued = int(issued_text)
    if not hmac.compare_digest(mac, _mac(secret, service, token_audience, issued, nonce)):
        raise TokenRejected("invalid service token signature")
    if token_audience != audience:
        raise TokenRejected(f"the service token is for another service, not {audience}")
    if issued - now > CLOCK_SKEW_SECONDS:
        raise TokenRejected("the service token is issued in the future")
    if now - issued > TOKEN_LIFETIME_SECONDS:
        raise TokenRejected("the service token has expired")
    return ServiceClaims(service, token_audience, issued, nonce)


class ServiceVerifier:
    """Verifies service tokens addressed to this service (`audience`), refusing replays."""

    def __init__(self, audience: str, secret: str, client: redis.Redis, clock: Callable[[], float] = time.time) -> None:
        self.audience = catalog.service(audience).name
        self.secret = secret
        self.client = client
        self.clock = clock

    def verify(self, service: str, token: str, attempt: int = 0, now: float | None = None) -> Caller:
        """The calling service, or UNAUTHENTICATED_SERVICE naming the rule that failed."""
        try:
            claims = check_service_token(
                service, token, self.secret, self.audience, self.clock() if now is None else now
            )
            if not 0 <= attempt < RETRY_MAX_ATTEMPTS:
                raise TokenRejected("too many attempts with one service token")
            # First use of (nonce, attempt) on any replica; kept as long as the token could be accepted.
            key = f"carbon:{self.audience}:seen-token:{claims.nonce}:{attempt}"
            if not self.client.set(key, 1, nx=True, ex=TOKEN_LIFETIME_SECONDS + CLOCK_SKEW_SECONDS):
                raise TokenRejected("the service token was already used")
        except TokenRejected as rejected:
            raise unauthenticated("UNAUTHENTICATED_SERVICE", str(rejected)) from None
        return Caller("service", claims.service)

    def from_metadata(self, metadata: Sequence[tuple[str, Any]] | None) -> Caller | None:
        """The calling service when the metadata carries a valid token, None when it carries none."""
        service = metadata_value(metadata, SERVICE_HEADER)
        token = metadata_value(metadata, TOKEN_HEADER)
        if not (service or token):
            return None
        return self.verify(service, token, attempt_number(metadata_value(metadata, ATTEMPTS_HEADER)))


def hash_api_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def metadata_value(metadata: Sequence[tuple[str, Any]] | None, key: str) -> str:
    for k, v in metadata or ():
        if k == key:
            return v.decode() if isinstance(v, bytes) else str(v)
    return ""


def bearer_token(authorization: str) -> str:
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def attempt_number(previous_attempts: str) -> int:
    """This call's attempt number from gRPC's retry header (absent: the first; garbage: refused)."""
    if not previous_attempts:
        return 0
    return int(previous_attempts) if previous_attempts.isascii() and previous_attempts.isdigit() else -1


def service_caller(context: grpc.ServicerContext, verifier: ServiceVerifier) -> Caller | None:
    """The calling service when its token is valid, else None (then the caller is not a service)."""
    try:
        return verifier.from_metadata(context.invocation_metadata())
    except ServiceError:
        return None


def require_service(context: grpc.ServicerContext, verifier: ServiceVerifier) -> Caller:
    caller = verifier.from_metadata(context.invocation_metadata())
    if caller is None:
        raise unauthenticated("UNAUTHENTICATED_SERVICE", "this method is only for platform services")
    return caller


class ServiceIdentityInterceptor(grpc.UnaryUnaryClientInterceptor, grpc.StreamUnaryClientInterceptor):
    """Adds this service's identity to every outgoing call to a catalog service: a fresh
    token per call, addressed to the service that serves the method."""

    def __init__(self, service: str, secret: str) -> None:
        self.service = service
        self.secret = secret

    def _with_identity(self, details: Any) -> Any:
        audience = catalog.owner_of_method(details.method)
        if not audience:
            return details
        metadata = list(details.metadata or [])
        metadata.append((SERVICE_HEADER, self.service))
        metadata.append((TOKEN_HEADER, sign_service_token(self.service, audience, self.secret)))
        return CallDetails(
            details.method, details.timeout, metadata, details.credentials, details.wait_for_ready, details.compression
        )

    def intercept_unary_unary(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        return continuation(self._with_identity(details), request)

    def intercept_stream_unary(self, continuation: Callable[..., Any], details: Any, request_iterator: Any) -> Any:
        return continuation(self._with_identity(details), request_iterator)


@dataclass(frozen=True)
class CallDetails(grpc.ClientCallDetails):
    """A rewritable grpc.ClientCallDetails (client interceptors add metadata)."""

    method: str
    timeout: float | None
    metadata: Any
    credentials: Any
    wait_for_ready: bool | None
    compression: Any


class RequireServiceInterceptor(grpc.ServerInterceptor):
    """Only platform services may call the listed gRPC services (e.g. data feeds).

    Health and reflection stay open; a caller without a valid service token
    gets UNAUTHENTICATED with reason UNAUTHENTICATED_SERVICE.
    """

    def __init__(self, verifier: ServiceVerifier, services: set[str]) -> None:
        self.verifier = verifier
        self.services = services

    def intercept_service(self, continuation: Callable[..., Any], handler_call_details: Any) -> Any:
        handler = continuation(handler_call_details)
        service = handler_call_details.method.rsplit("/", 2)[-2] if handler_call_details.method else ""
        if handler is None or service not in self.services:
            return handler
        try:
            if self.verifier.from_metadata(handler_call_details.invocation_metadata) is not None:
                return handler
            error = unauthenticated("UNAUTHENTICATED_SERVICE", "this method is only for platform services")
        except ServiceError as rejected:
            error = rejected
        except STORE_DOWN:
            # The replay record is unreachable: refuse, retryably (this runs outside the error mapping).
            error = store_unavailable()

        def deny(_request: Any, context: grpc.ServicerContext) -> Any:
            abort(context, error)

        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(deny, handler.request_deserializer, handler.response_serializer)
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(deny, handler.request_deserializer, handler.response_serializer)
        return handler
