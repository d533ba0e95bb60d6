"""Append throughput of the one hash-chain module (carbon_common.hashchain) on a real redis-server.

Three append paths, each with --threads threads appending --entries entries in total:
  group      ChainWriter.append (Lua compare-and-set; concurrent entries share a round trip) - consent CheckAccess
  with       ChainWriter.append_with (one entry + the caller's writes, guarded) - the quote commit
  multi      ChainWriter.transact (WATCH/MULTI with the caller's reads and writes) - consent changes
Prints one JSON object on the last line: entries/s, µs per entry, Redis commands per entry (those inside Lua
included), chain verified.

    .venv/bin/python bench/bench_hashchain.py [--threads 8] [--entries 20000]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
from carbon_common import hashchain
from carbon_devkit.ports import free_port
from carbon_devkit.redis_server import start

BODY = {"caller": "services/loan-pricing", "enterprise": "enterprises/91330000MA2XXXXX1A", "allowed": True}


def _calls(client: redis.Redis) -> int:
    stats: Any = client.info("commandstats")
    return sum(int(v["calls"]) for k, v in stats.items() if k not in ("cmdstat_info", "cmdstat_config"))


def _run(client: redis.Redis, chain: str, threads: int, total: int, path: str) -> dict[str, Any]:
    writer = hashchain.ChainWriter(client, chain)
    now = datetime.now(UTC)
    per_thread = total // threads

    def group() -> None:
        for _ in range(per_thread):
            writer.append("ACCESS_CHECKED", BODY, now)

    def with_writes() -> None:
        for i in range(per_thread):
            writer.append_with(
                "QUOTE",
                BODY,
                now,
                lambda e, i=i: [hashchain.Write("SET", f"bench:{threading.get_ident()}:{i}", (e.hash,))],
            )

    def multi() -> None:
        for i in range(per_thread):
            key = f"bench:{threading.get_ident()}:{i}"
            writer.transact([key], lambda pipe, key=key: (None, lambda p: p.set(key, "x"), [("CHANGE", BODY)]), now)

    target = {"group": group, "with": with_writes, "multi": multi}[path]
    before = _calls(client)
    started = time.perf_counter()
    workers = [threading.Thread(target=target) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - started
    calls = _calls(client) - before
    appended = per_thread * threads
    verified = time.perf_counter()
    report = hashchain.verify(client, chain)
    verify_seconds = time.perf_counter() - verified
    return {
        "entries": appended,
        "entries_per_s": round(appended / elapsed),
        "us_per_entry": round(elapsed * 1e6 / appended, 1),
        "redis_commands_per_entry": round(calls / appended, 3),
        "chain_ok": report.ok and report.entries == appended,
        "verify_entries_per_s": round(appended / verify_seconds),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--entries", type=int, default=20000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data:
        port = free_port()
        server = start(Path(data), port)
        try:
            client = redis.Redis.from_url(f"redis://127.0.0.1:{port}/0")
            results = {}
            for path in ("group", "with", "multi"):
                results[path] = _run(client, f"bench:{path}", args.threads, args.entries, path)
                print(path, json.dumps(results[path]), file=sys.stderr, flush=True)
        finally:
            server.terminate()
            server.wait(10)
    print(
        json.dumps(
            {
                "benchmark": "hashchain_append",
                "threads": args.threads,
                "paths": results,
                "host": {"python": platform.python_version()},
            }
        )
    )
    return 0 if all(r["chain_ok"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
