"""Append-only, hash-chained audit log in Redis.

Entries live in the list `carbon:consent:audit` (index i holds seq i+1); the
key `carbon:consent:audit:head` holds "{seq}:{hash}" of the last entry. Each
entry is canonical JSON of {seq, time, event, payload, prev_hash, hash} where
hash = sha256(canonical JSON of every other field, prev_hash included).

Appends are compare-and-set on the head: either a Lua script (one round trip,
for CheckAccess decisions) or WATCH/MULTI together with the consent write it
records, so concurrent writers (threads or replicas) can never fork the chain
and a consent change is never stored without its audit entry.

    python -m carbon_consent.audit verify --redis-url redis://...

exits 0 when the chain is intact, 1 naming the first bad seq otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis
from carbon_common import metrics

LIST_KEY = "carbon:consent:audit"
HEAD_KEY = "carbon:consent:audit:head"
GENESIS = "0" * 64

# ARGV: expected head, new head, entry 1 .. entry n (a group commit appends them in order).
_APPEND_LUA = """
local head = redis.call('GET', KEYS[2])
if not head then head = '' end
if head ~= ARGV[1] then return {0, head} end
redis.call('RPUSH', KEYS[1], unpack(ARGV, 3))
redis.call('SET', KEYS[2], ARGV[2])
return {1, ARGV[2]}
"""
MAX_GROUP = 256


class _Pending:
    __slots__ = ("entry", "error", "event", "payload", "time")

    def __init__(self, event: str, payload: Mapping[str, Any], time: datetime) -> None:
        self.event = event
        self.payload = payload
        self.time = time
        self.entry: dict[str, Any] | None = None
        self.error: BaseException | None = None


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(entry: Mapping[str, Any]) -> str:
    body = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256(canonical(body)).hexdigest()


def make_entry(seq: int, prev_hash: str, time: datetime, event: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "seq": seq,
        "time": time.isoformat(timespec="microseconds"),
        "event": event,
        "payload": dict(payload),
        "prev_hash": prev_hash,
    }
    entry["hash"] = entry_hash(entry)
    return entry


def parse_head(raw: bytes | str | None) -> tuple[int, str]:
    if not raw:
        return 0, GENESIS
    text = raw.decode() if isinstance(raw, bytes) else raw
    seq, _, digest = text.partition(":")
    return int(seq), digest


def format_head(seq: int, digest: str) -> str:
    return f"{seq}:{digest}" if seq else ""


class AuditLog:
    """Writer side. One instance per process; appends are serialised per process."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.lock = threading.RLock()
        self._append = client.register_script(_APPEND_LUA)
        self._head: tuple[int, str] | None = None
        self._queue: list[_Pending] = []
        self._queue_lock = threading.Lock()

    def append(self, event: str, payload: Mapping[str, Any], time: datetime) -> dict[str, Any]:
        """Append one entry; returns once it is stored in Redis.

        Group commit: concurrent callers queue their entry; whoever holds the writer lock
        appends every queued entry in one compare-and-set round trip (retried on a
        concurrent append by another process), so under load many decisions share one
        Redis write and nobody returns before their own entry is stored."""
        item = _Pending(event, payload, time)
        with self._queue_lock:
            self._queue.append(item)
        while item.entry is None and item.error is None:
            with self.lock:
                if item.entry is None and item.error is None:
                    with self._queue_lock:
                        batch, self._queue = self._queue[:MAX_GROUP], self._queue[MAX_GROUP:]
                    try:
                        self._commit(batch)
                    except BaseException:
                        if item.error is None:  # our entry was not in that batch: withdraw it, fail too
                            with self._queue_lock:
                                if item in self._queue:
                                    self._queue.remove(item)
                            raise
        if item.error is not None:
            raise item.error
        assert item.entry is not None
        return item.entry

    def _commit(self, batch: list[_Pending]) -> None:
        """With self.lock held: append `batch` after the head, in order."""
        try:
            head = self._head if self._head is not None else parse_head(self.client.get(HEAD_KEY))
            for _ in range(1000):
                seq, prev = head
                entries = []
                for item in batch:
                    entry = make_entry(seq + 1, prev, item.time, item.event, item.payload)
                    entries.append(entry)
                    seq, prev = entry["seq"], entry["hash"]
                new_head = format_head(seq, prev)
                ok, current = self._append(
                    keys=[LIST_KEY, HEAD_KEY],
                    args=[format_head(*head), new_head, *(canonical(e) for e in entries)],
                )
                if ok == 1:
                    self._head = (seq, prev)
                    for item, entry in zip(batch, entries, strict=True):
                        item.entry = entry
                    metrics.audit_lag(metrics.lag_from(min(item.time for item in batch)), log="consent")
                    return
                head = parse_head(current)
            raise RuntimeError("audit log: could not append after 1000 attempts")
        except BaseException as error:
            self._head = None
            for item in batch:
                item.error = error
            raise

    def read_head(self, pipe: Any) -> tuple[int, str]:
        """In a WATCHing pipeline (immediate mode): the current head."""
        return parse_head(pipe.get(HEAD_KEY))

    def queue(
        self, pipe: Any, head: tuple[int, str], event: str, payload: Mapping[str, Any], time: datetime
    ) -> tuple[int, str]:
        """In a MULTI pipeline: queue an append after `head` (WATCH HEAD_KEY first); returns the new head."""
        seq, prev = head
        entry = make_entry(seq + 1, prev, time, event, payload)
        pipe.rpush(LIST_KEY, canonical(entry))
        pipe.set(HEAD_KEY, format_head(seq + 1, entry["hash"]))
        return seq + 1, entry["hash"]

    def committed(self, head: tuple[int, str]) -> None:
        self._head = head

    def forget_head(self) -> None:
        self._head = None


