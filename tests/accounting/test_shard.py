"""Sharded recompute: N shard processes (`python -m carbon_accounting.shard`) reading raw data from
SeaweedFS store exactly the accounts one process stores — same enterprises, same input digests,
same totals — and every enterprise is computed by exactly one shard."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
import redis
from carbon.v1 import accounting_pb2, consent_pb2
from carbon_accounting.shard import shard_of
from carbon_accounting.store import account_key
from carbon_devkit.s3 import RAW_BUCKET, S3Server
from carbon_devkit.seed import grant_platform
from carbon_devkit.stack import start_stack

from tests.accounting.parquet_data import full_meter, invoice, write_invoices, write_readings
from tests.ingest.helpers import make_uscc

pytestmark = pytest.mark.e2e

MONTH = "2024-01"
ENTERPRISES = [make_uscc(700 + i) for i in range(7)]
UNREGISTERED = make_uscc(799)  # raw data but no enterprise in the registry: counted, never accounted


def run_shards(env: dict[str, str], shards: int) -> list[dict]:
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "carbon_accounting.shard", f"--shards={shards}", f"--period={MONTH}"],
            env={**env, "JOB_COMPLETION_INDEX": str(index)},  # the index as an Indexed Job passes it
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for index in range(shards)
    ]
    summaries = []
    for process in processes:
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err.decode()[-3000:]
        summaries.append(json.loads(out.decode().strip().splitlines()[-1]))
    return summaries


def stored(url: str) -> dict[str, tuple[str, str]]:
    client = redis.Redis.from_url(url)
    accounts = {}
    for uscc in [*ENTERPRISES, UNREGISTERED]:
        raw = client.get(account_key(f"enterprises/{uscc}/accounts/{MONTH}"))
        if raw is not None:
            account = accounting_pb2.Account.FromString(raw)
            accounts[uscc] = (account.total_tco2.value, account.input_digest)
    return accounts


def test_shards_together_store_exactly_what_one_process_stores(
    tmp_path: Path, s3_env: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = Path(f"s3://{RAW_BUCKET}/{uuid.uuid4().hex}")
    for i, uscc in enumerate([*ENTERPRISES, UNREGISTERED]):
        write_readings(root, MONTH, full_meter(uscc, "m1", MONTH, 100 + 37 * i), name=f"{uscc}-r")
        write_invoices(
            root,
            MONTH,
            [invoice(uscc, f"P{i}", "purchase", "electricity", f"{1000 * (i + 1)}", "kWh", "600.00", "78.00")],
            name=f"{uscc}-i",
        )
    stack = start_stack(tmp_path, ["consent"], env={"CARBON_LOG_LEVEL": "WARNING"})
    try:
        for uscc in ENTERPRISES:
            grant_platform(stack.consent.target, uscc, [consent_pb2.CONSENT_SCOPE_ENERGY_METERING])
        base = stack.redis_url.rsplit("/", 1)[0]
        env = {
            **os.environ,
            **stack.env(),
            **s3_env.environ(),
            "CARBON_DATA_DIR": f"s3://{RAW_BUCKET}/{root.name}",
            "CARBON_LOG_LEVEL": "WARNING",
        }
        (single,) = run_shards({**env, "CARBON_REDIS_URL": f"{base}/1"}, 1)
        sharded = run_shards({**env, "CARBON_REDIS_URL": f"{base}/2"}, 3)
        one, many = stored(f"{base}/1"), stored(f"{base}/2")
    finally:
        stack.stop()

    assert single["enterprises"] == len(ENTERPRISES) and single["unknown"] == 1
    assert sum(s["enterprises"] for s in sharded) == len(ENTERPRISES)
    assert sum(s["unknown"] for s in sharded) == 1
    assert sum(Decimal(s["total_tco2"]) for s in sharded) == Decimal(single["total_tco2"]) > 0
    for summary in sharded:  # each shard computed only its own enterprises
        assert summary["enterprises"] == sum(1 for u in ENTERPRISES if shard_of(u, 3) == summary["shard"]), summary
    assert len({shard_of(u, 3) for u in ENTERPRISES}) > 1  # the data really spreads over shards
    assert set(one) == set(ENTERPRISES)
    assert many == one  # same accounts: totals and input digests
