"""Account facts of every borrower, kept in pricing from the accounts stream, read in bulk per book.

Accounting announces each stored account on carbon:events:accounts (AccountStored: uscc, period,
input digest). This projection (consumer group `pricing-books`) fetches the announced account once
(GetAccount, when it changes — not when a book is computed) and keeps the few figures the
financed-emissions rule reads in a Redis hash per period:

    carbon:pricing:books:accounts:{period}   field uscc -> "total|reduction|digest|factor set"
                                             (totals in micro-tCO2e integers, reduction empty when unknown)

`ProjectedAccountFacts.frame(usccs, period)` is one HMGET for the whole book, decoded column-wise
(polars string ops, no per-account objects). Callers pass only
the enterprises whose consent decision allowed the read (core), so nothing else leaves the store.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Sequence

import polars as pl
import redis
from carbon_common import events
from carbon_common.redis_conn import as_text, group_entries

from carbon_pricing.portfolio.domain import BorrowerAccount, micro, tco2

log = logging.getLogger(__name__)

GROUP = "pricing-books"
Fetch = Callable[[str, str], BorrowerAccount | None]  # (uscc, period) -> the stored account, or None


def facts_key(period: str) -> str:
    return f"carbon:pricing:books:accounts:{period}"


def encode_facts(account: BorrowerAccount) -> str:
    reduction = "" if account.reduction_tco2 is None else str(micro(account.reduction_tco2))
    for text in (account.input_digest, account.factor_set_version):
        if "|" in text:
            raise ValueError("digest and factor set version must not contain '|'")
    return f"{micro(account.scope12_tco2)}|{reduction}|{account.input_digest}|{account.factor_set_version}"


def announced_account(event: events.AccountStored) -> BorrowerAccount | None:
    """The book facts of an announced account, from the figures the message carries."""
    return BorrowerAccount.of_figures(
        event.uscc, event.period, event.total_tco2, event.input_digest, event.factor_set_version, event.reduction_tco2
    )


class ProjectedAccountFacts:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def frame(self, usccs: Sequence[str], period: str) -> pl.DataFrame:
        """The period's account facts of these enterprises (frames.ACCOUNT_SCHEMA), one HMGET."""
        unique = list(dict.fromkeys(usccs))
        values = self.client.hmget(facts_key(period), unique) if unique else []
        raw = pl.DataFrame(
            {"uscc": unique, "raw": [None if v is None else as_text(v) for v in values]},
            schema={"uscc": pl.String, "raw": pl.String},
        ).drop_nulls("raw")
        parts = raw.select("uscc", pl.col("raw").str.split_exact("|", 3).alias("p")).unnest("p")
        return parts.select(
            "uscc",
            pl.col("field_0").cast(pl.Int64).alias("scope12_micro"),
            pl.when(pl.col("field_1") == "")
            .then(None)
            .otherwise(pl.col("field_1"))
            .cast(pl.Int64)
            .alias("reduction_micro"),
            pl.col("field_2").alias("input_digest"),
            pl.col("field_3").alias("factor_set_version"),
            pl.lit(False).alias("verified"),
        )

    def accounts(self, usccs: Sequence[str], period: str) -> dict[str, BorrowerAccount]:
        return {
            r["uscc"]: BorrowerAccount(
                r["uscc"],
                period,
                tco2(r["scope12_micro"]),
                r["input_digest"],
                r["factor_set_version"],
                None if r["reduction_micro"] is None else tco2(r["reduction_micro"]),
            )
            for r in self.frame(usccs, period).iter_rows(named=True)
        }

    def apply(self, entries: Sequence[tuple[bytes, dict[bytes, bytes]]], fetch: Fetch) -> int:
        """Fetches and stores the accounts the entries announce; returns how many were stored."""
        stored = 0
        pipe = self.client.pipeline(transaction=False)
        for _entry_id, fields in entries:
            try:
                event = events.ACCOUNTS.decode(fields)
            except events.EventDecodeError as error:
                log.warning("malformed accounts event", extra={"error": str(error)[:200]})
                continue
            # accounting's announcement carries the figures (events.AccountStored.of): no GetAccount;
            # a message of an earlier producer names the account only and is fetched as before
            account = announced_account(event) if event.carries_figures else fetch(event.uscc, event.period)
            if account is None:
                pipe.hdel(facts_key(event.period), event.uscc)
                continue
            pipe.hset(facts_key(event.period), event.uscc, encode_facts(account))
            stored += 1
        pipe.execute()
        return stored

    def worker(self, fetch: Fetch) -> Callable[[threading.Event], None]:
        consumer = f"{socket.gethostname()}-{os.getpid()}"
        stream = events.ACCOUNTS.name

        def book_accounts_worker(stopping: threading.Event) -> None:
            events.ACCOUNTS.ensure_group(self.client, GROUP)
            backlog = True  # this consumer's unacknowledged entries first (after a restart or a failure)
            while not stopping.is_set():
                try:
                    start = "0" if backlog else ">"
                    batches = self.client.xreadgroup(GROUP, consumer, {stream: start}, count=200, block=500)
                    entries = [(entry_id, fields or {}) for entry_id, fields in group_entries(batches)]
                    if backlog and not entries:
                        backlog = False
                    if entries:
                        self.apply(entries, fetch)
                        self.client.xack(stream, GROUP, *[entry_id for entry_id, _ in entries])
                except redis.RedisError:
                    log.warning("accounts stream read failed", exc_info=True)
                    backlog = True
                    stopping.wait(1)
                except Exception:  # a peer outage: the entries stay pending and are read again
                    log.warning("accounts projection step failed", exc_info=True)
                    backlog = True
                    stopping.wait(1)

        return book_accounts_worker
