"""Redis storage of ratings: the stored (current) rating per enterprise and scheme with its
history, the shared rating cache, and the enterprise's annual population rows as the rating reads
them. The population hash itself (format, bulk loading, the accounts-stream worker) is population.py.

- `carbon:rating:ratings:{uscc}:{scheme}` the current rating (serialized carbon.v1.Rating);
  `...:history` the newest HISTORY_LIMIT ratings
- `carbon:rating:cache:{key}` a computed rating by everything it depends on (core.cache_key)
- `carbon:rating:cache-index:{uscc}` the cache keys of the enterprise's ratings (for erasure)
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import redis
from carbon.v1 import accounting_pb2, rating_pb2
from carbon_common import events
from carbon_common.errors import unavailable
from carbon_common.redis_conn import as_bytes, as_text

from carbon_rating.model import Row
from carbon_rating.population import COMPUTED_KEY, EPOCH_KEY, ERASED_KEY, POPULATION_KEY, not_erased, upsert

log = logging.getLogger(__name__)
RATINGS_PREFIX = "carbon:rating:ratings:"
CACHE_PREFIX = "carbon:rating:cache:"
CACHE_INDEX_PREFIX = "carbon:rating:cache-index:"
HISTORY_LIMIT = 1000
# Annual periods looked up in the population hash: the last YEARS_LOOKED_UP years up to next year
# (older periods asked for explicitly are fetched from accounting).
YEARS_LOOKED_UP = 12


def ratings_key(uscc: str, scheme_id: str) -> str:
    return f"{RATINGS_PREFIX}{uscc}:{scheme_id}"


def cache_index_key(uscc: str) -> str:
    return f"{CACHE_INDEX_PREFIX}{uscc}"


class RatingCache:
    """Computed ratings by cache key: a per-replica LRU in front of Redis
    (`carbon:rating:cache:{key}`, SET NX with a TTL, so every replica serves the same
    rating - same rate_time - for the same inputs)."""

    def __init__(self, client: redis.Redis, ttl_seconds: int, size: int = 20_000) -> None:
        self.redis = client
        self.ttl = ttl_seconds
        self.size = size
        self._memory: OrderedDict[str, tuple[float, rating_pb2.Rating]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, now: float) -> rating_pb2.Rating | None:
        with self._lock:
            hit = self._memory.get(key)
            if hit is not None:
                if hit[0] > now:
                    self._memory.move_to_end(key)
                    return hit[1]
                del self._memory[key]
        try:
            with self.redis.pipeline(transaction=False) as pipe:
                pipe.get(CACHE_PREFIX + key)
                pipe.pttl(CACHE_PREFIX + key)
                raw, pttl = pipe.execute()
        except redis.RedisError:
            log.warning("rating cache read failed", exc_info=True)
            return None
        if raw is None:
            return None
        message = rating_pb2.Rating.FromString(raw)
        self._remember(key, message, now + (pttl / 1000 if pttl and pttl > 0 else self.ttl))
        return message

    def put(self, uscc: str, key: str, message: rating_pb2.Rating, now: float) -> tuple[rating_pb2.Rating, bool]:
        """Store unless another replica stored this key first; returns (the rating to serve, stored?).
        The key joins the enterprise's cache index, so an erasure finds it."""
        try:
            with self.redis.pipeline(transaction=True) as pipe:
                pipe.set(CACHE_PREFIX + key, message.SerializeToString(), nx=True, ex=self.ttl)
                pipe.sadd(cache_index_key(uscc), key)
                pipe.expire(cache_index_key(uscc), self.ttl)
                stored = pipe.execute()[0]
            if not stored:
                raw = self.redis.get(CACHE_PREFIX + key)
                if raw is not None:
                    message = rating_pb2.Rating.FromString(raw)
        except redis.RedisError:
            log.warning("rating cache write failed", exc_info=True)
            return message, True
        self._remember(key, message, now + self.ttl)
        return message, bool(stored)

    def forget(self, keys: Iterable[str]) -> None:
        with self._lock:
            for key in keys:
                self._memory.pop(key, None)

    def _remember(self, key: str, message: rating_pb2.Rating, expires: float) -> None:
        with self._lock:
            self._memory[key] = (expires, message)
            self._memory.move_to_end(key)
            while len(self._memory) > self.size:
                self._memory.popitem(last=False)


@dataclass(frozen=True)
class Erased:
    """What an erasure deleted (the erasure report's counts)."""

    population_rows: int
    ratings: int
    cached_ratings: int

    def report(self) -> dict[str, int]:
        return {
            "population_rows_deleted": self.population_rows,
            "ratings_deleted": self.ratings,
            "cached_ratings_deleted": self.cached_ratings,
        }


