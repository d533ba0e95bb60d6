"""Open-model (fixed arrival rate) load generators over loopback.

Requests are *scheduled* at start + i / rate regardless of how earlier ones
fare; latency is measured from the scheduled time, so a stalled server is
charged for the queueing it causes (no coordinated omission). HTTP/1.1 with
keep-alive over raw asyncio streams, and gRPC through grpc.aio.

Several connections, used in turn: a server of N processes sharing a port (SO_REUSEPORT) has the
kernel spread *connections*, not requests, over its processes. At 500 requests/s and millisecond
latencies one keep-alive connection (or one gRPC channel) would carry everything to one process,
so the HTTP pool opens `connections` up front and hands out the least recently used idle one, and
`grpc_channels` opens channels that do not share a TCP connection.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Result:
    latencies_ms: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    sent: int = 0
    late_starts: int = 0  # requests that could not even be sent on schedule (>1 ms late)
    elapsed_s: float = 0.0

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    def summary(self) -> dict[str, Any]:
        values = sorted(self.latencies_ms)
        ok = len(values)

        def pct(p: float) -> float | None:
            if not values:
                return None
            return round(values[min(ok - 1, max(0, math.ceil(p / 100 * ok) - 1))], 3)

        return {
            "requests": self.sent,
            "ok": ok,
            "errors": sum(self.errors.values()),
            "error_kinds": self.errors,
            "p50_ms": pct(50),
            "p90_ms": pct(90),
            "p99_ms": pct(99),
            "p999_ms": pct(99.9),
            "max_ms": round(values[-1], 3) if values else None,
            "throughput_rps": round(ok / self.elapsed_s, 1) if self.elapsed_s else 0.0,
            "late_starts": self.late_starts,
        }


async def open_loop(
    rate: float, duration: float, call: Callable[[int, float], Awaitable[None]], result: Result, warmup: float = 0.0
) -> None:
    """Fire call(i, scheduled) at fixed times; scheduled is on the time.perf_counter() clock and the
    call records latency = time.perf_counter() - scheduled."""
    loop = asyncio.get_running_loop()
    total = int(rate * duration)
    start = loop.time() + 0.05
    start_pc = time.perf_counter() + 0.05  # latency clock (uvloop's loop.time() has 1 ms resolution)
    tasks: set[asyncio.Task[None]] = set()
    for i in range(total):
        at = start + i / rate
        delay = at - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -0.001:
            result.late_starts += 1
        result.sent += 1
        task = asyncio.create_task(call(i, start_pc + i / rate))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        _, unfinished = await asyncio.wait(tasks, timeout=30)
        for task in unfinished:  # never answered: an error, not a silently missing sample
            task.cancel()
            result.error("unfinished_30s_after_schedule")
    result.elapsed_s = loop.time() - start


class StaleConnection(ConnectionError):
    """A pooled connection the server had already closed: nothing was answered."""


class HttpPool:
    """Minimal keep-alive HTTP/1.1 client for one host (Content-Length responses). Idle connections
    are reused least recently used first, so requests rotate over every open connection."""

    def __init__(self, host: str, port: int, max_connections: int = 256) -> None:
        self.host = host
        self.port = port
        self.idle: deque[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = deque()
        self.opened = 0
        # At most this many requests in flight (= open connections); later ones wait here, and
        # since latency runs from the scheduled time, the wait is charged to the server. Without
        # a cap an overloaded server makes the client open sockets until it runs out of fds.
        self._slots = asyncio.Semaphore(max_connections)

    async def open(self, connections: int) -> None:
        """Open `connections` keep-alive connections now (they are then used in turn)."""
        for _ in range(connections):
            self.opened += 1
            self.idle.append(await asyncio.open_connection(self.host, self.port))

    async def _connection(self, reuse: bool) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bool]:
        """(reader, writer, pooled): the least recently used idle connection when reuse allows, else a new one."""
        if reuse and self.idle:
            return (*self.idle.popleft(), True)
        self.opened += 1
        return (*await asyncio.open_connection(self.host, self.port), False)

    async def request(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        """Sent once more on a new connection if a pooled keep-alive connection turns out to have
        been closed by the server before answering (the usual keep-alive race; callers send
        idempotent requests only)."""
        async with self._slots:
            try:
                return await self._request(method, path, body, headers, reuse=True)
            except StaleConnection:
                return await self._request(method, path, body, headers, reuse=False)

    async def _request(
        self, method: str, path: str, body: bytes, headers: dict[str, str], reuse: bool
    ) -> tuple[int, bytes]:
        reader, writer, pooled = await self._connection(reuse)
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", f"Content-Length: {len(body)}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        try:
            try:
                status_line = await reader.readline()
            except ConnectionResetError:
                status_line = b""
            if not status_line:
                raise StaleConnection() if pooled else ConnectionError("connection closed")
            status = int(status_line.split()[1])
            length = 0
            close = False
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b"\n", b""):
                    break
                name, _, value = line.decode("latin-1").partition(":")
                lname = name.strip().lower()
                if lname == "content-length":
                    length = int(value.strip())
                elif lname == "connection" and value.strip().lower() == "close":
                    close = True
            payload = await reader.readexactly(length) if length else b""
        except BaseException:
            writer.close()
            raise
        if close:
            writer.close()
        else:
            self.idle.append((reader, writer))
        return status, payload

    async def close(self) -> None:
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()


def now_ms() -> float:
    return time.perf_counter() * 1000


def grpc_channels(target: str, count: int) -> list[Any]:
    """`count` grpc.aio channels with a TCP connection each (a local subchannel pool per channel: by
    default channels to one target share their connection)."""
    import grpc

    return [grpc.aio.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)]) for _ in range(count)]
