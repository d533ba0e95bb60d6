"""`python -m carbon_accounting.shard`: one shard of a national batch recompute.

A recompute of every enterprise's accounts for some periods is split into N shards by a stable
hash of the enterprise's USCC (SHA-256, not Python's per-process `hash`): shard I computes and
stores the accounts of the enterprises whose hash mod N == I, reading raw data from
CARBON_DATA_DIR (an s3://bucket/prefix root on a cluster) and storing through the same
Accountant as the service (same Redis, same events, unchanged input digests kept). Shards are
independent processes: a Kubernetes Indexed Job runs one per completion index
(JOB_COMPLETION_INDEX); the union of the shards is exactly the work of one process.

Enterprises are those with raw data (readings or invoices) in the periods' months. Settings are
the accounting service's (CARBON_* variables). The last line printed is one JSON object:
shard, shards, periods, enterprises, accounts, unknown (no registered enterprise), total_tco2.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
from collections.abc import Iterable, Sequence
from decimal import Decimal

import polars as pl
from carbon_common import names, redis_conn
from carbon_common.channels import service_channel
from carbon_common.errors import ServiceError
from carbon_ingest import rawdata

from carbon_accounting.compute import period_months
from carbon_accounting.recompute import Accountant
from carbon_accounting.settings import AccountingSettings
from carbon_accounting.store import AccountStore

log = logging.getLogger(__name__)


def shard_of(uscc: str, shards: int) -> int:
    """The shard of an enterprise: stable across processes, machines and Python versions."""
    return int.from_bytes(hashlib.sha256(uscc.encode()).digest()[:8], "big") % shards


def enterprises_with_data(root: rawdata.Root, months: Iterable[str]) -> list[str]:
    """USCCs with readings or invoices in any of the months (read from the partitions)."""
    frames = []
    for month in sorted(set(months)):
        for kind in rawdata.KINDS:
            scan = rawdata.scan_month(root, kind, month, ["uscc"])
            if scan is not None:
                frames.append(scan.unique())
    if not frames:
        return []
    return sorted(pl.concat(frames).unique().collect()["uscc"].to_list())


def run_shard(
    accountant: Accountant, root: rawdata.Root, periods: Sequence[str], shards: int, index: int
) -> dict[str, object]:
    if not 0 <= index < shards:
        raise ValueError(f"shard index {index} is outside 0..{shards - 1}")
    months = [m for period in periods for m in period_months(period)]
    mine = [u for u in enterprises_with_data(root, months) if shard_of(u, shards) == index]
    accounts, unknown, total = 0, 0, Decimal(0)
    for uscc in mine:
        try:
            ent = accountant.enterprise(uscc)
        except ServiceError as error:
            if error.http_status != 404:
                raise
            unknown += 1  # raw data of an enterprise the registry does not know: nothing to account
            log.warning("shard %d/%d: enterprise %s is not registered; skipped", index, shards, uscc)
            continue
        for period in periods:
            account = accountant.compute(uscc, period, ent)
            accounts += 1
            total += Decimal(account.total_tco2.value or "0")
    return {
        "shard": index,
        "shards": shards,
        "periods": list(periods),
        "enterprises": len(mine) - unknown,
        "accounts": accounts,
        "unknown": unknown,
        "total_tco2": str(total),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m carbon_accounting.shard", description=__doc__.split("\n")[0])
    parser.add_argument("--shards", type=int, default=int(os.environ.get("CARBON_RECOMPUTE_SHARDS", "1")))
    parser.add_argument(
        "--index",
        type=int,
        default=int(os.environ.get("JOB_COMPLETION_INDEX", "0")),
        help="this shard (default: JOB_COMPLETION_INDEX, set by a Kubernetes Indexed Job)",
    )
    parser.add_argument(
        "--period",
        action="append",
        default=[],
        help="YYYY or YYYY-MM (repeatable; default: CARBON_RECOMPUTE_PERIODS, comma-separated)",
    )
    args = parser.parse_args(argv)
    periods = args.period or [p for p in os.environ.get("CARBON_RECOMPUTE_PERIODS", "").split(",") if p]
    if args.shards < 1 or not periods:
        parser.error("need --shards >= 1 and at least one --period")
    for period in periods:
        names.parse_period(period, "period")
    settings = AccountingSettings()
    logging.basicConfig(level=settings.log_level, stream=sys.stderr)
    rawdata.check_root(settings.data_dir)
    consent = service_channel(settings.consent_target, settings.service_name, settings.effective_service_secret())
    try:
        accountant = Accountant(settings, AccountStore(redis_conn.connect(settings.redis_url)), consent)
        root = rawdata.Committed(settings.data_dir, accountant.store.redis)  # committed objects only
        summary = run_shard(accountant, root, periods, args.shards, args.index)
    finally:
        consent.close()
    print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
