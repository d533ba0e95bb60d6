"""`make run`: Redis and every service as local processes, on embedded defaults.

Secrets for this machine are generated once into .run/secrets.env (mode 0600)
and handed to the services through the environment; nothing secret is printed.
Ctrl-C (or SIGTERM) stops every service gracefully, then Redis.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from carbon_common import catalog
from carbon_common.healthcheck import check
from carbon_common.redis_server import start as start_redis

REPO = Path(__file__).resolve().parents[1]

# Secrets/logs and data; the defaults are git-ignored directories of the checkout.
RUN_DIR = Path(os.environ.get("CARBON_LOCAL_RUN_DIR") or REPO / ".run")
VAR_DIR = Path(os.environ.get("CARBON_LOCAL_VAR_DIR") or REPO / "var")
REDIS_PORT = int(os.environ.get("CARBON_LOCAL_REDIS_PORT", "6390"))
# Ports from the service catalog: below Linux's ephemeral range (32768-60999),
# where a port can be held by the source side of any outgoing connection.
PORTS = {entry.name: (entry.local.grpc, entry.local.http) for entry in catalog.SERVICES}
PACKAGES = {entry.name: entry.package for entry in catalog.SERVICES}
SECRET_NAMES = ("CARBON_SERVICE_SECRET", "CARBON_ADMIN_TOKEN", "CARBON_LINK_SECRET")


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
        RUN_DIR.mkdir(exist_ok=True)
        path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
        path.chmod(0o600)
    return values


def stack_env() -> dict[str, str]:
    env = {
        **os.environ,
        **local_secrets(),
        "CARBON_DEV_MODE": "true",
        "CARBON_REDIS_URL": f"redis://127.0.0.1:{REDIS_PORT}/0",
        "CARBON_DATA_DIR": str(VAR_DIR / "data"),
        "PYTHONUNBUFFERED": "1",
    }
    env.update(catalog.local_targets())
    return env


def main() -> int:
    logs = RUN_DIR / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    stop = {"requested": False}

    def on_signal(_signum: int, _frame: object) -> None:
        stop["requested"] = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    redis = start_redis(VAR_DIR / "redis", REDIS_PORT, log=logs / "redis.log")
    env = stack_env()
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, (grpc_port, http_port) in PORTS.items():
            service_env = {**env, "CARBON_GRPC_PORT": str(grpc_port), "CARBON_HTTP_PORT": str(http_port)}
            processes[name] = subprocess.Popen(
                [sys.executable, "-m", PACKAGES[name]],
                env=service_env,
                stdout=open(logs / f"{name}.log", "ab"),  # noqa: SIM115 - child keeps writing
                stderr=subprocess.STDOUT,
                cwd=REPO,
                start_new_session=True,  # Ctrl-C reaches us only; we stop them in order
            )
        deadline = time.monotonic() + 60
        pending = set(PORTS)
        while pending and time.monotonic() < deadline and not stop["requested"]:
            for name in list(pending):
                if processes[name].poll() is not None:
                    print(f"{name} exited; see {logs / (name + '.log')}", file=sys.stderr)
                    return 1
                if check(f"127.0.0.1:{PORTS[name][0]}", timeout=0.5) == "SERVING":
                    pending.discard(name)
            time.sleep(0.2)
        if pending:
            print(f"not serving after 60 s: {', '.join(sorted(pending))}", file=sys.stderr)
            return 1
        print(f"\n{'service':<14} {'gRPC':<17} HTTP")
        print(f"{'redis':<14} 127.0.0.1:{REDIS_PORT:<7} (AOF in {VAR_DIR / 'redis'})")
        for name, (grpc_port, http_port) in PORTS.items():
            print(f"{name:<14} 127.0.0.1:{grpc_port:<7} http://127.0.0.1:{http_port}/docs")
        print(f"\nlogs: {logs}/   secrets: {RUN_DIR / 'secrets.env'}")
        print("run `make demo` in another terminal; Ctrl-C stops everything.\n", flush=True)
        while not stop["requested"]:
            for name, process in processes.items():
                if process.poll() is not None:
                    print(f"{name} exited with {process.returncode}; stopping", file=sys.stderr)
                    stop["requested"] = True
            time.sleep(0.5)
        return 0
    finally:
        print("stopping services ...", flush=True)
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for name, process in processes.items():
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                print(f"{name} did not stop in 20 s; killing", file=sys.stderr)
                process.kill()
        redis.terminate()
        redis.wait(10)
        print("stopped.")


if __name__ == "__main__":
    sys.exit(main())
