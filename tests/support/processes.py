"""Start services as separate OS processes, exactly as `make run` does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from carbon_common import catalog
from carbon_common.healthcheck import check
from carbon_common.redis_server import free_port

REPO = Path(__file__).resolve().parents[2]

# From the service catalog, as `make run` (scripts/run_stack.py) reads them.
SERVICE_PACKAGES = {entry.name: entry.package for entry in catalog.SERVICES}
TARGET_VARS = {entry.name: entry.target_variable for entry in catalog.SERVICES}


@dataclass
class ServiceProcess:
    name: str
    grpc_port: int
    http_port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def http_base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def channel(self) -> grpc.Channel:
        return grpc.insecure_channel(self.target)

    def stop(self, timeout: float = 15) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def start_service(
    name: str, env: dict[str, str], log_dir: Path, *, wait: float = 30.0, ports: tuple[int, int] | None = None
) -> ServiceProcess:
    grpc_port, http_port = ports or (free_port(), free_port())
    full_env = {
        **os.environ,
        "CARBON_GRPC_PORT": str(grpc_port),
        "CARBON_HTTP_PORT": str(http_port),
        "CARBON_DEV_MODE": "true",
        "PYTHONUNBUFFERED": "1",
        **env,
    }
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    process = subprocess.Popen(
        [sys.executable, "-m", SERVICE_PACKAGES[name]],
        env=full_env,
        stdout=open(log_path, "ab"),  # noqa: SIM115 - the child keeps writing after we return
        stderr=subprocess.STDOUT,
        cwd=REPO,
    )
    service = ServiceProcess(name, grpc_port, http_port, process, log_path, env)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{service.logs()}")
        if check(service.target, timeout=0.5) == "SERVING":
            return service
        time.sleep(0.1)
    service.stop()
    raise RuntimeError(f"{name} not SERVING after {wait}s:\n{service.logs()}")
