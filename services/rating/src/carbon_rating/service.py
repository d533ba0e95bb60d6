"""gRPC RatingService: the I/O edge around the pure engine."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import grpc
import redis
from carbon.v1 import accounting_pb2, accounting_pb2_grpc, consent_pb2, rating_pb2, rating_pb2_grpc
from carbon_common import events, metrics
from carbon_common.bank_auth import BankAuthenticator
from carbon_common.consent_gate import ConsentGate
from carbon_common.errors import (
    ServiceError,
    failed_precondition,
    from_rpc_error,
    invalid_argument,
    not_found,
    quote,
    unauthenticated,
    unavailable,
)
from carbon_common.identity import ServiceVerifier, bearer_token, metadata_value, service_caller
from carbon_common.names import parse_child, parse_period

from carbon_rating import engine
from carbon_rating.model import Row
from carbon_rating.population import POPULATION_KEY, PopulationCache, list_accounts, row_from_account, upsert
from carbon_rating.registry import SchemeRegistry

log = logging.getLogger(__name__)
RATINGS_PREFIX = "carbon:rating:ratings:"
CACHE_PREFIX = "carbon:rating:cache:"
HISTORY_LIMIT = 1000
# Annual periods looked up in the population hash: the last YEARS_LOOKED_UP years up to next year
# (older periods asked for explicitly are fetched from accounting).
YEARS_LOOKED_UP = 12


def cache_key(uscc: str, scheme: Any, period: str, rows: Mapping[str, Row], population_epoch: int) -> str:
    """Everything a rating depends on: the enterprise, the scheme version (id, version, document
    digest), the rated period, every annual row of the enterprise (its account digest, or the whole
    row when it has none; history feeds the decline metrics) and the population epoch the benchmark
    tables and the national index were built from. Any change gives another key."""
    material = [
        uscc,
        scheme.scheme_id,
        scheme.version,
        scheme.digest,
        period,
        population_epoch,
        sorted((p, r.account_digest or r.to_json()) for p, r in rows.items()),
    ]
    return hashlib.sha256(json.dumps(material, separators=(",", ":")).encode()).hexdigest()


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

    def put(self, key: str, message: rating_pb2.Rating, now: float) -> tuple[rating_pb2.Rating, bool]:
        """Store unless another replica stored this key first; returns (the rating to serve, stored?)."""
        try:
            stored = self.redis.set(CACHE_PREFIX + key, message.SerializeToString(), nx=True, ex=self.ttl)
            if not stored:
                raw = self.redis.get(CACHE_PREFIX + key)
                if raw is not None:
                    message = rating_pb2.Rating.FromString(raw)
        except redis.RedisError:
            log.warning("rating cache write failed", exc_info=True)
            return message, True
        self._remember(key, message, now + self.ttl)
        return message, bool(stored)

    def _remember(self, key: str, message: rating_pb2.Rating, expires: float) -> None:
        with self._lock:
            self._memory[key] = (expires, message)
            self._memory.move_to_end(key)
            while len(self._memory) > self.size:
                self._memory.popitem(last=False)


def _micro(value: int | None) -> Decimal | None:
    return None if value is None else Decimal(value).scaleb(-6)


def _proto_decimal(message: Any) -> Decimal | None:
    return Decimal(message.value) if message.value else None


def rating_changed(message: rating_pb2.Rating, row: Row) -> events.RatingChanged:
    """The published form of a stored rating: everything a pricing policy reads (the account's
    quality and reduction come from the population row it was rated on)."""
    return events.RatingChanged.create(
        rating=message.name,
        enterprise=message.name.rsplit("/ratings/", 1)[0],
        grade=message.grade,
        score=_proto_decimal(message.score) if message.HasField("score") else None,
        scheme=message.scheme_id,
        scheme_version=message.scheme_version,
        account=message.account,
        account_period=message.period,
        input_digest=message.input_digest,
        factor_set_version=message.factor_set_version or row.factor_set_version,
        quality_score=_proto_decimal(message.quality_score)
        if message.HasField("quality_score")
        else _micro(row.quality),
        reduction_tco2=_micro(row.reduction_tco2),
        rate_time=message.rate_time.ToDatetime(tzinfo=UTC),
        account_digest=row.account_digest,
    )


def ratings_key(uscc: str, scheme_id: str) -> str:
    return f"{RATINGS_PREFIX}{uscc}:{scheme_id}"


class RatingServicer(rating_pb2_grpc.RatingServiceServicer):
    def __init__(
        self,
        client: redis.Redis,
        registry: SchemeRegistry,
        population: PopulationCache,
        accounting: accounting_pb2_grpc.AccountingServiceStub,
        secret: str,
        consent_channel: grpc.Channel | None = None,
        plugins: Mapping[str, Any] | None = None,
        cache_ttl_seconds: int = 7 * 86400,
        clock: Any = None,
    ) -> None:
        self.redis = client
        self.cache = RatingCache(client, cache_ttl_seconds)
        self._clock = clock or (lambda: datetime.now(UTC))
        self.registry = registry
        self.population = population
        self.accounting = accounting
        self.services = ServiceVerifier("rating", secret, client)
        self.plugins = plugins or {}
        self.gate = ConsentGate(consent_channel) if consent_channel is not None else None
        self.banks = BankAuthenticator(consent_channel) if consent_channel is not None else None

    # ---- access
    def _reader(self, context: grpc.ServicerContext) -> tuple[str, bool]:
        """(principal, is a bank): platform services pass (they do their own bank check);
        banks need a RATING consent covering the rated period (checked once it is known).
        Called before any field is read (no field rules for anonymous callers)."""
        caller = service_caller(context, self.services)
        if caller is not None:
            return caller.principal, False
        key = bearer_token(metadata_value(context.invocation_metadata(), "authorization"))
        if not key or self.banks is None or self.gate is None:
            raise unauthenticated(
                "UNAUTHENTICATED_BANK", "present a bank API key (authorization: Bearer ck_...) or a service identity"
            )
        return self.banks.principal(key), True

    # ---- RPCs
    def GetRating(self, request: rating_pb2.GetRatingRequest, context: grpc.ServicerContext) -> rating_pb2.Rating:
        reader, is_bank = self._reader(context)
        uscc, scheme_id = parse_child(request.name, "ratings")
        if request.period:
            if len(request.period) != 4:
                raise invalid_argument("period", f"{quote(request.period)} must be a year YYYY")
            parse_period(request.period, "period")
        gate = self.gate if is_bank else None
        if gate is not None and request.period:
            gate.require_period(uscc, reader, consent_pb2.CONSENT_SCOPE_RATING, request.period)
        scheme = self.registry.active(scheme_id)  # one immutable version for this whole rating
        if scheme is None:
            raise not_found(f"schemes/{scheme_id}")
        rows = self._rows(uscc)
        if not rows or (request.period and request.period not in rows):
            # Not (yet) in the population: ask accounting, as the accounts stream would.
            rows.update(self._listed_rows(uscc))
        period = request.period or (max(rows) if rows else "")
        if gate is not None and not request.period:
            # The latest annual account is what is rated; the bank's window must cover its year.
            # With none, a check without a period decides between PERMISSION_DENIED and NOT_FOUND.
            if period:
                gate.require_period(uscc, reader, consent_pb2.CONSENT_SCOPE_RATING, period)
            else:
                gate.require(uscc, reader, consent_pb2.CONSENT_SCOPE_RATING)
        return self._rate(uscc, scheme_id, scheme, rows, period, bool(request.period))

    def _rate(
        self, uscc: str, scheme_id: str, scheme: Any, rows: dict[str, Row], period: str, requested: bool
    ) -> rating_pb2.Rating:
        """Rate the enterprise's `period` account under `scheme`; a new rating is stored and published."""
        if not period or period not in rows:
            if requested:
                try:
                    account = self.accounting.GetAccount(
                        accounting_pb2.GetAccountRequest(name=f"enterprises/{uscc}/accounts/{period}"), timeout=5
                    )
                    rows[period] = row_from_account(account)
                except grpc.RpcError as error:
                    raise from_rpc_error(error) from None
            else:
                raise not_found(f"enterprises/{uscc}/accounts", f"enterprises/{uscc} has no annual carbon account yet")
        view = self.population.view()
        key = cache_key(uscc, scheme, period, rows, view.epoch)
        now = self._clock()
        cached = self.cache.get(key, now.timestamp())
        if cached is not None:
            return cached
        result = engine.rate(scheme, rows[period], rows, view, self.plugins)
        if result.outcome.grade is None:
            raise failed_precondition(
                "RATING_INPUT_MISSING",
                result.outcome.explanation.en,
                missing=",".join(result.outcome.missing),
                account=f"enterprises/{uscc}/accounts/{period}",
            )
        message, stored = self.cache.put(key, engine.to_message(result, now), now.timestamp())
        if stored:
            # Only the rating of the latest annual account is the enterprise's current rating, the one
            # published for pricing; a rating of an earlier year asked for by period is stored, not published.
            self._store(uscc, scheme_id, message, rows[period], publish=period == max(rows))
            metrics.rating_issued(scheme=scheme_id, grade=str(result.outcome.grade))
        return message

    def rerate(self, usccs: set[str]) -> int:
        """Accounts changed (the accounts stream): re-rate every rating already stored for these
        enterprises on their latest annual account, so the new ratings are published. Returns how many
        new ratings were stored."""
        renewed = 0
        for uscc in sorted(usccs):
            prefix = ratings_key(uscc, "")
            for raw in self.redis.scan_iter(match=f"{prefix}*", count=1000):
                key = raw.decode()
                scheme_id = key[len(prefix) :]
                if not scheme_id or ":" in scheme_id:  # the history lists
                    continue
                scheme = self.registry.active(scheme_id)
                rows = self._rows(uscc)
                if scheme is None or not rows:
                    continue
                before = self.redis.get(key)
                try:
                    message = self._rate(uscc, scheme_id, scheme, rows, max(rows), False)
                except ServiceError as error:
                    log.warning(
                        "re-rating failed", extra={"enterprise": uscc, "scheme": scheme_id, "reason": error.reason}
                    )
                    continue
                renewed += int(message.SerializeToString() != before)
        return renewed

    def _rows(self, uscc: str) -> dict[str, Row]:
        """The enterprise's annual rows from the population hash (fed by the accounts stream)."""
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

    def _listed_rows(self, uscc: str) -> dict[str, Row]:
        try:
            accounts = list_accounts(self.accounting, uscc)
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None
        rows = {a.period: row_from_account(a) for a in accounts if len(a.period) == 4}
        try:
            upsert(self.redis, rows.values())
        except redis.RedisError:
            log.warning("population upsert failed", exc_info=True)
        return rows

    def _store(self, uscc: str, scheme_id: str, message: rating_pb2.Rating, row: Row, publish: bool) -> None:
        """Store the rating and, when it is the current one, publish it (carbon:events:ratings) in one
        transaction."""
        data = message.SerializeToString()
        key = ratings_key(uscc, scheme_id)
        try:
            with self.redis.pipeline(transaction=True) as pipe:
                pipe.set(key, data)
                pipe.lpush(key + ":history", data)
                pipe.ltrim(key + ":history", 0, HISTORY_LIMIT - 1)
                if publish:
                    events.publish_rating(pipe, rating_changed(message, row))
                pipe.execute()
        except redis.RedisError as error:
            raise unavailable("STORE_UNAVAILABLE", "cannot store the rating") from error

    def ListSchemes(
        self, request: rating_pb2.ListSchemesRequest, context: grpc.ServicerContext
    ) -> rating_pb2.ListSchemesResponse:
        """Public, like REST GET /v1/schemes without a credential: only the versions in force.
        Drafts and future-dated versions are read through the government REST API with a token."""
        size = request.page_size or 50
        if size < 0 or size > 1000:
            raise invalid_argument("page_size", "must be between 0 and 1000")
        try:
            offset = int(request.page_token or 0)
        except ValueError:
            raise invalid_argument("page_token", "is not a token from a previous response") from None
        items = []
        for scheme_id in sorted(self.registry.snapshot.schemes):
            active = self.registry.active_with_time(scheme_id)
            if active is None:
                continue
            version, effective = active
            scheme = rating_pb2.Scheme(
                name=f"schemes/{scheme_id}",
                display_name=f"{version.display_name.en} / {version.display_name.zh}",
                active_version=version.version,
                grades=list(version.grades),
            )
            scheme.effective_time.FromDatetime(effective)
            items.append(scheme)
        page = items[offset : offset + size]
        token = str(offset + size) if offset + size < len(items) else ""
        return rating_pb2.ListSchemesResponse(schemes=page, next_page_token=token)


def register(servicer: RatingServicer) -> Any:
    def add(server: grpc.Server) -> list[str]:
        rating_pb2_grpc.add_RatingServiceServicer_to_server(servicer, server)
        return [rating_pb2.DESCRIPTOR.services_by_name["RatingService"].full_name]

    return add


__all__ = ["RatingServicer", "ServiceError", "register"]
