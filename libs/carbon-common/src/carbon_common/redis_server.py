"""Start a real redis-server on a free port: the system's binary (Debian's
security-maintained `redis-server` package, installed by `make setup`).

Used by `make run` and by the tests; production uses the chart's Redis or a
managed one (docs/runbook.md, "Redis in production"). `CARBON_REDIS_SERVER`
names another binary (e.g. a newer build) instead of the one on PATH.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis

BINARY_ENV = "CARBON_REDIS_SERVER"


class RedisServerMissing(RuntimeError):
    """No redis-server binary to start."""


def binary() -> str:
    """Path of the redis-server to start: $CARBON_REDIS_SERVER, else `redis-server` on PATH."""
    configured = os.environ.get(BINARY_ENV, "").strip()
    if configured:
        found = shutil.which(configured)
        if not found:
            raise RedisServerMissing(f"{BINARY_ENV}={configured!r} is not an executable redis-server")
        return found
    found = shutil.which("redis-server")
    if not found:
        raise RedisServerMissing(
            "no redis-server on PATH: run `make redis-server` (or `make setup`), which installs"
            " Debian's redis-server package (apt-get install redis-server)"
        )
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(
    data_dir: Path, port: int, *, appendfsync: str = "everysec", log: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start redis-server with AOF persistence in data_dir and wait until it answers."""
    data_dir.mkdir(parents=True, exist_ok=True)
    args = [
        binary(),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(data_dir),
        "--appendonly",
        "yes",
        "--appendfsync",
        appendfsync,
        "--save",
        "",
        "--protected-mode",
        "yes",
        "--daemonize",
        "no",
    ]
    # The child process keeps writing to the log after we return.
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    client = redis.Redis(port=port, socket_connect_timeout=0.2)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited with {process.returncode}")
        try:
            if client.ping():
                # AOF rewrite/load finished when the server answers PING.
                return process
        except (redis.ConnectionError, redis.BusyLoadingError):
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("redis-server did not start in 20 s")
