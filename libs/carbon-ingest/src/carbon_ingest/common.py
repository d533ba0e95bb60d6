"""Pieces both ingestion services share: drain switch, request ids, Redis
errors as UNAVAILABLE, activity events (the erasure worker, shared with accounting and rating,
is carbon_common.erasure).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import redis
from carbon_common.erasure import ERASURE_STREAM as ERASURE_STREAM
from carbon_common.erasure import erasure_worker as erasure_worker
from carbon_common.erasure import handle_erasure as handle_erasure
from carbon_common.errors import invalid_argument, unavailable

log = logging.getLogger(__name__)

DRAIN_KEY = "carbon:ingest:drain"

_REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


def validate_request_id(value: str, field: str = "request_id") -> str:
    if not value:
        raise invalid_argument(field, "is required (idempotency key, AIP-155)")
    if not _REQUEST_ID.match(value):
        raise invalid_argument(field, "must be 1-128 characters of A-Z, a-z, 0-9, '.', '_', ':' or '-'")
    return value


@contextmanager
def redis_errors() -> Iterator[None]:
    """A Redis outage is UNAVAILABLE (the client retries), never INTERNAL."""
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError) as error:
        raise unavailable("STORAGE_UNAVAILABLE", f"hot-state store unavailable: {type(error).__name__}") from None
    except redis.ResponseError as error:
        if "LOADING" in str(error) or "MISCONF" in str(error):
            raise unavailable("STORAGE_UNAVAILABLE", "hot-state store is loading") from None
        raise


def concurrent_attempt() -> Exception:
    return unavailable("CONCURRENT_ATTEMPT", "another attempt of the same batch is being stored; retry")


@contextmanager
def fenced(client: redis.Redis, intents: list[str]) -> Iterator[redis.client.Pipeline]:
    """A MULTI (call `.multi()` on the yielded pipeline, queue, `.execute()`) that runs only if
    none of the batches' intent keys changed since entering (WATCH). Another attempt of the same
    batch (a client retry reaching another replica) records its files in the intent and its
    commit deletes it, so a change means that attempt may delete or supersede this one's files:
    this one stops with UNAVAILABLE and the client's retry gets the stored result (a replay).
    Reads meant to be checked under the fence go through another connection, after entering."""
    with redis_errors(), client.pipeline(transaction=True) as pipe:
        pipe.watch(*intents)  # type: ignore[no-untyped-call]  # redis-py leaves watch() unannotated
        try:
            yield pipe
        except redis.WatchError:
            raise concurrent_attempt() from None


def require_not_drained(client: redis.Redis) -> None:
    with redis_errors():
        value = client.get(DRAIN_KEY)
    if value is not None and value.strip() in (b"1", b"true"):
        raise unavailable("INGESTION_DRAINED", "ingestion is drained for maintenance; retry later")


class KeyedLocks:
    """One lock per key (enterprise or meter): serialises read-modify-write of hot state."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            yield


class SeqClock:
    """Ingest sequence numbers: strictly increasing microsecond stamps.

    Time based, so they keep increasing across restarts even if Redis lost its
    last second of writes; corrections (higher seq) therefore always win.
    """

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            self._last = max(self._last + 1, time.time_ns() // 1000)
            return self._last


def compaction_worker(
    compact: Callable[[], int], interval_seconds: float, name: str
) -> Callable[[threading.Event], None]:
    def run(stopping: threading.Event) -> None:
        while not stopping.wait(interval_seconds):
            try:
                compact()
            except Exception:
                log.exception("compaction failed")

    run.__name__ = name
    return run


def one_off_worker(
    task: Callable[[], object], name: str, retry_seconds: float = 1.0
) -> Callable[[threading.Event], None]:
    """Run `task` once in the background, retrying after any error until it succeeds or the service stops."""

    def run(stopping: threading.Event) -> None:
        while not stopping.is_set():
            try:
                task()
                return
            except Exception as error:  # e.g. Redis not reachable yet: no traceback every second
                log.warning("%s failed (%s); retrying", name, type(error).__name__)
                stopping.wait(retry_seconds)

    run.__name__ = name
    return run
