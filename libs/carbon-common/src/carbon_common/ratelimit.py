"""Rate limits on public edges: token buckets in Redis, one atomic Lua script.

A request draws one token from every bucket that applies to it (per bank API
key, per client address); if any bucket is short, it draws from none and is
refused with the time until it would pass: REST 429 with `Retry-After` and the
error body, gRPC RESOURCE_EXHAUSTED with google.rpc.RetryInfo and ErrorInfo
(reason RATE_LIMITED). Redis's own clock (TIME) drives the refill, so every
replica of a service shares one bucket per caller. Buckets are keyed by the
SHA-256 of the API key or address: Redis never holds a credential.

Calls carrying a valid platform service identity are not limited (they are
the platform's own fan-out, not a public caller). If Redis cannot answer, the
limit is skipped with a warning rather than refusing traffic the rest of the
service could still serve.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
import redis
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from carbon_common.errors import STORE_DOWN, ServiceError, abort
from carbon_common.identity import (
    SERVICE_HEADER,
    TOKEN_HEADER,
    TokenRejected,
    bearer_token,
    check_service_token,
    metadata_value,
)
from carbon_common.settings import BaseServiceSettings, Rate

log = logging.getLogger(__name__)

KEY_PREFIX = "carbon:ratelimit"

# KEYS: the buckets. ARGV: cost, then rate and burst of each bucket.
# Returns {1, "0"} when admitted (tokens taken from every bucket) or
# {0, "<seconds until admitted>"} (nothing taken).
_TOKEN_BUCKET = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local cost = tonumber(ARGV[1])
local wait = 0
local levels = {}
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[2 * i])
  local burst = tonumber(ARGV[2 * i + 1])
  local state = redis.call('HMGET', key, 'tokens', 'ts')
  local tokens = tonumber(state[1])
  local stamp = tonumber(state[2])
  if tokens == nil or stamp == nil then
    tokens = burst
  elseif now > stamp then
    tokens = math.min(burst, tokens + (now - stamp) * rate)
  end
  levels[i] = tokens
  if tokens < cost then
    wait = math.max(wait, (cost - tokens) / rate)
  end
end
if wait > 0 then
  return {0, string.format('%.6f', wait)}
end
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[2 * i])
  local burst = tonumber(ARGV[2 * i + 1])
  redis.call('HSET', key, 'tokens', string.format('%.6f', levels[i] - cost), 'ts', string.format('%.6f', now))
  redis.call('PEXPIRE', key, math.ceil(burst / rate * 1000) + 1000)
end
return {1, '0'}
"""


def bucket_key(service: str, kind: str, identity: str) -> str:
    digest = hashlib.sha256(identity.encode()).hexdigest()[:32]
    return f"{KEY_PREFIX}:{service}:{kind}:{digest}"


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: float = 0.0  # seconds

    @property
    def retry_after_seconds(self) -> int:
        """Whole seconds for Retry-After: never 0 for a refusal."""
        return max(1, math.ceil(self.retry_after))


