"""N loan-pricing worker processes sharing the gRPC and HTTP ports (SO_REUSEPORT), so quotes use every
core. Each worker is a whole service (its own projections, policy engine, Redis connections); the
quote path shares nothing in process memory that must agree across workers: idempotency claims, the
decision log (compare-and-set appends) and the access stream are in Redis, and every worker's
projections converge on the same streams.

The supervisor only starts, restarts (a worker that died) and stops (SIGTERM/SIGINT forwarded) its
workers; each worker gets PR_SET_PDEATHSIG, so a supervisor killed -9 takes its workers with it.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

WORKER_ENV = "CARBON_PRICING_WORKER"  # set in a worker: serve, do not supervise
PR_SET_PDEATHSIG = 1


CPU_MAX = Path("/sys/fs/cgroup/cpu.max")  # cgroup v2 CPU quota: "max 100000" or "200000 100000"


def usable_cores() -> int:
    """Cores this process may use: its CPU affinity, capped by the cgroup quota (a pod's CPU limit;
    os.cpu_count() would be the node's)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        quota, period = CPU_MAX.read_text().split()
        if quota != "max":
            cores = min(cores, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cores)


def worker_count(configured: int) -> int:
    return configured or usable_cores()


def _die_with_parent() -> None:
    # Not Linux: a killed supervisor leaves its workers to the orchestrator.
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _spawn(index: int) -> subprocess.Popen[Any]:
    # Each worker its own telemetry identity: OTLP series of two workers must not merge into one.
    attributes = ",".join(
        a
        for a in (
            os.environ.get("OTEL_RESOURCE_ATTRIBUTES", ""),
            f"service.instance.id={socket.gethostname()}-w{index}",
        )
        if a
    )
    env = {
        **os.environ,
        WORKER_ENV: str(index),
        "CARBON_REUSE_PORT": "true",
        "OTEL_RESOURCE_ATTRIBUTES": attributes,
    }
    return subprocess.Popen([sys.executable, "-m", "carbon_pricing"], env=env, preexec_fn=_die_with_parent)


def supervise(count: int, grace: float) -> int:
    stopping = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    workers = [_spawn(i) for i in range(count)]
    log.info("pricing workers started", extra={"workers": [w.pid for w in workers]})
    while not stopping.wait(0.2):
        for i, worker in enumerate(workers):
            if worker.poll() is not None:
                log.error("pricing worker exited; restarting", extra={"pid": worker.pid, "code": worker.returncode})
                workers[i] = _spawn(i)
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace + 5
    for worker in workers:
        try:
            worker.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            worker.kill()
    return 0
