"""Cost of verifying a service token: the stateless checks alone and with the
Redis replay record (one SET NX EX on a real local redis-server, as every
authenticated service call pays). Last line: one JSON object.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import redis
from carbon_common.identity import ServiceVerifier, check_service_token, sign_service_token
from carbon_devkit.ports import free_port
from carbon_devkit.redis_server import start as start_redis

CALLS = 5_000
RUNS = 5
SECRET = "bench-identity-secret"


def per_call_us(run: object) -> float:
    tokens = [sign_service_token("loan-pricing", "consent", SECRET) for _ in range(CALLS)]
    started = time.perf_counter()
    for token in tokens:
        run(token)  # type: ignore[operator]
    return (time.perf_counter() - started) / CALLS * 1e6


def main() -> int:
    with tempfile.TemporaryDirectory() as root:
        port = free_port()
        process = start_redis(Path(root), port)
        try:
            client = redis.Redis(port=port)
            verifier = ServiceVerifier("consent", SECRET, client)
            stateless = [
                per_call_us(lambda t: check_service_token("loan-pricing", t, SECRET, "consent", time.time()))
                for _ in range(RUNS)
            ]
            with_replay = [per_call_us(lambda t: verifier.verify("loan-pricing", t)) for _ in range(RUNS)]
        finally:
            process.terminate()
            process.wait(10)
    result = {
        "bench": "identity",
        "calls_per_run": CALLS,
        "stateless_us_median": round(statistics.median(stateless), 2),
        "with_redis_replay_record_us_median": round(statistics.median(with_replay), 2),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
