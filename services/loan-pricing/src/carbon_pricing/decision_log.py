"""Append-only, hash-chained decision log of every quote, in Redis.

Entry `seq` (1, 2, ...) is the JSON object
    {"seq", "prev_hash", "time", "body", "hash"}
where `hash = sha256(canonical_json({"seq", "prev_hash", "time", "body"}))`,
`prev_hash` is the previous entry's hash (64 zeros for the first) and `body`
holds the full inputs (policy input document, rating name + input digest,
account name + input digest, consent, request) and outputs (policy output,
the stored quote). Entries live in the list `carbon:pricing:decision_log`;
the head (seq, hash) in `carbon:pricing:decision_log:head`. The quote and its
entry are written by one Lua script (see store.py), so neither exists alone.

`python -m carbon_pricing.decision_log verify [--redis-url URL]` recomputes
the chain and compares every stored quote with its entry; exit 1 on any
mismatch (tampering).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import redis
from carbon_common import metrics

log = logging.getLogger(__name__)

LOG_KEY = "carbon:pricing:decision_log"
HEAD_KEY = "carbon:pricing:decision_log:head"
GENESIS = "0" * 64
# Fields of a stored quote that are added after hashing its log entry.
POST_HASH_FIELDS = ("decision_log_hash", "decision_log_seq")


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def entry_hash(seq: int, prev_hash: str, time: str, body: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json({"seq": seq, "prev_hash": prev_hash, "time": time, "body": body})).hexdigest()


def make_entry(seq: int, prev_hash: str, time: str, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "seq": seq,
        "prev_hash": prev_hash,
        "time": time,
        "body": body,
        "hash": entry_hash(seq, prev_hash, time, body),
    }


def quote_without_chain(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in POST_HASH_FIELDS}


def read_head(client: redis.Redis) -> tuple[int, str]:
    seq, digest = client.hmget(HEAD_KEY, ["seq", "hash"])
    if seq is None:
        return 0, GENESIS
    return int(seq), digest.decode() if isinstance(digest, bytes) else str(digest)


def iter_entries(client: redis.Redis, chunk: int = 1000) -> Iterator[tuple[int, bytes]]:
    start = 0
    while True:
        rows = client.lrange(LOG_KEY, start, start + chunk - 1)
        if not rows:
            return
        for offset, raw in enumerate(rows):
            yield start + offset, raw
        start += len(rows)


def verify(client: redis.Redis, *, check_quotes: bool = True) -> dict[str, Any]:
    """Walk the chain; report the first problems found (empty list = intact)."""
    from carbon_pricing.store import quote_key_from_name  # local import: store imports this module

    problems: list[dict[str, Any]] = []
    prev = GENESIS
    count = 0
    for index, raw in iter_entries(client):
        count += 1
        expected_seq = index + 1
        try:
            entry = json.loads(raw)
            seq, prev_hash, time, body, digest = (
                entry["seq"],
                entry["prev_hash"],
                entry["time"],
                entry["body"],
                entry["hash"],
            )
        except (ValueError, KeyError, TypeError):
            problems.append({"seq": expected_seq, "problem": "ENTRY_MALFORMED"})
            prev = ""
            continue
        if seq != expected_seq:
            problems.append({"seq": expected_seq, "problem": "SEQ_MISMATCH", "found": seq})
        if prev_hash != prev:
            problems.append({"seq": expected_seq, "problem": "CHAIN_BROKEN"})
        if entry_hash(seq, prev_hash, time, body) != digest:
            problems.append({"seq": expected_seq, "problem": "HASH_MISMATCH"})
        prev = digest
        if check_quotes:
            quote = body.get("outputs", {}).get("quote") if isinstance(body, dict) else None
            name = quote.get("name") if isinstance(quote, dict) else None
            if not name:
                problems.append({"seq": expected_seq, "problem": "QUOTE_MISSING_IN_ENTRY"})
            else:
                stored_raw = client.get(quote_key_from_name(name))
                if stored_raw is None:
                    problems.append({"seq": expected_seq, "problem": "QUOTE_DELETED", "quote": name})
                else:
                    stored = json.loads(stored_raw)
                    if canonical_json(quote_without_chain(stored)) != canonical_json(quote):
                        problems.append({"seq": expected_seq, "problem": "QUOTE_ALTERED", "quote": name})
                    elif stored.get("decision_log_hash") != digest or stored.get("decision_log_seq") != seq:
                        problems.append({"seq": expected_seq, "problem": "QUOTE_LINK_ALTERED", "quote": name})
        if len(problems) >= 100:
            break
    head_seq, head_hash = read_head(client)
    if not problems and (head_seq != count or (count and head_hash != prev)):
        problems.append({"seq": head_seq, "problem": "HEAD_MISMATCH", "entries": count})
    return {"ok": not problems, "entries": count, "head_seq": head_seq, "head_hash": head_hash, "problems": problems}


def verify_worker(client: redis.Redis, interval_seconds: float) -> Callable[[threading.Event], None]:
    """A service worker: verify the whole chain every `interval_seconds` (0 = never) and count
    the result in `carbon.integrity.checks{log="decision_log"}` (the chart alerts on failures)."""

    def decision_log_verifier(stopping: threading.Event) -> None:
        while interval_seconds > 0 and not stopping.wait(interval_seconds):
            try:
                report = verify(client)
            except redis.RedisError as error:  # store down: the next round tries again
                log.warning("decision log verification skipped", extra={"error": type(error).__name__})
                continue
            metrics.integrity_checked("decision_log", ok=bool(report["ok"]))
            if not report["ok"]:
                log.error(
                    "decision log verification failed",
                    extra={"entries": report["entries"], "problems": report["problems"][:5]},
                )

    return decision_log_verifier


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m carbon_pricing.decision_log")
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("verify", help="recompute the hash chain and compare stored quotes")
    check.add_argument("--redis-url", default=None, help="default: CARBON_REDIS_URL")
    check.add_argument("--no-quotes", action="store_true", help="only the chain, not the stored quotes")
    args = parser.parse_args(argv)
    url = args.redis_url
    if url is None:
        from carbon_pricing.settings import PricingSettings

        url = PricingSettings().redis_url
    client = redis.Redis.from_url(url)
    report = verify(client, check_quotes=not args.no_quotes)
    print(json.dumps(report, ensure_ascii=False))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