class RatingStore:
    def __init__(self, client: redis.Redis, cache_ttl_seconds: int) -> None:
        self.redis = client
        self.cache = RatingCache(client, cache_ttl_seconds)

    def rows(self, uscc: str) -> dict[str, Row]:
        """The enterprise's annual rows from the population hash (fed by the accounts stream);
        empty when Redis cannot be read (the caller falls back to accounting)."""
        last = datetime.now(UTC).year + 1
        years = [str(y) for y in range(last - YEARS_LOOKED_UP + 1, last + 1)]
        try:
            raw = self.redis.hmget(POPULATION_KEY, [f"{uscc}|{y}" for y in years])
        except redis.RedisError:
            log.warning("population read failed", exc_info=True)
            return {}
        rows: dict[str, Row] = {}
        for value in raw:
            if value is not None:
                row = Row.from_json(value)
                rows[row.period] = row
        return rows

    def upsert_rows(self, rows: Iterable[Row], computed: Sequence[int | None] | None = None) -> None:
        """Rows fetched from accounting joined into the population (best effort; `computed`:
        their accounts' compute times, so a row never replaces a later account's)."""
        try:
            upsert(self.redis, rows, computed)
        except redis.RedisError:
            log.warning("population upsert failed", exc_info=True)

    def current(self, accounts: Iterable[accounting_pb2.Account]) -> list[accounting_pb2.Account]:
        """The accounts not erased here since they were computed (population.not_erased)."""
        return not_erased(self.redis, accounts)

    def rated_schemes(self, usccs: Sequence[str], schemes: Iterable[str]) -> dict[str, list[str]]:
        """Which of `schemes` each enterprise has a stored rating under, in one round trip (an
        EXISTS per enterprise and scheme: a SCAN would walk the whole keyspace for each)."""
        candidates = sorted(set(schemes))
        if not usccs or not candidates:
            return {uscc: [] for uscc in usccs}
        with self.redis.pipeline(transaction=False) as pipe:
            for uscc in usccs:
                for scheme_id in candidates:
                    pipe.exists(ratings_key(uscc, scheme_id))
            found = iter(pipe.execute())
        return {uscc: [scheme_id for scheme_id in candidates if next(found)] for uscc in usccs}

    def stored(self, uscc: str, scheme_id: str) -> bytes | None:
        raw = self.redis.get(ratings_key(uscc, scheme_id))
        return None if raw is None else as_bytes(raw)

    def put(
        self, uscc: str, scheme_id: str, message: rating_pb2.Rating, published: events.RatingChanged | None
    ) -> None:
        """Store the rating and, when it is the current one, publish it (carbon:events:ratings) in one
        transaction."""
        data = message.SerializeToString()
        key = ratings_key(uscc, scheme_id)
        try:
            with self.redis.pipeline(transaction=True) as pipe:
                pipe.set(key, data)
                pipe.lpush(key + ":history", data)
                pipe.ltrim(key + ":history", 0, HISTORY_LIMIT - 1)
                if published is not None:
                    events.publish_rating(pipe, published)
                pipe.execute()
        except redis.RedisError as error:
            raise unavailable("STORE_UNAVAILABLE", "cannot store the rating") from error

    def erase(self, uscc: str) -> Erased:
        """Delete the enterprise's population rows, stored ratings (and their history), cached
        ratings and its entries in the latest-published-rating hash, in one transaction; the
        population epoch moves when rows went, so every replica rebuilds its benchmark tables
        without them. Accounts computed before now are ignored from now on (population.not_erased):
        accounting erases its own copy independently, maybe later."""
        fields = [field for field, _ in self.redis.hscan_iter(POPULATION_KEY, match=f"{uscc}|*", count=1000)]
        keys = list(self.redis.scan_iter(match=f"{ratings_key(uscc, '')}*", count=1000))
        cached = sorted(as_text(k) for k in self.redis.smembers(cache_index_key(uscc)))
        published = [
            name for name, _ in self.redis.hscan_iter(events.RATINGS_LATEST_KEY, match=f"enterprises/{uscc}/*")
        ]
        seconds, micros = self.redis.time()
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(ERASED_KEY, uscc, str(int(seconds) * 1000 + int(micros) // 1000))
            if fields:
                pipe.hdel(POPULATION_KEY, *fields)
                pipe.hdel(COMPUTED_KEY, *fields)
                pipe.incr(EPOCH_KEY)
            if keys:
                pipe.delete(*keys)
            if published:
                pipe.hdel(events.RATINGS_LATEST_KEY, *published)
            for key in cached:
                pipe.delete(CACHE_PREFIX + key)
            pipe.delete(cache_index_key(uscc))
            pipe.execute()
        self.cache.forget(cached)
        ratings = sum(1 for k in keys if not as_text(k).endswith(":history"))
        return Erased(len(fields), ratings, len(cached))
