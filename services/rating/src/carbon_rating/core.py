"""Use cases of the rating service's gRPC side: rate an enterprise's annual account under a scheme's
version in force (banks within their RATING consent's data window), re-rate on account changes
(the accounts stream), list the schemes in force, erase an enterprise. The gRPC edge (grpc_api)
and the workers call these; the rule engine is engine.py/scheme.py (pure), storage store.py and
population.py. The government side (schemes, versions, audit) is gov/."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal

import grpc
from carbon.v1 import accounting_pb2, accounting_pb2_grpc, consent_pb2, rating_pb2
from carbon_common import events, metrics
from carbon_common.consent_gate import ConsentGate
from carbon_common.errors import (
    ServiceError,
    failed_precondition,
    from_rpc_error,
    invalid_argument,
    not_found,
    quote,
)
from carbon_common.identity import Reader
from carbon_common.names import parse_child, parse_period
from google.protobuf.message import Message

from carbon_rating import engine
from carbon_rating import scheme as sc
from carbon_rating.model import Row
from carbon_rating.plugins import SchemePlugin
from carbon_rating.population import PopulationCache, list_accounts, row_from_account
from carbon_rating.registry import SchemeRegistry
from carbon_rating.store import RatingStore

log = logging.getLogger(__name__)
MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE = 1000, 50


def cache_key(uscc: str, scheme: sc.SchemeVersion, period: str, rows: Mapping[str, Row], population_epoch: int) -> str:
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


def _micro(value: int | None) -> Decimal | None:
    return None if value is None else Decimal(value).scaleb(-6)


def _proto_decimal(message: Message) -> Decimal | None:
    value = getattr(message, "value", "")
    return Decimal(value) if value else None


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


class RatingCore:
    def __init__(
        self,
        store: RatingStore,
        registry: SchemeRegistry,
        population: PopulationCache,
        accounting: accounting_pb2_grpc.AccountingServiceStub,
        gate: ConsentGate | None = None,
        plugins: Mapping[str, SchemePlugin] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.store = store
        self.registry = registry
        self.population = population
        self.accounting = accounting
        self.gate = gate
        self.plugins = plugins or {}
        self._clock = clock or (lambda: datetime.now(UTC))

    # ---- GetRating -----------------------------------------------------------------------

    def get_rating(self, reader: Reader, name: str, requested_period: str) -> rating_pb2.Rating:
        """The enterprise's rating under the scheme's version in force: of `requested_period`, or of
        its latest annual account. A bank needs a RATING consent covering the rated year."""
        uscc, scheme_id = parse_child(name, "ratings")
        if requested_period:
            if len(requested_period) != 4:
                raise invalid_argument("period", f"{quote(requested_period)} must be a year YYYY")
            parse_period(requested_period, "period")
        gate = self.gate if reader.is_bank else None
        if gate is not None and requested_period:
            gate.require_period(uscc, reader.principal, consent_pb2.CONSENT_SCOPE_RATING, requested_period)
        scheme = self.registry.active(scheme_id)  # one immutable version for this whole rating
        if scheme is None:
            raise not_found(f"schemes/{scheme_id}")
        rows = self.store.rows(uscc)
        if not rows or (requested_period and requested_period not in rows):
            # Not (yet) in the population: ask accounting, as the accounts stream would.
            rows.update(self._listed_rows(uscc))
        period = requested_period or (max(rows) if rows else "")
        if gate is not None and not requested_period:
            # The latest annual account is what is rated; the bank's window must cover its year.
            # With none, a check without a period decides between PERMISSION_DENIED and NOT_FOUND.
            if period:
                gate.require_period(uscc, reader.principal, consent_pb2.CONSENT_SCOPE_RATING, period)
            else:
                gate.require(uscc, reader.principal, consent_pb2.CONSENT_SCOPE_RATING)
        return self._rate(uscc, scheme_id, scheme, rows, period, bool(requested_period))

    def _rate(
        self, uscc: str, scheme_id: str, scheme: sc.SchemeVersion, rows: dict[str, Row], period: str, requested: bool
    ) -> rating_pb2.Rating:
        """Rate the enterprise's `period` account under `scheme`; a new rating is stored and published."""
        if not period or period not in rows:
            if requested:
                name = f"enterprises/{uscc}/accounts/{period}"
                try:
                    account = self.accounting.GetAccount(accounting_pb2.GetAccountRequest(name=name), timeout=5)
                except grpc.RpcError as error:
                    raise from_rpc_error(error) from None
                if not self.store.current([account]):
                    raise not_found(name)  # erased here; accounting has not deleted its copy yet
                rows[period] = row_from_account(account)
            else:
                raise not_found(f"enterprises/{uscc}/accounts", f"enterprises/{uscc} has no annual carbon account yet")
        view = self.population.view()
        key = cache_key(uscc, scheme, period, rows, view.epoch)
        now = self._clock()
        cached = self.store.cache.get(key, now.timestamp())
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
        message, stored = self.store.cache.put(uscc, key, engine.to_message(result, now), now.timestamp())
        if stored:
            # Only the rating of the latest annual account is the enterprise's current rating, the one
            # published for pricing; a rating of an earlier year asked for by period is stored, not published.
            published = rating_changed(message, rows[period]) if period == max(rows) else None
            self.store.put(uscc, scheme_id, message, published)
            metrics.rating_issued(scheme=scheme_id, grade=str(result.outcome.grade))
        return message

    def _listed_rows(self, uscc: str) -> dict[str, Row]:
        try:
            accounts = list_accounts(self.accounting, uscc)
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None
        annual = [a for a in self.store.current(accounts) if len(a.period) == 4]
        rows = {a.period: row_from_account(a) for a in annual}
        self.store.upsert_rows(rows.values(), [a.compute_time.ToMilliseconds() for a in annual])
        return rows

    # ---- accounts changed ----------------------------------------------------------------

    def rerate(self, usccs: set[str]) -> int:
        """Accounts changed (the accounts stream): re-rate every rating already stored for these
        enterprises on their latest annual account, so the new ratings are published. Returns how many
        new ratings were stored."""
        renewed = 0
        # a rating under a scheme this replica does not know (yet) could not be renewed here anyway
        rated = self.store.rated_schemes(sorted(usccs), self.registry.snapshot.schemes)
        for uscc, scheme_ids in rated.items():
            for scheme_id in scheme_ids:
                scheme = self.registry.active(scheme_id)
                rows = self.store.rows(uscc)
                if scheme is None or not rows:
                    continue
                before = self.store.stored(uscc, scheme_id)
                try:
                    message = self._rate(uscc, scheme_id, scheme, rows, max(rows), False)
                except ServiceError as error:
                    log.warning(
                        "re-rating failed", extra={"enterprise": uscc, "scheme": scheme_id, "reason": error.reason}
                    )
                    continue
                renewed += int(message.SerializeToString() != before)
        return renewed

    # ---- ListSchemes ---------------------------------------------------------------------

    def list_schemes(self, page_size: int, page_token: str) -> rating_pb2.ListSchemesResponse:
        """Public, like REST GET /v1/schemes without a credential: only the versions in force.
        Drafts and future-dated versions are read through the government REST API with a token."""
        size = page_size or DEFAULT_PAGE_SIZE
        if size < 0 or size > MAX_PAGE_SIZE:
            raise invalid_argument("page_size", f"must be between 0 and {MAX_PAGE_SIZE}")
        try:
            offset = int(page_token or 0)
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

    # ---- erasure -------------------------------------------------------------------------

    def erase(self, uscc: str) -> dict[str, int]:
        """The enterprise's population rows, stored and cached ratings deleted (the erasure
        consumer's use case); the counts are the erasure report."""
        return self.store.erase(uscc).report()