@dataclass
class RateLimited(ServiceError):
    """RESOURCE_EXHAUSTED carrying RetryInfo (gRPC detail, REST body and Retry-After header)."""

    retry_after: float = 1.0

    @property
    def retry_after_seconds(self) -> int:
        return max(1, math.ceil(self.retry_after))

    def _delay(self) -> duration_pb2.Duration:
        nanos = round(self.retry_after * 1e9)
        return duration_pb2.Duration(seconds=nanos // 1_000_000_000, nanos=nanos % 1_000_000_000)

    def to_status(self) -> status_pb2.Status:
        status = super().to_status()
        packed = any_pb2.Any()
        packed.Pack(error_details_pb2.RetryInfo(retry_delay=self._delay()))
        status.details.append(packed)
        return status

    def to_json(self) -> dict[str, Any]:
        body = super().to_json()
        delay = self._delay()
        body["error"]["details"].append(
            {
                "@type": "type.googleapis.com/google.rpc.RetryInfo",
                "retryDelay": f"{delay.seconds}.{delay.nanos // 1000:06d}s",
            }
        )
        return body


def rate_limited(kind: str, verdict: Verdict) -> RateLimited:
    return RateLimited(
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        f"rate limit reached; retry in {verdict.retry_after_seconds} s",
        reason="RATE_LIMITED",
        metadata={"bucket": kind, "retry_after_seconds": str(verdict.retry_after_seconds)},
        retry_after=verdict.retry_after,
    )


@dataclass
class RateLimiter:
    """Token buckets of one service; `limits` by bucket kind (bank, address, page)."""

    client: redis.Redis
    service: str
    limits: Mapping[str, Rate]
    enabled: bool = True
    service_secret: str = ""
    _script: Any = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._script = self.client.register_script(_TOKEN_BUCKET)

    @classmethod
    def from_settings(cls, client: redis.Redis, settings: BaseServiceSettings) -> RateLimiter:
        return cls(
            client,
            settings.service_name,
            settings.effective_rate_limits(),
            settings.rate_limits_enabled,
            settings.effective_service_secret(),
        )

    def take(self, buckets: Sequence[tuple[str, str]]) -> Verdict:
        """One token from each (kind, identity) bucket, or none and the wait."""
        buckets = [(kind, identity) for kind, identity in buckets if kind in self.limits and identity]
        if not self.enabled or not buckets:
            return Verdict(True)
        keys = [bucket_key(self.service, kind, identity) for kind, identity in buckets]
        args: list[float] = [1]
        for kind, _ in buckets:
            args += [self.limits[kind].rate, self.limits[kind].burst]
        try:
            admitted, wait = self._script(keys=keys, args=args)
        except STORE_DOWN as error:
            log.warning("rate limit skipped: store unavailable", extra={"error": type(error).__name__})
            return Verdict(True)
        return Verdict(bool(int(admitted)), float(wait))

    def check(self, buckets: Sequence[tuple[str, str]]) -> None:
        """`take`, raising RateLimited (kind of the first bucket named) when refused."""
        verdict = self.take(buckets)
        if not verdict.allowed:
            raise rate_limited(buckets[0][0] if len(buckets) == 1 else "+".join(k for k, _ in buckets), verdict)

    def is_platform_service(self, name: str, token: str) -> bool:
        """A valid token addressed to this service (stateless checks only: the edge's own
        authentication still records its one use)."""
        if not (name and token and self.service_secret):
            return False
        try:
            check_service_token(name, token, self.service_secret, self.service, time.time())
        except TokenRejected:
            return False
        return True

    def caller_buckets(self, authorization: str, address: str, address_kind: str = "address") -> list[tuple[str, str]]:
        """Per credential (when one is presented) and per client address."""
        buckets = [(address_kind, address)]
        credential = bearer_token(authorization) if authorization else ""
        if credential:
            buckets.insert(0, ("bank", credential))
        return buckets


# ---------------------------------------------------------------- REST


PathRule = Callable[[str], str | None]


class RateLimitMiddleware:
    """ASGI middleware: paths for which `rule(path)` names an address bucket kind are limited."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter, rule: PathRule) -> None:
        self.app = app
        self.limiter = limiter
        self.rule = rule

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.limiter.enabled:  # disabled: no thread hop, no header parsing
            kind = self.rule(scope["path"])
            if kind is not None:
                refusal = await run_in_threadpool(self._refusal, scope, kind)
                if refusal is not None:
                    await refusal(scope, receive, send)
                    return
        await self.app(scope, receive, send)

    def _refusal(self, scope: Scope, kind: str) -> JSONResponse | None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if self.limiter.is_platform_service(headers.get(SERVICE_HEADER, ""), headers.get(TOKEN_HEADER, "")):
            return None
        client = scope.get("client")
        address = client[0] if client else "unknown"
        buckets = self.limiter.caller_buckets(headers.get("authorization", ""), address, kind)
        try:
            self.limiter.check(buckets)
        except RateLimited as error:
            return JSONResponse(
                error.to_json(),
                status_code=error.http_status,
                headers={"Retry-After": str(error.retry_after_seconds)},
            )
        return None


def install_rest_limits(app: Any, limiter: RateLimiter, rule: PathRule) -> None:
    """Limit a FastAPI app's paths by `rule`; its OpenAPI document declares 429 on them."""
    app.add_middleware(RateLimitMiddleware, limiter=limiter, rule=rule)
    app.state.rate_limited = lambda path: rule(path) is not None


def prefix_rule(prefixes: Mapping[str, str]) -> PathRule:
    """Path prefix -> address bucket kind (longest prefix first)."""
    ordered = sorted(prefixes.items(), key=lambda item: len(item[0]), reverse=True)

    def rule(path: str) -> str | None:
        for prefix, kind in ordered:
            if path.startswith(prefix):
                return kind
        return None

    return rule


# ---------------------------------------------------------------- gRPC


def peer_address(peer: str) -> str:
    """`ipv4:1.2.3.4:5678` / `ipv6:[::1]:5678` -> the address without the port."""
    kind, _, rest = peer.partition(":")
    if kind == "ipv6" and rest.startswith("["):
        return rest[1 : rest.find("]")]
    if kind == "ipv4":
        return rest.rsplit(":", 1)[0]
    return peer


class RateLimitInterceptor(grpc.ServerInterceptor):
    """Limits the calls to `services` (full names) per API key and per peer address."""

    def __init__(self, limiter: RateLimiter, services: set[str]) -> None:
        self.limiter = limiter
        self.services = services

    def intercept_service(self, continuation: Callable[..., Any], handler_call_details: Any) -> Any:
        handler = continuation(handler_call_details)
        method: str = handler_call_details.method or ""
        if handler is None or not self.limiter.enabled or method.lstrip("/").split("/", 1)[0] not in self.services:
            return handler
        metadata = handler_call_details.invocation_metadata

        def admit(context: grpc.ServicerContext) -> None:
            service = metadata_value(metadata, SERVICE_HEADER)
            if self.limiter.is_platform_service(service, metadata_value(metadata, TOKEN_HEADER)):
                return
            buckets = self.limiter.caller_buckets(
                metadata_value(metadata, "authorization"), peer_address(context.peer() or "")
            )
            try:
                self.limiter.check(buckets)
            except RateLimited as error:
                abort(context, error)

        def wrap(behaviour: Callable[..., Any]) -> Callable[..., Any]:
            def limited(request: Any, context: grpc.ServicerContext) -> Any:
                admit(context)
                return behaviour(request, context)

            return limited

        for kind, factory in (
            ("unary_unary", grpc.unary_unary_rpc_method_handler),
            ("unary_stream", grpc.unary_stream_rpc_method_handler),
            ("stream_unary", grpc.stream_unary_rpc_method_handler),
            ("stream_stream", grpc.stream_stream_rpc_method_handler),
        ):
            behaviour = getattr(handler, kind)
            if behaviour is not None:
                return factory(wrap(behaviour), handler.request_deserializer, handler.response_serializer)
        return handler
