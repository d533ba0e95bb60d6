"""`carbonctl status --local`: gRPC health of every service, Redis and its AOF.

Targets come from the service catalog: the `make run` stack by default,
the in-cluster ports with `--kube`; CARBON_*_TARGET variables override both.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

import redis
from carbon_common import catalog
from carbon_common.healthcheck import check

from carbonctl.table import Row

# (service, target variable) from the service catalog, in flow order.
SERVICES = tuple((entry.name, entry.target_variable) for entry in catalog.SERVICES)
DEFAULT_REDIS_URL = "redis://127.0.0.1:6390/0"
AOF_FIELDS = (
    "loading",
    "aof_enabled",
    "aof_rewrite_in_progress",
    "aof_last_write_status",
    "aof_last_bgrewrite_status",
    "aof_current_size",
)


def service_targets(
    env: Mapping[str, str] | None = None, *, kube: bool = False, host: str = catalog.LOCALHOST
) -> list[tuple[str, str]]:
    """CARBON_*_TARGET when set, else the `make run` ports, or with kube=True the
    in-cluster ports on `host` (e.g. through `kubectl port-forward`)."""
    env = os.environ if env is None else env
    return [
        (entry.name, env.get(entry.target_variable) or f"{host}:{(entry.cluster if kube else entry.local).grpc}")
        for entry in catalog.SERVICES
    ]


def redis_url(flag: str | None, env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    return flag or env.get("CARBON_REDIS_URL") or DEFAULT_REDIS_URL


def service_rows(targets: list[tuple[str, str]], timeout: float) -> list[Row]:
    """Checks run in parallel, so a dead stack costs one timeout, not six."""
    with ThreadPoolExecutor(max_workers=max(1, len(targets))) as pool:
        statuses = list(pool.map(lambda item: check(item[1], timeout=timeout), targets))
    return [
        Row(name, "grpc", target, status, status == "SERVING")
        for (name, target), status in zip(targets, statuses, strict=True)
    ]


def redis_row(url: str, timeout: float) -> Row:
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    shown = _without_password(url)
    try:
        client.ping()
        info = client.info("persistence")
    except redis.RedisError as error:
        return Row("redis", "redis", shown, f"UNREACHABLE ({type(error).__name__})", False, str(error))
    finally:
        client.close()
    return _redis_health(shown, info)


def _redis_health(target: str, info: Mapping[str, object]) -> Row:
    problems = []
    aof_enabled = str(info.get("aof_enabled", "0")) == "1"
    if not aof_enabled:
        problems.append("AOF disabled")
    for key in ("aof_last_write_status", "aof_last_bgrewrite_status"):
        value = str(info.get(key, "ok"))
        if aof_enabled and value != "ok":
            problems.append(f"{key}={value}")
    if str(info.get("loading", "0")) == "1":
        problems.append("loading")
    detail = (
        f"aof_enabled={int(aof_enabled)} last_write={info.get('aof_last_write_status', '?')} "
        f"rewrite_in_progress={info.get('aof_rewrite_in_progress', '?')}"
    )
    extra = {k: info[k] for k in AOF_FIELDS if k in info}
    if problems:
        return Row("redis", "redis", target, "DEGRADED", False, "; ".join(problems) + f" ({detail})", extra)
    return Row("redis", "redis", target, "PONG", True, detail, extra)


def _without_password(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest:
        credentials, _, host = rest.rpartition("@")
        user = credentials.split(":", 1)[0]
        return f"{scheme}://{user + ':' if user else ':'}***@{host}"
    return url


def local_rows(
    url: str, timeout: float = 2.0, env: Mapping[str, str] | None = None, *, kube: bool = False, host: str = "127.0.0.1"
) -> list[Row]:
    return [*service_rows(service_targets(env, kube=kube, host=host), timeout), redis_row(url, timeout)]
