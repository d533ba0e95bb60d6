"""Who is calling: services (HMAC tokens) and banks (API keys).

Services sign their name and a timestamp with CARBON_SERVICE_SECRET; a token
is valid for a few minutes, so a leaked log line is not a lasting credential.
Banks present `authorization: Bearer <api key>`; the consent service resolves
the key (stored only as a SHA-256 hash) to banks/{bank_id}.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc

from carbon_common.errors import abort, unauthenticated

SERVICE_HEADER = "x-carbon-service"
TOKEN_HEADER = "x-carbon-service-token"
TOKEN_TTL_SECONDS = 300


@dataclass(frozen=True)
class Caller:
    kind: str  # "service" | "bank" | "anonymous"
    id: str

    @property
    def principal(self) -> str:
        return f"{'services' if self.kind == 'service' else 'banks'}/{self.id}" if self.id else "anonymous"


def sign_service_token(service: str, secret: str, now: float | None = None) -> str:
    issued = int(now if now is not None else time.time())
    mac = hmac.new(secret.encode(), f"{service}.{issued}".encode(), hashlib.sha256).hexdigest()
    return f"{issued}.{mac}"


def verify_service_token(service: str, token: str, secret: str, now: float | None = None) -> bool:
    try:
        issued_text, mac = token.split(".", 1)
        issued = int(issued_text)
    except ValueError:
        return False
    current = now if now is not None else time.time()
    if abs(current - issued) > TOKEN_TTL_SECONDS:
        return False
    expected = hmac.new(secret.encode(), f"{service}.{issued}".encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(mac, expected)


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


def service_caller(context: grpc.ServicerContext, secret: str) -> Caller | None:
    """The calling service when its token is valid, else None."""
    metadata = context.invocation_metadata()
    service = metadata_value(metadata, SERVICE_HEADER)
    token = metadata_value(metadata, TOKEN_HEADER)
    if service and token and verify_service_token(service, token, secret):
        return Caller("service", service)
    return None


def require_service(context: grpc.ServicerContext, secret: str) -> Caller:
    caller = service_caller(context, secret)
    if caller is None:
        raise unauthenticated("UNAUTHENTICATED_SERVICE", "this method is only for platform services")
    return caller


class ServiceIdentityInterceptor(grpc.UnaryUnaryClientInterceptor, grpc.StreamUnaryClientInterceptor):
    """Adds this service's identity to every outgoing call."""

    def __init__(self, service: str, secret: str) -> None:
        self.service = service
        self.secret = secret

    def _with_identity(self, details: Any) -> Any:
        metadata = list(details.metadata or [])
        metadata.append((SERVICE_HEADER, self.service))
        metadata.append((TOKEN_HEADER, sign_service_token(self.service, self.secret)))
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

    def __init__(self, secret: str, services: set[str]) -> None:
        self.secret = secret
        self.services = services

    def intercept_service(self, continuation: Callable[..., Any], handler_call_details: Any) -> Any:
        handler = continuation(handler_call_details)
        service = handler_call_details.method.rsplit("/", 2)[-2] if handler_call_details.method else ""
        if handler is None or service not in self.services:
            return handler
        metadata = handler_call_details.invocation_metadata
        name = metadata_value(metadata, SERVICE_HEADER)
        if name and verify_service_token(name, metadata_value(metadata, TOKEN_HEADER), self.secret):
            return handler
        error = unauthenticated("UNAUTHENTICATED_SERVICE", "this method is only for platform services")

        def deny(_request: Any, context: grpc.ServicerContext) -> Any:
            abort(context, error)

        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(deny, handler.request_deserializer, handler.response_serializer)
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(deny, handler.request_deserializer, handler.response_serializer)
        return handler
