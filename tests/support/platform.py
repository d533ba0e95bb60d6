"""The whole platform as separate processes: redis-server and all six services.

Services start in dependency order; each gets its peers' targets, one data
directory and one Redis, exactly as `make run` wires them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import Popen
from typing import Any

import grpc
from carbon_common import catalog
from carbon_common.channels import service_channel
from carbon_common.redis_server import free_port
from carbon_common.redis_server import start as start_redis

from tests.support.processes import TARGET_VARS, ServiceProcess, start_service

ORDER = catalog.names()  # dependency (flow) order
SERVICE_SECRET = "platform-test-service-secret"
ADMIN_TOKEN = "platform-test-admin-token"
LINK_SECRET = "platform-test-link-secret"
GOV_TOKENS = "alice:drafter:platform-test-drafter,bob:approver:platform-test-approver"
PRICING_ADMIN_TOKEN = "platform-test-pricing-admin"
GENEROUS_RATE_LIMITS = json.dumps({kind: {"rate": 100_000, "burst": 100_000} for kind in ("bank", "address", "page")})


@dataclass
class Platform:
    root: Path
    redis_url: str
    redis_process: Popen[bytes]
    services: dict[str, ServiceProcess] = field(default_factory=dict)
    ports: dict[str, tuple[int, int]] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        env = {
            "CARBON_REDIS_URL": self.redis_url,
            "CARBON_SERVICE_SECRET": SERVICE_SECRET,
            "CARBON_ADMIN_TOKEN": ADMIN_TOKEN,
            "CARBON_LINK_SECRET": LINK_SECRET,
            "CARBON_GOV_TOKENS": GOV_TOKENS,
            "CARBON_PRICING_ADMIN_TOKEN": PRICING_ADMIN_TOKEN,
            "CARBON_DATA_DIR": str(self.root / "data"),
            "CARBON_DEV_MODE": "false",
            # Functional tests and fuzzers are not load tests: buckets out of the way
            # (tests/foundation/test_rate_limits.py exercises the limits themselves).
            "CARBON_RATE_LIMITS": GENEROUS_RATE_LIMITS,
        }
        for name, (grpc_port, _) in self.ports.items():
            env[TARGET_VARS[name]] = f"127.0.0.1:{grpc_port}"
        return env

    def channel(self, name: str, caller: str = "operator") -> grpc.Channel:
        """A channel to `name` carrying a platform service identity."""
        return service_channel(self.services[name].target, caller, SERVICE_SECRET)

    def http(self, name: str) -> str:
        return self.services[name].http_base

    def span_file(self, name: str) -> Path:
        return self.root / "spans" / f"{name}.jsonl"

    def stop(self) -> dict[str, int]:
        codes = {name: self.services[name].stop() for name in reversed(list(self.services))}
        self.redis_process.terminate()
        self.redis_process.wait(10)
        return codes


def start_platform(root: Path, extra_env: dict[str, Any] | None = None, *, wait: float = 30.0) -> Platform:
    port = free_port()
    redis_process = start_redis(root / "redis", port)
    platform = Platform(root, f"redis://127.0.0.1:{port}/0", redis_process)
    platform.ports = {name: (free_port(), free_port()) for name in ORDER}
    try:
        for name in ORDER:
            env = {
                **platform.env(),
                # Each process appends its finished spans here (trace continuity checks).
                "CARBON_TELEMETRY_SPAN_FILE": str(platform.span_file(name)),
                **{k: str(v) for k, v in (extra_env or {}).items()},
            }
            # loan-pricing starts one worker per core, each warming its own projections and policy engine.
            patience = max(wait, 180.0) if name == "loan-pricing" else wait
            platform.services[name] = start_service(name, env, root / "logs", ports=platform.ports[name], wait=patience)
    except BaseException:
        platform.stop()
        raise
    return platform
