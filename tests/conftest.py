"""Fixtures shared by every test: a real redis-server per session, fresh per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from carbon_common.redis_server import free_port, start


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server with AOF on a free port; yields its base URL."""
    port = free_port()
    data_dir: Path = tmp_path_factory.mktemp("redis")
    process = start(data_dir, port)
    yield f"redis://127.0.0.1:{port}"
    process.terminate()
    process.wait(10)


@pytest.fixture
def redis_url(redis_server: str) -> str:
    """Database 0 of the session server, emptied before the test."""
    redis.Redis.from_url(redis_server).flushall()
    return f"{redis_server}/0"
