"""bench/bench_pricing.py runs end to end (--quick, a tiny rate and duration), so it cannot rot.

No timing is asserted (speed is the benchmark's to report, not a test's): the run must finish, report
every phase with every request accounted for, CPU for every service process including each pricing
worker, the revocations it made, the floor's measured write sizes, and an intact decision log."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RATE, DURATION = 20, 2


@pytest.mark.e2e
@pytest.mark.timeout(900)  # five service processes start and run four phases: 4-7 min on the loaded machine
def test_quick_run_reports_every_phase() -> None:
    command = [sys.executable, "bench/bench_pricing.py", "--quick", f"--rate={RATE}", f"--duration={DURATION}"]
    run = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=840)
    assert run.returncode == 0, run.stderr[-4000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    expected = RATE * DURATION

    assert report["benchmark"] == "pricing_quotes" and report["quick"] is True
    workers = report["pricing_workers"]
    assert workers >= 1
    for name in ("rest", "grpc", "floor"):
        phase = report[name]
        assert phase["requests"] == expected, name
        assert phase["ok"] > 0 and phase["ok"] + phase["errors"] == expected, (name, phase["error_kinds"])
        assert phase["cpu_ms_per_quote"]["services_total"] > 0
        assert set(phase["host"]) >= {"busy_pct", "load_average_before", "load_average_after"}
    for name in ("rest", "grpc"):
        cpu = report[name]["cpu_seconds"]
        assert {"consent", "rating", "accounting", "redis", "load-generator"} <= set(cpu)
        assert {f"loan-pricing/worker{i}" for i in range(workers)} <= set(cpu)
        revocation = report[name]["revocation"]
        assert revocation["revocations"] >= 1 and revocation["probes"] > 0
        assert 0 <= revocation["not_refused"] <= revocation["revocations"]
    assert {f"floor/worker{i}" for i in range(workers)} <= set(report["floor"]["cpu_seconds"])
    writes = report["floor"]["writes_bytes"]
    assert writes["entry"] > 0 and writes["access"] and writes["total"] > writes["entry"]

    vegeta = report["rest_vegeta"]
    assert vegeta["tool"].startswith("vegeta ")
    assert vegeta["requests"] == expected and vegeta["ok"] + vegeta["errors"] == expected
    assert report["decision_log"]["ok"] is True and report["decision_log"]["entries"] > 0
    assert set(report["goal"]["checks"]) >= {"rest_p99", "grpc_p99", "rest_cpu", "grpc_revocation_p99"}
    assert report["warm_up_targets"].get("ok", 0) > 0
