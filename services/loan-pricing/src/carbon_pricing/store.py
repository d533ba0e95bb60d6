"""Quotes in Redis: records, per-bank index, idempotency keys, recent policy
inputs (for dry-runs), committed together with the decision-log entry.

Keys (all under carbon:pricing:):
  quote:{bank}:{quote_id}        JSON record of the quote (REST shape)
  quotes:{bank}                  ZSET quote_id scored by create time (ms)
  request:{bank}:{request_id}    JSON {"fingerprint", "quote_id", "token"}
  inputs                         LIST of recent {"quote","product","input","output"} (newest first)
  decision_log:banks:{bank}, ...:head  the bank's decision log, a hash chain (carbon_common.hashchain)
  decision_log, decision_log:head      the one chain of every bank's quotes before (verified, not appended)
and the quote's access decision on carbon:events:access (consent's audit consumes it).

One decision-log chain per bank: appends are compare-and-set on a chain's head, so one global chain
made every quote of every bank (and worker process) wait for the same head; per bank, banks never
contend and a bank's log is still one complete, ordered chain it can be shown.
"""

from __future__ import annotations

import base64
import builtins
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
import redis
from carbon_common import events, hashchain
from carbon_common.errors import ServiceError, invalid_argument
from carbon_common.redis_conn import members

PREFIX = "carbon:pricing:"
INPUTS_KEY = PREFIX + "inputs"
PENDING_SECONDS = 30

# The decision log: one hash chain per bank (hashchain.CHAIN_FAMILIES); `python -m carbon_common.hashchain
# verify --chain pricing:decision_log` verifies all of them and the global chain written before.
DECISION_LOG = "pricing:decision_log"
BANK_LOG_PREFIX = DECISION_LOG + ":banks:"


def decision_log_chain(bank: str) -> str:
    return BANK_LOG_PREFIX + bank


def quote_key(bank: str, quote_id: str) -> str:
    return f"{PREFIX}quote:{bank}:{quote_id}"


def quote_key_from_name(name: str) -> str:
    parts = name.split("/")
    return quote_key(parts[1], parts[3]) if len(parts) == 4 else f"{PREFIX}quote:invalid"


def index_key(bank: str) -> str:
    return f"{PREFIX}quotes:{bank}"


def request_key(bank: str, request_id: str) -> str:
    return f"{PREFIX}request:{bank}:{request_id}"


def run_results_key(run: str) -> str:
    """HASH position_id -> simulated quote of a re-pricing run banks/{bank}/repricingRuns/{run}."""
    parts = run.split("/")
    return f"{PREFIX}run:{parts[1]}:{parts[3]}:results"


def run_result_from_name(name: str) -> tuple[str, str] | None:
    """banks/{bank}/repricingRuns/{run}/positions/{position} -> (results hash key, position id)."""
    parts = name.split("/", 5)
    if len(parts) != 6 or parts[0] != "banks" or parts[2] != "repricingRuns" or parts[4] != "positions":
        return None
    return run_results_key("/".join(parts[:4])), parts[5]


def new_quote_id() -> str:
    """Time-ordered, lower-case, URL-safe: 12 hex digits of ms since epoch + 8 random."""
    return f"{int(time.time() * 1000):012x}{secrets.token_hex(4)}"


@dataclass
class Claim:
    token: str
    existing: dict[str, Any] | None = None


