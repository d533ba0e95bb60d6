"""Fixtures shared by every test: a real redis-server per session, fresh per test; a real S3 server
(SeaweedFS) per session for the raw-data tests that run on both backends."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from carbon_devkit.ports import free_port
from carbon_devkit.redis_server import start
from carbon_devkit.s3 import RAW_BUCKET, S3Server, seaweedfs


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


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """SeaweedFS with its S3 gateway on free ports, bucket RAW_BUCKET created; stopped after the session."""
    with seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as server:
        server.create_bucket(RAW_BUCKET)
        yield server


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """The standard AWS_* variables of the session's S3 server set for this test."""
    for name, value in s3_server.environ().items():
        monkeypatch.setenv(name, value)
    return s3_server


@pytest.fixture(params=["local", "s3"])
def new_data_root(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Path]:
    """A factory of fresh, empty raw-data roots (CARBON_DATA_DIR) on the parametrised backend: a
    local directory, or a unique prefix in the session's SeaweedFS bucket (as the Path a setting
    makes of s3://bucket/prefix). Tests that take it run once per backend."""
    if request.param == "local":
        return lambda: Path(tmp_path / uuid.uuid4().hex)
    request.getfixturevalue("s3_env")
    return lambda: Path(f"s3://{RAW_BUCKET}/{uuid.uuid4().hex}")


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
