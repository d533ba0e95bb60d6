"""Outgoing gRPC channels: identity, tracing, retries, sane limits."""

from __future__ import annotations

import json

import grpc

from carbon_common import telemetry
from carbon_common.identity import RETRY_MAX_ATTEMPTS, ServiceIdentityInterceptor

MAX_MESSAGE_BYTES = 64 * 1024 * 1024

# Retry transient UNAVAILABLE on idempotent reads; writes carry request ids. A retry resends
# the same service token: the receiver accepts it once per attempt number (carbon_common.identity).
_SERVICE_CONFIG = json.dumps(
    {
        "methodConfig": [
            {
                "name": [{}],
                "retryPolicy": {
                    "maxAttempts": RETRY_MAX_ATTEMPTS,
                    "initialBackoff": "0.05s",
                    "maxBackoff": "1s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ]
    }
)

CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.enable_retries", 1),
    ("grpc.service_config", _SERVICE_CONFIG),
    ("grpc.keepalive_time_ms", 30_000),
]


def service_channel(target: str, caller: str, secret: str) -> grpc.Channel:
    """A channel to a peer service, calling as `caller`."""
    channel = grpc.insecure_channel(target, options=CHANNEL_OPTIONS)
    return grpc.intercept_channel(channel, *telemetry.client_interceptors(), ServiceIdentityInterceptor(caller, secret))


def plain_channel(target: str) -> grpc.Channel:
    """A channel without service identity (bank clients, health checks)."""
    channel = grpc.insecure_channel(target, options=CHANNEL_OPTIONS)
    return grpc.intercept_channel(channel, *telemetry.client_interceptors())
