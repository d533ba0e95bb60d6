"""A real redis-server on a local port: the system's binary (Debian's security-maintained
`redis-server` package, installed by `make redis-server`), with AOF persistence.

For `make run`, the benchmarks and the tests; production uses the chart's Redis or a
managed one (docs/runbook.md, "Redis in production"). `CARBON_REDIS_SERVER` names
another binary (e.g. a newer build) instead of the one on PATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis

BINARY_ENV = "CARBON_REDIS_SERVER"
START_SECONDS = 20.0


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
            "no redis-server on PATH: run `make redis-server`, which installs"
            " Debian's redis-server package (apt-get install redis-server)"
        )
    return found


def start(
    data_dir: Path, port: int, *, appendfsync: str = "everysec", log: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start redis-server with AOF persistence in data_dir and wait until it answers PING."""
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
    deadline = time.monotonic() + START_SECONDS
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
    raise RuntimeError(f"redis-server did not start in {START_SECONDS:.0f} s")


@dataclass
class RedisServer:
    """One redis-server: its data directory and port survive a SIGKILL and a restart."""

    data_dir: Path
    port: int
    appendfsync: str = "everysec"
    log: Path | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.process = start(self.data_dir, self.port, appendfsync=self.appendfsync, log=self.log)
        return self

    def kill9(self) -> None:
        assert self.process is not None, "redis-server was not started"
        self.process.kill()
        self.process.wait()

    def stop(self, timeout: float = 10) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout)
