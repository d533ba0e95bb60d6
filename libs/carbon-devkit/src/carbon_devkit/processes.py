"""One service as an OS process (`python -m <package>`, as `make run` and the images start it),
and the waits that end on the service's own signals: gRPC health SERVING, HTTP /healthz."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import httpx
from carbon_common import catalog
from carbon_common.healthcheck import check

from carbon_devkit.checkout import REPO
from carbon_devkit.ports import free_port

# From the service catalog, as every launcher reads them.
SERVICE_PACKAGES = {entry.name: entry.package for entry in catalog.SERVICES}
TARGET_VARS = {entry.name: entry.target_variable for entry in catalog.SERVICES}
POLL_SECONDS = 0.1
# How long a starting service may take to report SERVING: a safety bound only (every wait ends on
# SERVING or on the process's exit); generous, because a loaded shared 2-core machine can take
# tens of seconds to import a service.
START_SECONDS = 120.0


@dataclass
class ServiceProcess:
    name: str
    grpc_port: int
    http_port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)  # what the launcher set on top of its own environment

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def http_base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def channel(self) -> grpc.Channel:
        return grpc.insecure_channel(self.target)

    def stop(self, timeout: float = 15) -> int:
        """SIGTERM (graceful shutdown), SIGKILL after `timeout`; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def kill9(self) -> None:
        self.process.kill()
        self.process.wait()

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def stop_all(services: Iterable[ServiceProcess], timeout: float = 15) -> list[str]:
    """SIGTERM to every service at once, then wait for each; the names that had to be killed."""
    services = list(services)
    for service in services:
        if service.process.poll() is None:
            service.process.send_signal(signal.SIGTERM)
    killed = []
    for service in services:
        try:
            service.process.wait(timeout)
        except subprocess.TimeoutExpired:
            service.kill9()
            killed.append(service.name)
    return killed


def launch(
    name: str,
    env: Mapping[str, str],
    log_dir: Path,
    *,
    ports: tuple[int, int] | None = None,
    dev_mode: bool = True,
    new_session: bool = False,
) -> ServiceProcess:
    """Start `name` on `ports` (free ones by default) without waiting; output appended to log_dir/<name>.log.

    `new_session`: the child does not get the terminal's Ctrl-C (the launcher stops it in order)."""
    grpc_port, http_port = ports or (free_port(), free_port())
    full_env = {
        **os.environ,
        "CARBON_GRPC_PORT": str(grpc_port),
        "CARBON_HTTP_PORT": str(http_port),
        "CARBON_DEV_MODE": "true" if dev_mode else "false",
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
        start_new_session=new_session,
    )
    return ServiceProcess(name, grpc_port, http_port, process, log_path, dict(env))


class NotServing(RuntimeError):
    """A service exited or did not report SERVING in time."""


def wait_serving(
    services: Iterable[ServiceProcess], timeout: float, *, stop_waiting: Callable[[], bool] = lambda: False
) -> None:
    """Until every service's gRPC health reports SERVING; a service that exits fails at once. The probe
    names the service's own gRPC service, so another server on the same port cannot answer for it."""
    pending = {service.name: service for service in services}
    deadline = time.monotonic() + timeout
    while pending and not stop_waiting():
        for name, service in list(pending.items()):
            if service.process.poll() is not None:
                raise NotServing(f"{name} exited with {service.process.returncode}:\n{service.logs()[-4000:]}")
            if check(service.target, catalog.service(name).grpc_services[0], timeout=0.5) == "SERVING":
                del pending[name]
        if pending and time.monotonic() > deadline:
            raise NotServing(f"not SERVING after {timeout:.0f} s: {', '.join(sorted(pending))}")
        if pending:
            time.sleep(POLL_SECONDS)


def wait_http(service: ServiceProcess, timeout: float = 20.0) -> None:
    """Until the HTTP edge answers /healthz (gRPC health can turn SERVING before uvicorn has bound)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{service.http_base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(POLL_SECONDS)
    raise NotServing(f"{service.name}: HTTP edge not up after {timeout:.0f} s:\n{service.logs()[-4000:]}")


def start_service(
    name: str,
    env: Mapping[str, str],
    log_dir: Path,
    *,
    wait: float = START_SECONDS,
    ports: tuple[int, int] | None = None,
    dev_mode: bool = True,
) -> ServiceProcess:
    """Start `name` and return once it is SERVING (stopped again if it is not)."""
    service = launch(name, env, log_dir, ports=ports, dev_mode=dev_mode)
    try:
        wait_serving([service], wait)
    except NotServing:
        service.stop()
        raise
    return service
