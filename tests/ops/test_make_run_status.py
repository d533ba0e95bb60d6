"""`carbonctl status` with no flags against a real `make run` stack (`python -m carbon_devkit.local`).

The stack listens on the catalog's fixed local ports (that is the point: no
flags); its secrets, logs and data go to a temporary directory.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

from carbon_common import catalog
from carbon_devkit import local
from carbon_devkit.checkout import REPO

READY_LINE = local.READY_LINE
REDIS_PORT = 6390  # make run's and carbonctl's default


def _busy(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_carbonctl_status_reports_a_make_run_stack_healthy_without_flags(tmp_path: Path) -> None:
    ports = [REDIS_PORT, *(p for e in catalog.SERVICES for p in (e.local.grpc, e.local.http))]
    busy = [port for port in ports if _busy(port)]
    assert not busy, f"ports of the local stack already in use (another `make run`?): {busy}"
    env = {
        k: v for k, v in os.environ.items() if not (k.startswith("CARBON_") and k.endswith(("_TARGET", "_REDIS_URL")))
    }
    env |= {"CARBON_LOCAL_RUN_DIR": str(tmp_path / "run"), "CARBON_LOCAL_VAR_DIR": str(tmp_path / "var")}
    stack = subprocess.Popen(
        [sys.executable, "-m", "carbon_devkit.local"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert stack.stdout is not None
        for line in stack.stdout:
            output.append(line)
            if READY_LINE in line:
                ready.set()
        ready.set()  # exited: stop waiting

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        # The launcher itself gives up after 60 s of not SERVING.
        assert ready.wait(180) and stack.poll() is None, "".join(output)
        status = subprocess.run(
            [sys.executable, "-m", "carbonctl", "status", "--json"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        report = json.loads(status.stdout)
        assert status.returncode == 0, status.stdout + status.stderr
        assert report["healthy"] is True
        by_name = {c["component"]: c for c in report["components"]}
        for entry in catalog.SERVICES:
            assert by_name[entry.name]["target"] == f"127.0.0.1:{entry.local.grpc}"
            assert by_name[entry.name]["status"] == "SERVING"
        assert by_name["redis"]["status"] == "PONG"
    finally:
        stack.send_signal(signal.SIGINT)
        try:
            stack.wait(60)
        except subprocess.TimeoutExpired:
            stack.kill()
            stack.wait()
        reader.join(10)
    assert "stopped." in "".join(output)
