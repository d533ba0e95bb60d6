"""The floor of the quote path: a bare FastAPI handler doing one Redis transaction of a quote's size.

bench_pricing.py measures, after its warm-up, the writes a real quote committed (idempotency key,
quote record and index entry, decision-log entry and head, dry-run input, access decision on the
access stream) and runs this server with those sizes, under the same load and the same Redis: what
is left of a quote's latency and CPU once pricing, Rego, projections and hashing are taken away.

    python bench/floor.py --port P --redis-url URL --writes JSON   (one worker; start N on one port)

Each worker binds the port with SO_REUSEPORT (as loan-pricing's workers do), serves through uvicorn
with the services' settings, prints "ready" once it accepts connections, and stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import FastAPI, Path
from pydantic import BaseModel, Field

KEY_PREFIX = "bench:floor:"
INPUTS_KEPT = 1000


@dataclass(frozen=True)
class QuoteWrites:
    """Byte sizes of what one quote writes to Redis (values only; key names are the floor's own)."""

    request: int  # idempotency record
    quote: int  # quote record (also the size of the response body)
    entry: int  # decision-log entry
    head: int  # decision-log head
    dry_run_input: int
    access: dict[str, int]  # access stream entry: field -> value size

    def total(self) -> int:
        return self.request + self.quote + self.entry + self.head + self.dry_run_input + sum(self.access.values())


def measure(client: Any, bank: str) -> QuoteWrites:
    """The sizes of the newest quote's writes, read back from the stack's Redis (carbon_pricing.store's
    layout; the decision log may be one chain or one per bank).

    The access decision is rebuilt from that quote's decision-log entry, which records what it carried
    (decision id, bank, consent, positions, the rating's period): consent's auditor trims
    carbon:events:access once it has audited an entry, so the stream itself is usually empty by now."""
    from carbon_common import events, hashchain
    from carbon_pricing import store

    def newest_string(pattern: str) -> bytes:
        keys = list(client.scan_iter(match=pattern, count=1000))
        if not keys:
            raise RuntimeError(f"no {pattern} in Redis: measure after some quotes")
        return client.get(max(keys)) or b""

    logs = [key for key in client.scan_iter(match=b"carbon:pricing:decision_log*") if client.type(key) == b"list"]
    if not logs:
        raise RuntimeError("no decision log in Redis: measure after some quotes")
    log = max(logs, key=lambda key: client.llen(key))
    raw_entry = client.lindex(log, -1)
    entry = hashchain.parse_entry(log.decode().removeprefix(hashchain.KEY_PREFIX), raw_entry)
    return QuoteWrites(
        request=len(newest_string(f"{store.PREFIX}request:{bank}:*")),
        # quote ids are time-ordered: the greatest key is the newest quote
        quote=len(newest_string(f"{store.PREFIX}quote:{bank}:*")),
        entry=len(raw_entry),
        head=len(client.get(log + b":head") or b""),
        dry_run_input=len(client.lindex(store.INPUTS_KEY, 0) or b""),
        access={key: len(value.encode()) for key, value in events.ACCESS.encode(_access_of(entry)).items()},
    )


def _access_of(entry: Any) -> Any:
    """The access decision a quote's decision-log entry says it carried (carbon_pricing.sources.AccessDecision
    .event: allowed, reason "", the rating period's span, a W3C traceparent of the deciding request)."""
    from carbon_common import events
    from carbon_common.names import period_span

    body = entry.body
    quote = body["outputs"]["quote"]
    rating = (body["inputs"].get("policy_input") or {}).get("rating") or {}
    span = period_span(rating["period"]) if rating.get("period") else None
    return events.AccessDecided.create(
        decision_id=body["access_decision"],
        bank=body["bank"],
        enterprise=quote["enterprise"],
        scope="RATING",
        data_start=span[0] if span else None,
        data_end=span[1] if span else None,
        consent=body["consent"],
        allowed=True,
        reason="",
        quote=quote["name"],
        consent_position=body.get("consent_position", ""),
        time=datetime.fromisoformat(entry.time.replace("Z", "+00:00")),
        traceparent=f"00-{'0' * 31}1-{'0' * 15}1-01",
    )


class QuoteRequest(BaseModel):
    """The quote request's fields, validated as any FastAPI handler would."""

    request_id: str = Field(max_length=64)
    product: str = Field(max_length=64)
    enterprise: str = Field(max_length=64)
    amount_cny: str = Field(max_length=32)
    tenor_months: int
    reference_rate_pct: str = Field(max_length=16)


def app(client: Any, writes: QuoteWrites) -> FastAPI:
    api = FastAPI()
    filler = {name: b"x" * size for name, size in asdict(writes).items() if isinstance(size, int)}
    access = {name: b"x" * size for name, size in writes.access.items()}
    response_pad = "x" * max(0, writes.quote - 200)

    @api.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @api.post("/v1/banks/{bank}/quotes")
    async def create_quote(bank: Annotated[str, Path(max_length=64)], body: QuoteRequest) -> dict[str, Any]:
        quote_id = uuid.uuid4().hex
        async with client.pipeline(transaction=True) as pipe:  # MULTI ... EXEC: one round trip
            pipe.set(f"{KEY_PREFIX}request:{bank}:{body.request_id}", filler["request"], ex=30)
            pipe.set(f"{KEY_PREFIX}quote:{bank}:{quote_id}", filler["quote"])
            pipe.zadd(f"{KEY_PREFIX}quotes:{bank}", {quote_id: int(time.time() * 1000)})
            pipe.rpush(f"{KEY_PREFIX}decision_log", filler["entry"])
            pipe.set(f"{KEY_PREFIX}decision_log:head", filler["head"])
            pipe.lpush(f"{KEY_PREFIX}inputs", filler["dry_run_input"])
            pipe.ltrim(f"{KEY_PREFIX}inputs", 0, INPUTS_KEPT - 1)
            pipe.xadd(f"{KEY_PREFIX}access", access)
            await pipe.execute()
        return {
            "name": f"banks/{bank}/quotes/{quote_id}",
            "enterprise": body.enterprise,
            "product": body.product,
            "decision": "APPROVED",
            "padding": response_pad,
        }

    return api


def reusable_socket(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    return sock


async def serve(port: int, redis_url: str, writes: QuoteWrites) -> None:
    import redis.asyncio
    import uvicorn

    # Handlers wait for a free connection rather than fail (the default pool raises past its maximum).
    pool = redis.asyncio.BlockingConnectionPool.from_url(redis_url, max_connections=64, timeout=10)
    client = redis.asyncio.Redis(connection_pool=pool)
    # The services' uvicorn settings (carbon_common.server): default loop/HTTP implementations.
    config = uvicorn.Config(app(client, writes), log_config=None, access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[reusable_socket(port)]))
    while not server.started and not task.done():
        await asyncio.sleep(0.01)
    print("ready", flush=True)
    await task
    await client.aclose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--writes", required=True, help="QuoteWrites as JSON")
    args = parser.parse_args()
    writes = QuoteWrites(**json.loads(args.writes))
    import uvloop

    uvloop.run(serve(args.port, args.redis_url, writes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
