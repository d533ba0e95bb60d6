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


CHROMIUM = "/usr/bin/chromium"
# Debian's chromium as root on a machine without outside network: no sandbox,
# no background connections (they are refused here and slow every start).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Real headless Chromium driven by Playwright; missing Chromium fails, never skips."""
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: run `make chromium`"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()
