"""gRPC RatingService: the I/O edge around the pure engine."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import grpc
import redis
from carbon.v1 import accounting_pb2, accounting_pb2_grpc, consent_pb2, consent_pb2_grpc, rating_pb2, rating_pb2_grpc
from carbon_common.consent_gate import ConsentGate
from carbon_common.errors import (
    ServiceError,
    failed_precondition,
    from_rpc_error,
    invalid_argument,
    not_found,
    unauthenticated,
    unavailable,
)
from carbon_common.identity import bearer_token, metadata_value, service_caller
from carbon_common.names import PERIOD_RE, parse_child

from carbon_rating import engine
from carbon_rating.population import PopulationCache, list_accounts, row_from_account, upsert
from carbon_rating.registry import SchemeRegistry

log = logging.getLogger(__name__)
RATINGS_PREFIX = "carbon:rating:ratings:"
HISTORY_LIMIT = 1000


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
    ) -> None:
        self.redis = client
        self.registry = registry
        self.population = population
        self.accounting = accounting
        self.secret = secret
        self.plugins = plugins or {}
        self.gate = ConsentGate(consent_channel) if consent_channel is not None else None
        self.consent = consent_pb2_grpc.ConsentServiceStub(consent_channel) if consent_channel is not None else None

    # ---- access
    def _authorise(self, context: grpc.ServicerContext, uscc: str) -> str:
        """Platform services pass (they do their own bank check); banks need a RATING consent."""
        caller = service_caller(context, self.secret)
        if caller is not None:
            return caller.principal
        key = bearer_token(metadata_value(context.invocation_metadata(), "authorization"))
        if not key or self.consent is None or self.gate is None:
            raise unauthenticated(
                "UNAUTHENTICATED_BANK", "present a bank API key (authorization: Bearer ck_...) or a service identity"
            )
        try:
            bank = self.consent.AuthenticateBank(consent_pb2.AuthenticateBankRequest(api_key=key), timeout=2)
        except grpc.RpcError as error:
            if error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise unavailable(
                    "CONSENT_SERVICE_UNAVAILABLE", "consent service unavailable; access refused"
                ) from None
            raise unauthenticated("UNAUTHENTICATED_BANK", "unknown or revoked bank API key") from None
        self.gate.require(uscc, bank.name, consent_pb2.CONSENT_SCOPE_RATING)
        return str(bank.name)

    # ---- RPCs
    def GetRating(self, request: rating_pb2.GetRatingRequest, context: grpc.ServicerContext) -> rating_pb2.Rating:
        uscc, scheme_id = parse_child(request.name, "ratings")
        if request.period and (not PERIOD_RE.match(request.period) or len(request.period) != 4):
            raise invalid_argument("period", f"{request.period!r} must be a year YYYY")
        self._authorise(context, uscc)
        scheme = self.registry.active(scheme_id)  # one immutable version for this whole rating
        if scheme is None:
            raise not_found(f"schemes/{scheme_id}")
        try:
            accounts = list_accounts(self.accounting, uscc)
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None
        rows = {a.period: row_from_account(a) for a in accounts if len(a.period) == 4}
        period = request.period or (max(rows) if rows else "")
        if not period or period not in rows:
            if request.period:
                try:
                    account = self.accounting.GetAccount(
                        accounting_pb2.GetAccountRequest(name=f"enterprises/{uscc}/accounts/{period}"), timeout=5
                    )
                    rows[period] = row_from_account(account)
                except grpc.RpcError as error:
                    raise from_rpc_error(error) from None
            else:
                raise not_found(f"enterprises/{uscc}/accounts", f"enterprises/{uscc} has no annual carbon account yet")
        try:
            upsert(self.redis, rows.values())
        except redis.RedisError:
            log.warning("population upsert failed", exc_info=True)
        result = engine.rate(scheme, rows[period], rows, self.population.view(), self.plugins)
        if result.outcome.grade is None:
            raise failed_precondition(
                "RATING_INPUT_MISSING",
                result.outcome.explanation.en,
                missing=",".join(result.outcome.missing),
                account=f"enterprises/{uscc}/accounts/{period}",
            )
        message = engine.to_message(result)
        self._store(uscc, scheme_id, message)
        return message

    def _store(self, uscc: str, scheme_id: str, message: rating_pb2.Rating) -> None:
        data = message.SerializeToString()
        key = ratings_key(uscc, scheme_id)
        try:
            with self.redis.pipeline(transaction=True) as pipe:
                pipe.set(key, data)
                pipe.lpush(key + ":history", data)
                pipe.ltrim(key + ":history", 0, HISTORY_LIMIT - 1)
                pipe.execute()
        except redis.RedisError as error:
            raise unavailable("STORE_UNAVAILABLE", "cannot store the rating") from error

    def ListSchemes(
        self, request: rating_pb2.ListSchemesRequest, context: grpc.ServicerContext
    ) -> rating_pb2.ListSchemesResponse:
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
