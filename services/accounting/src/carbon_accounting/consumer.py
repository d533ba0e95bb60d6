"""The activity-event edge: XREADGROUP in micro-batches on carbon:events:activity (consumer group
`accounting`), each handed to the core's per-batch use case; XACK once its accounts are stored.
Crash recovery: this consumer's pending entries first, and entries of departed consumers claimed."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence

import redis
from carbon_common import events, metrics, names
from carbon_common.errors import ServiceError
from carbon_common.redis_conn import as_text, group_entries

from carbon_accounting.core import AccountingCore
from carbon_accounting.recompute import MicroBatch, entry_ms
from carbon_accounting.settings import AccountingSettings

ACTIVITY_STREAM = events.ACTIVITY.name

log = logging.getLogger(__name__)


def micro_batch(entries: Sequence[tuple[bytes, dict[bytes, bytes]]]) -> MicroBatch:
    """Stream entries decoded (carbon_common.events.ACTIVITY) and grouped by enterprise; deleted,
    malformed or invalid ones are kept to be acknowledged as they are."""
    batch = MicroBatch(size=len(entries))
    for entry_id, fields in entries:
        if not fields:  # already deleted from the stream
            batch.ignored.append(entry_id)
            continue
        try:
            event = events.ACTIVITY.decode(fields)
        except events.EventDecodeError as error:
            log.warning("ignoring malformed activity event", extra={"error": str(error)[:200]})
            batch.ignored.append(entry_id)
            continue
        if not names.is_valid_uscc(event.uscc) or not event.months or not _valid_months(event.months):
            log.warning("ignoring activity event without valid enterprise/months", extra={"id": as_text(entry_id)})
            batch.ignored.append(entry_id)
            continue
        batch.add(entry_id, event.uscc, event.months)
    return batch


def _valid_months(months: Iterable[str]) -> bool:
    """Every entry a YYYY-MM in range: an event naming anything else could never be processed."""
    try:
        return all(len(names.parse_period(month, "months")) == 7 for month in months)
    except ServiceError:
        return False


def read_batch(
    client: redis.Redis, settings: AccountingSettings, cursor: str, stopping: threading.Event
) -> list[tuple[bytes, dict[bytes, bytes]]]:
    """Up to events_batch_max entries. Pending ones (cursor != ">") are read without waiting;
    new ones: block for the first, then keep reading for events_batch_ms after it."""
    group, consumer, limit = settings.consumer_group, settings.consumer_name, settings.events_batch_max
    if cursor != ">":
        reply = client.xreadgroup(group, consumer, {ACTIVITY_STREAM: cursor}, count=limit)
        return [(entry_id, fields or {}) for entry_id, fields in group_entries(reply)]
    batch: list[tuple[bytes, dict[bytes, bytes]]] = []
    deadline: float | None = None
    while len(batch) < limit and not stopping.is_set():
        if deadline is None:
            block = settings.events_block_ms
        else:
            remaining_ms = int((deadline - time.monotonic()) * 1000)
            if remaining_ms <= 0:
                break
            block = remaining_ms
        reply = client.xreadgroup(group, consumer, {ACTIVITY_STREAM: ">"}, count=limit - len(batch), block=block)
        entries = [(entry_id, fields or {}) for entry_id, fields in group_entries(reply)]
        if not entries:
            break
        batch.extend(entries)
        if deadline is None:
            deadline = time.monotonic() + settings.events_batch_ms / 1000
    return batch


def claim_orphans(client: redis.Redis, settings: AccountingSettings) -> int:
    """XAUTOCLAIM the group's entries pending longer than claim_idle_ms at any consumer (one that
    died and whose name never comes back: a Deployment's new pod has a new name) into this
    consumer; they are then processed as its own pending entries. The idle bound is above the
    lease, so a live consumer's entries are not taken while it works on them (its pending walk
    re-reads deferred ones, which resets their idle time). Returns how many were claimed."""
    claimed, start = 0, "0-0"
    while True:
        reply = client.xautoclaim(
            ACTIVITY_STREAM,
            settings.consumer_group,
            settings.consumer_name,
            settings.effective_claim_idle_ms(),
            start_id=start,
            count=settings.events_batch_max,
        )  # [next cursor, claimed entries, deleted ids] (with JUSTID redis-py drops the cursor)
        start = as_text(reply[0])
        claimed += len(reply[1])
        if start == "0-0":
            break
    if claimed:
        log.info("claimed entries of departed consumers", extra={"entries": claimed})
    return claimed


def consume_events(core: AccountingCore, client: redis.Redis, stopping: threading.Event) -> None:
    """XREADGROUP loop in micro-batches: this consumer's pending entries first (crash recovery),
    then new ones; XACK after the touched accounts are stored (core.process_batch)."""
    settings = core.settings
    group = settings.consumer_group
    revisit: float | None = None  # when to walk the pending entries again (deferred ones)
    cursor = "0"  # "0"...: walking this consumer's pending entries; ">": new entries
    next_claim = 0.0  # when to look for entries orphaned by departed consumers
    while not stopping.is_set():
        try:
            events.ACTIVITY.ensure_group(client, group)
            while not stopping.is_set():
                if cursor == ">" and revisit is not None and time.monotonic() >= revisit:
                    cursor, revisit = "0", None
                if cursor == ">" and time.monotonic() >= next_claim:
                    next_claim = time.monotonic() + settings.claim_interval_ms / 1000
                    if claim_orphans(client, settings):
                        cursor = "0"  # now this consumer's own pending entries: walk them
                entries = read_batch(client, settings, cursor, stopping)
                if not entries:
                    cursor = ">"  # pending walked (or nothing new within the block time)
                    continue
                batch = micro_batch(entries)
                metrics.micro_batch(batch.size, consumer="accounting")
                result = core.process_batch(batch)
                if result.done:
                    client.xack(ACTIVITY_STREAM, group, *result.done)
                    for entry_id in result.done:  # emit -> processed lag, from the stream entry id
                        metrics.ingestion_lag(metrics.lag_from(entry_ms(entry_id) / 1000.0), source="accounting")
                log.info(
                    "micro-batch processed",
                    extra={
                        "events": batch.size,
                        "enterprises": len(result.recomputed),
                        "accounts": sum(len(p) for p in result.recomputed.values()),
                        "acknowledged": len(result.done),
                        "deferred": len(result.deferred),
                    },
                )
                if result.failed:
                    cursor = "0"
                    stopping.wait(1.0)
                else:
                    if result.deferred:  # leased by another replica: walk the pending entries again soon
                        revisit = time.monotonic() + 0.1
                    if cursor != ">":
                        cursor = as_text(entries[-1][0])
        except redis.RedisError as error:
            log.warning("redis error in event loop", extra={"error": str(error)})
            cursor = "0"
            stopping.wait(1.0)
        except Exception:
            log.exception("event loop error")
            cursor = "0"
            stopping.wait(1.0)
