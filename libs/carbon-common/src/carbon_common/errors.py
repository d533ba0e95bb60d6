"""Errors as google.rpc.Status with ErrorInfo and BadRequest details.

Handlers raise ServiceError; the server interceptor turns it into a gRPC
status with details, and the FastAPI handler into the same JSON shape
(AIP-193). Anything else is an internal error and is logged, never echoed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import grpc
import redis
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

DOMAIN = "carbon.example.cn"
log = logging.getLogger(__name__)

# Longest client value an error or log line quotes, and the longest message or
# violation description a status carries: a 1 MiB input never reaches the
# status trailer (gRPC's metadata limit is 8-16 KiB) or a log line.
QUOTE_CHARS = 32
MAX_MESSAGE_CHARS = 1024
MAX_DETAILS = 50


def quote(value: object, max_chars: int = QUOTE_CHARS) -> str:
    """repr() of at most a short prefix of a client value, marked when cut."""
    text = value if isinstance(value, str) else str(value)
    if len(text) <= max_chars:
        return repr(text)
    return repr(text[:max_chars]) + f"… ({len(text)} chars)"


def clip(text: str, max_chars: int = MAX_MESSAGE_CHARS) -> str:
    """Bound a message built elsewhere (the safety net behind quote())."""
    return text if len(text) <= max_chars else text[:max_chars] + "…"


HTTP_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNKNOWN: 500,
}


@dataclass
class ServiceError(Exception):
    code: grpc.StatusCode
    message: str
    reason: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)
    field_violations: list[tuple[str, str]] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.code.name}: {self.message}"

    def to_status(self) -> status_pb2.Status:
        details = []
        if self.reason:
            info = error_details_pb2.ErrorInfo(reason=self.reason, domain=DOMAIN, metadata=self._bounded_metadata())
            details.append(_pack(info))
        if self.field_violations:
            bad = error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=f, description=d)
                    for f, d in self._bounded_violations()
                ]
            )
            details.append(_pack(bad))
        return status_pb2.Status(code=self.code.value[0], message=clip(self.message), details=details)

    def to_json(self) -> dict[str, Any]:
        details: list[dict[str, Any]] = []
        if self.reason:
            details.append(
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": self.reason,
                    "domain": DOMAIN,
                    "metadata": self._bounded_metadata(),
                }
            )
        if self.field_violations:
            details.append(
                {
                    "@type": "type.googleapis.com/google.rpc.BadRequest",
                    "fieldViolations": [{"field": f, "description": d} for f, d in self._bounded_violations()],
                }
            )
        return {
            "error": {
                "code": HTTP_STATUS.get(self.code, 500),
                "status": self.code.name,
                "message": clip(self.message),
                "details": details,
            }
        }

    # Whatever a handler put in, the wire carries a bounded amount of it.
    def _bounded_metadata(self) -> dict[str, str]:
        return {clip(k, 64): clip(v, 256) for k, v in list(self.metadata.items())[:MAX_DETAILS]}

    def _bounded_violations(self) -> list[tuple[str, str]]:
        return [(clip(f, 256), clip(d, 512)) for f, d in self.field_violations[:MAX_DETAILS]]

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.code, 500)


def _pack(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def invalid_argument(field_path: str, description: str, reason: str = "INVALID_ARGUMENT") -> ServiceError:
    return ServiceError(
        grpc.StatusCode.INVALID_ARGUMENT,
        f"{field_path}: {description}",
        reason=reason,
        field_violations=[(field_path, description)],
    )


def invalid_arguments(violations: Iterable[tuple[str, str]]) -> ServiceError:
    violations = list(violations)
    summary = "; ".join(f"{f}: {d}" for f, d in violations[:5])
    if len(violations) > 5:
        summary += f"; and {len(violations) - 5} more"
    return ServiceError(
        grpc.StatusCode.INVALID_ARGUMENT, summary, reason="INVALID_ARGUMENT", field_violations=violations
    )


def permission_denied(reason: str, message: str, **metadata: str) -> ServiceError:
    return ServiceError(grpc.StatusCode.PERMISSION_DENIED, message, reason=reason, metadata=metadata)


def unauthenticated(reason: str, message: str) -> ServiceError:
    return ServiceError(grpc.StatusCode.UNAUTHENTICATED, message, reason=reason)


def not_found(resource: str, message: str | None = None) -> ServiceError:
    return ServiceError(
        grpc.StatusCode.NOT_FOUND,
        message or f"{resource} not found",
        reason="NOT_FOUND",
        metadata={"resource": resource},
    )


def already_exists(resource: str, message: str | None = None) -> ServiceError:
    return ServiceError(
        grpc.StatusCode.ALREADY_EXISTS,
        message or f"{resource} already exists",
        reason="ALREADY_EXISTS",
        metadata={"resource": resource},
    )


def failed_precondition(reason: str, message: str, **metadata: str) -> ServiceError:
    return ServiceError(grpc.StatusCode.FAILED_PRECONDITION, message, reason=reason, metadata=metadata)


def unavailable(reason: str, message: str) -> ServiceError:
    return ServiceError(grpc.StatusCode.UNAVAILABLE, message, reason=reason)


# Redis being down or restarting (e.g. replaying its AOF) is transient: the
# caller should retry, so it is UNAVAILABLE, never INTERNAL.
STORE_DOWN = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError)


def store_unavailable() -> ServiceError:
    return unavailable("STORE_UNAVAILABLE", "the data store is unavailable; retry later")


def from_rpc_error(error: grpc.RpcError) -> ServiceError:
    """Rebuild a ServiceError from a peer's status, keeping reason and violations."""
    status = rpc_status.from_call(error)
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    if status is None:
        return ServiceError(code, error.details() if hasattr(error, "details") else str(error))
    result = ServiceError(code, status.message)
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            result.reason = info.reason
            result.metadata = dict(info.metadata)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            result.field_violations = [(v.field, v.description) for v in bad.field_violations]
    return result


