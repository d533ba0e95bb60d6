"""`make run` (`python -m carbon_devkit.local`): Redis and every service as local processes,
on the catalog's local ports and embedded defaults.

Secrets for this machine are generated once into .run/secrets.env (mode 0600)
and handed to the services through the environment; nothing secret is printed.
Ctrl-C (or SIGTERM) stops every service gracefully, then Redis.
"""

from __future__ import annotations

import os
import secrets
import signal
import sys
import time
from pathlib import Path

from carbon_common import catalog

from carbon_devkit.checkout import REPO
from carbon_devkit.processes import SERVICE_PACKAGES, NotServing, ServiceProcess, launch, stop_all, wait_serving
from carbon_devkit.redis_server import RedisServer

# Secrets/logs and data; the defaults are git-ignored directories of the checkout.
RUN_DIR = Path(os.environ.get("CARBON_LOCAL_RUN_DIR") or REPO / ".run")
VAR_DIR = Path(os.environ.get("CARBON_LOCAL_VAR_DIR") or REPO / "var")
REDIS_PORT = int(os.environ.get("CARBON_LOCAL_REDIS_PORT", "6390"))
# Ports from the service catalog: below Linux's ephemeral range (32768-60999),
# where a port can be held by the source side of any outgoing connection.
PORTS = {entry.name: (entry.local.grpc, entry.local.http) for entry in catalog.SERVICES}
PACKAGES = SERVICE_PACKAGES
SECRET_NAMES = ("CARBON_SERVICE_SECRET", "CARBON_ADMIN_TOKEN", "CARBON_LINK_SECRET")
START_SECONDS = 60.0
READY_LINE = "run `make demo` in another terminal; Ctrl-C stops everything."


def local_secrets() -> dict[str, str]:
    """Per-machine secrets, generated on first run and kept out of git."""
    path = RUN_DIR / "secrets.env"
    values: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            key, _, value = line.partition("=")
            values[key] = value
    missing = [name for name in SECRET_NAMES if name not in values]
    if missing:
        for name in missing:
            values[name] = secrets.token_urlsafe(32)
        RUN_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
        path.chmod(0o600)
    return values


def stack_env() -> dict[str, str]:
    """What every service of the local stack gets on top of the launcher's environment."""
    return {
        **local_secrets(),
        "CARBON_REDIS_URL": f"redis://127.0.0.1:{REDIS_PORT}/0",
        "CARBON_DATA_DIR": str(VAR_DIR / "data"),
        **catalog.local_targets(),
    }


def main() -> int:
    logs = RUN_DIR / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    stop = {"requested": False}

    def on_signal(_signum: int, _frame: object) -> None:
        stop["requested"] = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    redis = RedisServer(VAR_DIR / "redis", REDIS_PORT, log=logs / "redis.log").start()
    env = stack_env()
    services: dict[str, ServiceProcess] = {}
    try:
        # All at once (each reaches its peers lazily), then wait for every one: a faster start.
        for name, ports in PORTS.items():
            services[name] = launch(name, env, logs, ports=ports, new_session=True)
        try:
            wait_serving(services.values(), START_SECONDS, stop_waiting=lambda: stop["requested"])
        except NotServing as error:
            print(str(error).split("\n", 1)[0], f"(logs in {logs})", file=sys.stderr)
            return 1
        if stop["requested"]:
            return 0
        print(f"\n{'service':<14} {'gRPC':<17} HTTP")
        print(f"{'redis':<14} 127.0.0.1:{REDIS_PORT:<7} (AOF in {VAR_DIR / 'redis'})")
        for name, (grpc_port, http_port) in PORTS.items():
            print(f"{name:<14} 127.0.0.1:{grpc_port:<7} http://127.0.0.1:{http_port}/docs")
        print(f"\nlogs: {logs}/   secrets: {RUN_DIR / 'secrets.env'}")
        print(READY_LINE + "\n", flush=True)
        while not stop["requested"]:
            for name, service in services.items():
                if service.process.poll() is not None:
                    print(f"{name} exited with {service.process.returncode}; stopping", file=sys.stderr)
                    stop["requested"] = True
            time.sleep(0.5)
        return 0
    finally:
        print("stopping services ...", flush=True)
        for name in stop_all(services.values(), timeout=20):
            print(f"{name} did not stop in 20 s; killed", file=sys.stderr)
        redis.stop()
        print("stopped.")


if __name__ == "__main__":
    sys.exit(main())
