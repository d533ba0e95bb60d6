"""The decision log: every quote, in its bank's hash chain "pricing:decision_log:banks:{bank}" (format,
appends and verification: carbon_common.hashchain; store.py appends it with the quote). Quotes logged
before one chain per bank stay in the global chain "pricing:decision_log", verified with the rest.

An entry's body holds the full inputs (policy input document, rating name + input digest, account name
+ input digest, consent, request) and outputs (policy output, the stored quote). Beyond the chain itself,
`check_entry` compares every stored quote with the entry that logged it, so altering or deleting a
quote is found too:

    python -m carbon_common.hashchain verify --chain pricing:decision_log [--chain-only]   # every chain
    python -m carbon_common.hashchain verify --chain pricing:decision_log:banks:{bank}     # one bank's
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

import redis
from carbon_common import hashchain, metrics

from carbon_pricing.quote import CHAIN_FIELDS
from carbon_pricing.store import DECISION_LOG, quote_key_from_name, run_result_from_name

log = logging.getLogger(__name__)

# Fields of a stored quote that are added after hashing its log entry.
POST_HASH_FIELDS = CHAIN_FIELDS


def quote_without_chain(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in POST_HASH_FIELDS}


def check_entry(client: redis.Redis, entry: hashchain.Entry) -> list[hashchain.Problem]:
    """The stored quote an entry logged is still there, unaltered, and links back to the entry (a
    SIMULATION entry's record: in its re-pricing run's results)."""
    seq = entry.seq
    outputs = entry.body.get("outputs")
    quote = outputs.get("quote") if isinstance(outputs, dict) else None
    name = quote.get("name") if isinstance(quote, dict) else None
    if not isinstance(quote, dict) or not name:
        return [hashchain.Problem(seq, "QUOTE_MISSING_IN_ENTRY", f"seq {seq}: the entry names no quote")]
    if entry.kind == "SIMULATION":
        where = run_result_from_name(str(name))
        stored_raw = client.hget(*where) if where is not None else None
    else:
        stored_raw = client.get(quote_key_from_name(str(name)))
    if stored_raw is None:
        return [hashchain.Problem(seq, "QUOTE_DELETED", f"seq {seq}: quote {name} is gone")]
    stored = json.loads(stored_raw)
    if hashchain.canonical_json(quote_without_chain(stored)) != hashchain.canonical_json(quote):
        return [hashchain.Problem(seq, "QUOTE_ALTERED", f"seq {seq}: quote {name} differs from its entry")]
    if stored.get("decision_log_hash") != entry.hash or stored.get("decision_log_seq") != seq:
        return [hashchain.Problem(seq, "QUOTE_LINK_ALTERED", f"seq {seq}: quote {name} links to another entry")]
    return []


def chains(client: redis.Redis) -> list[str]:
    """Every decision-log chain in Redis: the global one of earlier quotes, then one per bank."""
    return hashchain.chains_of(client, DECISION_LOG)


def verify(client: redis.Redis, *, check_quotes: bool = True) -> hashchain.Report:
    """Every chain of the decision log, as one report (entries summed; each problem names its chain)."""
    combined = hashchain.Report(DECISION_LOG)
    for chain in chains(client):
        report = hashchain.verify(client, chain, check=check_entry if check_quotes else None)
        combined.entries += report.entries
        combined.problems += [hashchain.Problem(p.seq, p.problem, f"{chain}: {p.detail}") for p in report.problems]
    return combined


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
            metrics.integrity_checked("decision_log", ok=report.ok)
            if not report.ok:
                log.error(
                    "decision log verification failed",
                    extra={"entries": report.entries, "problems": [p.to_dict() for p in report.problems[:5]]},
                )

    return decision_log_verifier