def abort(context: grpc.ServicerContext, error: ServiceError) -> None:
    context.abort_with_status(rpc_status.to_status(error.to_status()))


class ErrorInterceptor(grpc.ServerInterceptor):
    """Maps ServiceError to google.rpc.Status; hides unexpected errors behind INTERNAL.

    `request_check` (e.g. limits.check_sizes) runs on every request message —
    each message of a client stream as it arrives — before the handler sees it.
    """

    def __init__(self, request_check: Callable[[Any], None] | None = None) -> None:
        self.request_check = request_check

    def intercept_service(self, continuation: Callable[..., Any], handler_call_details: Any) -> Any:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        check = self.request_check

        def checked_stream(requests: Iterator[Any]) -> Iterator[Any]:
            for request in requests:
                if check is not None:
                    check(request)
                yield request

        def wrap(behaviour: Callable[..., Any], streaming: bool) -> Callable[..., Any]:
            def guarded(request: Any, context: grpc.ServicerContext) -> Any:
                try:
                    if streaming:
                        request = checked_stream(request)
                    elif check is not None:
                        check(request)
                    return behaviour(request, context)
                except ServiceError as error:
                    abort(context, error)
                except grpc.RpcError:
                    raise
                except STORE_DOWN as error:
                    log.warning("store unavailable", extra={"rpc": method, "error": type(error).__name__})
                    abort(context, store_unavailable())
                except Exception:
                    if context.code() is not None:  # already aborted by the handler
                        raise
                    log.exception("unhandled error", extra={"rpc": method})
                    abort(context, ServiceError(grpc.StatusCode.INTERNAL, "internal error", reason="INTERNAL"))

            return guarded

        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                wrap(handler.unary_unary, False), handler.request_deserializer, handler.response_serializer
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                wrap(handler.stream_unary, True), handler.request_deserializer, handler.response_serializer
            )
        return handler  # streaming responses handle their own errors