# ---------------------------------------------------------------- verification


@dataclass
class VerifyResult:
    ok: bool
    entries: int
    first_bad_seq: int | None = None
    problem: str = ""


def iter_entries(client: redis.Redis, batch: int = 1000) -> Iterator[bytes]:
    start = 0
    while True:
        chunk = client.lrange(LIST_KEY, start, start + batch - 1)
        if not chunk:
            return
        yield from chunk
        start += len(chunk)


def verify(client: redis.Redis) -> VerifyResult:
    """Walk the chain; the first entry that is altered, missing or out of place fails it."""
    prev = GENESIS
    expected = 1
    count = 0
    for raw in iter_entries(client):
        count += 1
        try:
            entry = json.loads(raw)
            seq = entry["seq"]
            claimed = entry["hash"]
            prev_hash = entry["prev_hash"]
        except (ValueError, KeyError, TypeError):
            return VerifyResult(False, count, expected, f"seq {expected}: entry is not a valid audit record")
        if seq != expected:
            if isinstance(seq, int) and seq > expected:
                problem = f"seq {expected}: missing (found seq {seq} in its place)"
            else:
                problem = f"seq {expected}: out of order (found seq {seq} in its place)"
            return VerifyResult(False, count, expected, problem)
        if entry_hash(entry) != claimed:
            return VerifyResult(False, count, seq, f"seq {seq}: content does not match its hash (altered)")
        if prev_hash != prev:
            return VerifyResult(False, count, seq, f"seq {seq}: prev_hash does not match the hash of seq {seq - 1}")
        prev = claimed
        expected += 1
    head_seq, head_hash = parse_head(client.get(HEAD_KEY))
    last = expected - 1
    if head_seq != last:
        if head_seq > last:
            return VerifyResult(False, count, last + 1, f"seq {last + 1}: missing (head says {head_seq} entries)")
        return VerifyResult(False, count, head_seq + 1, f"seq {head_seq + 1}: not covered by the head")
    if last and head_hash != prev:
        return VerifyResult(False, count, last, f"seq {last}: does not match the head hash")
    return VerifyResult(True, count)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m carbon_consent.audit", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("verify", help="verify the hash chain; exit 1 naming the first bad seq")
    check.add_argument("--redis-url", default=None, help="default: $CARBON_REDIS_URL or redis://127.0.0.1:6390/0")
    show = sub.add_parser("tail", help="print the last N entries")
    show.add_argument("--redis-url", default=None)
    show.add_argument("-n", type=int, default=20)
    args = parser.parse_args(argv)
    import os

    url = args.redis_url or os.environ.get("CARBON_REDIS_URL", "redis://127.0.0.1:6390/0")
    client = redis.Redis.from_url(url)
    if args.command == "tail":
        for raw in client.lrange(LIST_KEY, -args.n, -1):
            print(raw.decode())
        return 0
    result = verify(client)
    if result.ok:
        print(f"OK: {result.entries} entries, chain intact")
        return 0
    print(f"BROKEN at seq {result.first_bad_seq}: {result.problem}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
