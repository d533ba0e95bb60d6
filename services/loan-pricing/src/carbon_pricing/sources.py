"""What pricing asks its peers: who the bank is, whether it may look, the
rating and the account. Protocols with gRPC implementations; the core only
sees the protocols.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

import grpc
from carbon.v1 import accounting_pb2, accounting_pb2_grpc, rating_pb2, rating_pb2_grpc
from carbon_common.errors import ServiceError, from_rpc_error, unavailable
from carbon_consent.projected import AccessDecision as AccessDecision  # the record of a decision, shared with ingestion

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RatingFacts:
    name: str
    scheme_id: str
    scheme_version: str
    grade: str
    score: Decimal | None
    period: str
    account: str
    rate_time: datetime | None
    input_digest: str
    factor_set_version: str = ""
    quality_score: Decimal | None = None
    position: str = ""  # the ratings-stream entry id the projection had applied ("": not projected)


@dataclass(frozen=True)
class AccountFacts:
    name: str
    period: str
    quality_score: Decimal | None
    reduction_tco2: Decimal | None
    input_digest: str
    factor_set_version: str = ""


class BankDirectory(Protocol):
    def authenticate(self, api_key: str) -> str:
        """API key -> bank id; raises UNAUTHENTICATED (UNAUTHENTICATED_BANK)."""


class ConsentChecker(Protocol):
    def decide(self, uscc: str, grantee: str, scope: int, period: str | None) -> AccessDecision:
        """May the grantee read `scope` data of the account period `period` ("YYYY" / "YYYY-MM"; None:
        no data period, the instant now)? Raises UNAVAILABLE when it cannot tell (fail closed)."""

    def record(self, decision: AccessDecision) -> None:
        """Have consent audit a decision that no stored quote carries (denials, replays, failures)."""


class RatingSource(Protocol):
    def rating(self, uscc: str, scheme_id: str) -> RatingFacts | None:
        """The current rating, or None when the enterprise has none under the scheme."""


class AccountSource(Protocol):
    def account(self, name: str, digest_hint: str = "") -> AccountFacts | None:
        """The account by name, or None when it does not exist."""


def _decimal(message: object) -> Decimal | None:
    value = getattr(message, "value", "")
    if not value:
        return None
    try:
        return Decimal(value)
    except ArithmeticError:
        return None


_MISSING = (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION)
_TRANSIENT = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


def _peer_error(error: grpc.RpcError, peer: str) -> ServiceError:
    if error.code() in _TRANSIENT:
        return unavailable(f"{peer.upper()}_SERVICE_UNAVAILABLE", f"{peer} service unavailable; try again")
    converted = from_rpc_error(error)
    if converted.code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN):
        log.error("peer internal error", extra={"peer": peer, "detail": converted.message})
    return converted


class GrpcRatingSource:
    def __init__(self, channel: grpc.Channel, timeout: float = 2.0) -> None:
        self._stub = rating_pb2_grpc.RatingServiceStub(channel)
        self._timeout = timeout

    def rating(self, uscc: str, scheme_id: str) -> RatingFacts | None:
        name = f"enterprises/{uscc}/ratings/{scheme_id}"
        try:
            rating: rating_pb2.Rating = self._stub.GetRating(
                rating_pb2.GetRatingRequest(name=name), timeout=self._timeout
            )
        except grpc.RpcError as error:
            if error.code() in _MISSING:
                return None
            raise _peer_error(error, "rating") from None
        return RatingFacts(
            name=rating.name or name,
            scheme_id=rating.scheme_id or scheme_id,
            scheme_version=rating.scheme_version,
            grade=rating.grade,
            score=_decimal(rating.score) if rating.HasField("score") else None,
            period=rating.period,
            account=rating.account,
            rate_time=rating.rate_time.ToDatetime() if rating.HasField("rate_time") else None,
            input_digest=rating.input_digest,
            factor_set_version=rating.factor_set_version,
            quality_score=_decimal(rating.quality_score) if rating.HasField("quality_score") else None,
        )


class GrpcAccountSource:
    """AccountingService.GetAccount. An account with the same input digest is the
    same account, so answers are kept by (name, digest hint) — the rating's
    input_digest covers the account digest — in a small LRU."""

    def __init__(self, channel: grpc.Channel, timeout: float = 2.0, cache_size: int = 4096) -> None:
        self._stub = accounting_pb2_grpc.AccountingServiceStub(channel)
        self._timeout = timeout
        self._cache: OrderedDict[tuple[str, str], AccountFacts] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def account(self, name: str, digest_hint: str = "") -> AccountFacts | None:
        key = (name, digest_hint)
        if digest_hint:
            with self._lock:
                hit = self._cache.get(key)
                if hit is not None:
                    self._cache.move_to_end(key)
                    return hit
        try:
            account: accounting_pb2.Account = self._stub.GetAccount(
                accounting_pb2.GetAccountRequest(name=name), timeout=self._timeout
            )
        except grpc.RpcError as error:
            if error.code() in _MISSING:
                return None
            raise _peer_error(error, "accounting") from None
        facts = AccountFacts(
            name=account.name or name,
            period=account.period,
            quality_score=_decimal(account.quality.score) if account.HasField("quality") else None,
            reduction_tco2=_decimal(account.reduction_tco2) if account.HasField("reduction_tco2") else None,
            input_digest=account.input_digest,
            factor_set_version=account.factor_set_version,
        )
        if digest_hint:
            with self._lock:
                self._cache[key] = facts
                if len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return facts
