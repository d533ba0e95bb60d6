"""The shared Redis connection."""

from __future__ import annotations

import redis


def connect(url: str) -> redis.Redis:
    # health_check_interval notices a restarted server; retries ride out the
    # moment a kill -9'd Redis comes back from its AOF.
    return redis.Redis.from_url(
        url,
        decode_responses=False,
        health_check_interval=10,
        socket_connect_timeout=2,
        socket_keepalive=True,
        retry_on_timeout=True,
    )