class QuoteStore:
    def __init__(self, client: redis.Redis, inputs_kept: int = 1000) -> None:
        self.redis = client
        self.inputs_kept = inputs_kept
        self._logs: dict[str, hashchain.ChainWriter] = {}  # bank -> its decision-log writer
        self._logs_lock = threading.Lock()

    def decision_log(self, bank: str) -> hashchain.ChainWriter:
        """The writer of the bank's decision log (one per bank per process: it caches the head)."""
        with self._logs_lock:
            writer = self._logs.get(bank)
            if writer is None:
                writer = self._logs[bank] = hashchain.ChainWriter(self.redis, decision_log_chain(bank))
            return writer

    # -- idempotency ------------------------------------------------------
    def claim(self, bank: str, request_id: str, fingerprint: str, *, wait: float = 3.0) -> Claim:
        """Reserve request_id for this body, or return the quote it already made.

        Same id with another body -> ALREADY_EXISTS (REQUEST_ID_REUSED)."""
        key = request_key(bank, request_id)
        token = secrets.token_hex(8)
        pending = json.dumps({"fingerprint": fingerprint, "quote_id": "", "token": token})
        deadline = time.monotonic() + wait
        while True:
            if self.redis.set(key, pending, nx=True, ex=PENDING_SECONDS):
                return Claim(token)
            raw = self.redis.get(key)
            if raw is None:
                continue  # expired between SET and GET
            current = json.loads(raw)
            if current["fingerprint"] != fingerprint:
                raise ServiceError(
                    grpc.StatusCode.ALREADY_EXISTS,
                    f"request_id {request_id!r} was already used with a different request body; "
                    "use a new request_id for a different quote",
                    reason="REQUEST_ID_REUSED",
                    metadata={"request_id": request_id, "existing_quote": _quote_name(bank, current["quote_id"])},
                )
            if current["quote_id"]:
                record = self.get(bank, current["quote_id"])
                if record is not None:
                    return Claim("", existing=record)
            if time.monotonic() > deadline:
                raise ServiceError(
                    grpc.StatusCode.ABORTED,
                    f"a quote with request_id {request_id!r} is still being made; retry shortly",
                    reason="REQUEST_IN_PROGRESS",
                    metadata={"request_id": request_id},
                )
            time.sleep(0.02)

    def release(self, bank: str, request_id: str, token: str) -> None:
        """Forget a claim whose quote failed, so the client may retry with the same id."""
        key = request_key(bank, request_id)
        raw = self.redis.get(key)
        if raw is not None and json.loads(raw).get("token") == token and not json.loads(raw).get("quote_id"):
            self.redis.delete(key)

    # -- commit -------------------------------------------------------------
    def commit(
        self,
        bank: str,
        request_id: str,
        token: str,
        fingerprint: str,
        record: dict[str, Any],
        build_body: Callable[[dict[str, Any]], dict[str, Any]],
        dry_run_input: dict[str, Any],
        access: events.AccessDecided | None = None,
    ) -> dict[str, Any]:
        """Append the decision-log entry, store the quote and queue its access decision for consent's
        audit (carbon:events:access) atomically; returns the record with decision_log_hash/seq set."""
        quote_id = record["name"].rsplit("/", 1)[1]
        final_request = json.dumps({"fingerprint": fingerprint, "quote_id": quote_id, "token": token})
        score = int(time.time() * 1000)
        stored: dict[str, Any] = {}

        # What does not depend on the entry is encoded once, not again when the head moved under us.
        unlinked = [
            hashchain.Write("ZADD", index_key(bank), (score, quote_id)),
            hashchain.Write("SET", request_key(bank, request_id), (final_request,)),
            hashchain.Write("LPUSH", INPUTS_KEY, (json.dumps(dry_run_input, separators=(",", ":")),)),
            hashchain.Write("LTRIM", INPUTS_KEY, (0, self.inputs_kept - 1)),
            *([access_write(access)] if access is not None else []),
        ]

        def writes(entry: hashchain.Entry) -> list[hashchain.Write]:
            stored.clear()
            stored.update(record, decision_log_hash=entry.hash, decision_log_seq=entry.seq)
            return [hashchain.Write("SET", quote_key(bank, quote_id), (hashchain.canonical_json(stored),)), *unlinked]

        try:
            self.decision_log(bank).append_with(
                "QUOTE",
                build_body(record),
                record["create_time"],
                writes,
                guards=[hashchain.Guard(request_key(bank, request_id), token)],
            )
        except hashchain.GuardFailed:
            raise ServiceError(
                grpc.StatusCode.ABORTED,
                f"request_id {request_id!r} claim expired while the quote was being made; retry",
                reason="REQUEST_CLAIM_LOST",
            ) from None
        except hashchain.ChainBusy:
            raise ServiceError(
                grpc.StatusCode.ABORTED, "decision log busy; retry", reason="DECISION_LOG_CONTENTION"
            ) from None
        return stored

    def commit_simulations(
        self,
        bank: str,
        results_key: str,
        priced: list[tuple[str, dict[str, Any], Callable[[dict[str, Any]], dict[str, Any]], events.AccessDecided]],
    ) -> list[dict[str, Any]]:
        """Append a SIMULATION decision-log entry per (position, record, body, access decision), store each
        record, linked to its entry, in the run's results hash and queue its access decision for consent's
        audit — in one atomic step. Returns the stored records."""
        if not priced:
            return []
        stored: list[dict[str, Any]] = []

        def writes(entries: list[hashchain.Entry]) -> list[hashchain.Write]:
            stored.clear()
            out = []
            for (position, record, _body, access), entry in zip(priced, entries, strict=True):
                linked = {**record, "decision_log_hash": entry.hash, "decision_log_seq": entry.seq}
                stored.append(linked)
                out.append(hashchain.Write("HSET", results_key, (position, hashchain.canonical_json(linked))))
                out.append(access_write(access))
            return out

        try:
            self.decision_log(bank).append_many_with(
                [("SIMULATION", body(record), record["create_time"]) for _position, record, body, _access in priced],
                writes,
            )
        except hashchain.ChainBusy:
            raise ServiceError(
                grpc.StatusCode.ABORTED, "decision log busy; retry", reason="DECISION_LOG_CONTENTION"
            ) from None
        return stored

    # -- reads --------------------------------------------------------------
    def get(self, bank: str, quote_id: str) -> dict[str, Any] | None:
        raw = self.redis.get(quote_key(bank, quote_id))
        return json.loads(raw) if raw is not None else None

    def list(self, bank: str, page_size: int, page_token: str) -> tuple[list[dict[str, Any]], str]:
        offset = _decode_token(page_token) if page_token else 0
        ids = members(self.redis.zrevrange(index_key(bank), offset, offset + page_size))
        more = len(ids) > page_size
        ids = ids[:page_size]
        records = []
        if ids:
            raws = self.redis.mget([quote_key(bank, i) for i in ids])
            records = [json.loads(r) for r in raws if r is not None]
        next_token = _encode_token(offset + page_size) if more else ""
        return records, next_token

    def recent_inputs(self, limit: int) -> builtins.list[dict[str, Any]]:  # `list` is a method here
        return [json.loads(r) for r in self.redis.lrange(INPUTS_KEY, 0, max(limit, 1) - 1)]


def access_write(access: events.AccessDecided) -> hashchain.Write:
    """XADD of the access decision, applied in the quote's transaction."""
    flat = [part for pair in events.ACCESS.encode(access).items() for part in pair]
    return hashchain.Write("XADD", events.ACCESS.name, ("*", *flat))


def _quote_name(bank: str, quote_id: str) -> str:
    return f"banks/{bank}/quotes/{quote_id}" if quote_id else ""


def _encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode().rstrip("=")


def _decode_token(token: str) -> int:
    try:
        padded = token + "=" * (-len(token) % 4)
        offset = int(json.loads(base64.urlsafe_b64decode(padded))["o"])
    except (ValueError, KeyError, TypeError):
        raise invalid_argument("page_token", "is not a token returned by a previous list call") from None
    if offset < 0:
        raise invalid_argument("page_token", "is not a token returned by a previous list call")
    return offset
