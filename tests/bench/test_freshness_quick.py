"""bench/bench_freshness.py --quick end to end: a small province through every service process,
the live feed, a catch-up burst, and the check against a full recompute. A smoke test of the
benchmark's machinery: its timings are reported, never asserted here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(1800)  # seven processes started and stopped; minutes on a loaded 2-core machine
def test_quick_run_reflects_every_batch_and_matches_a_full_recompute(tmp_path: Path) -> None:
    run = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "bench_freshness.py"),
            "--quick",
            "--enterprises",
            "60",
            "--duration",
            "6",
            "--rate",
            "10",
            "--rate-steps",
            "0",
            "--cache-dir",
            str(tmp_path / "cache"),
        ],
        capture_output=True,
        text=True,
        timeout=1700,
        cwd=REPO,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    sustained = result["sustained"]
    assert sustained["batches"] == 60 and sustained["drained"]
    # every acknowledged batch was seen reflected in its account and its rating
    assert sustained["account"]["n"] == 60 and sustained["rating"]["n"] == 60
    assert sustained["invoice_account"]["n"] == sustained["invoices"] > 0
    assert result["catchup"]["drained"] and result["catchup"]["account"]["n"] == 60
    assert result["feed_errors"] == {}
    check = result["check"]
    assert check["identical"] and check["accounts_checked_against_batch_engine"] == 60
    assert check["full_recompute_checked"] > 0
    assert set(result["cpu_seconds"]) >= {"accounting", "rating", "ingest-energy", "redis"}
    for key in ("p50_s", "p95_s", "max_s", "catchup_seconds", "max_sustainable_rate"):
        assert key in result
