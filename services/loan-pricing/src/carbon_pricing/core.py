"""The pricing use cases, shared by the gRPC and REST edges.

CreateQuote: authenticate the bank (API key -> banks/{id}), stay inside its
own parent, validate, fetch the rating under the product's scheme (as the
platform: nothing reaches the bank yet), decide consent (CONSENT_SCOPE_RATING,
every time, for the period of the account the rating is computed from: the
consent's data window must cover that whole year; in the service, from the
projection of consent's state with consent's own rule, carbon_pricing.projected),
then honour the client request id (same id + same body -> the same quote; same
id + other body -> ALREADY_EXISTS), fetch the account the rating was computed
from, evaluate the product's Rego policy, and store the quote together with its
hash-chained decision-log entry and its access decision for consent's audit
(carbon:events:access), in one Redis transaction. Decisions no stored quote
carries (denials, replays, failures) go to the access stream on their own.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal

import grpc
from carbon.v1 import consent_pb2
from carbon_common import limits, metrics, names
from carbon_common.decimals import MONEY_PLACES, TCO2_PLACES, parse, quantize
from carbon_common.errors import (
    ServiceError,
    invalid_argument,
    invalid_arguments,
    not_found,
    permission_denied,
    unavailable,
)
from carbon_common.hashchain import canonical_json

from carbon_pricing.domain import (
    AccountInput,
    AccountRef,
    CreditLineOutput,
    DecisionEntry,
    LoggedInputs,
    LoggedOutputs,
    NotPriced,
    PolicyInput,
    PositionResult,
    RatingInput,
    RatingRef,
    RecentInput,
    RecordedOutput,
    RequestTerms,
)
from carbon_pricing.engine.base import PolicyEngine
from carbon_pricing.engine.errors import PolicyEngineUnavailable, PolicyEvaluationError, UnknownProduct
from carbon_pricing.lifecycle import Activated, Draft, DryRunResult, Policies, PolicyManager
from carbon_pricing.quote import CreditLineEffect, Decision, Quote, Reason, SimulatedQuote
from carbon_pricing.sources import (
    AccessDecision,
    AccountFacts,
    AccountSource,
    BankDirectory,
    ConsentChecker,
    RatingFacts,
    RatingSource,
)
from carbon_pricing.store import QuoteStore, SimulationCommit, new_quote_id, run_results_key

log = logging.getLogger(__name__)

RATING_SCOPE = consent_pb2.CONSENT_SCOPE_RATING
_REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
MAX_AMOUNT = Decimal("1000000000000")  # 10^12 CNY
MAX_TENOR_MONTHS = 600
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 50


@dataclass(frozen=True)
class QuoteInput:
    product: str
    enterprise: str  # raw, validated into uscc
    amount_cny: str
    tenor_months: int
    reference_rate_pct: str


@dataclass(frozen=True)
class ValidQuote:
    product: str
    uscc: str
    amount_cny: Decimal
    tenor_months: int
    reference_rate_pct: Decimal

    def terms(self) -> RequestTerms:
        return RequestTerms(
            amount_cny=format(self.amount_cny, "f"),
            tenor_months=self.tenor_months,
            reference_rate_pct=_plain(self.reference_rate_pct),
        )

    def fingerprint(self) -> str:
        body = {"product": self.product, "enterprise": self.uscc, **self.terms().model_dump()}
        return hashlib.sha256(canonical_json(body)).hexdigest()


@dataclass(frozen=True)
class SimulationItem:
    """One position of a book re-pricing run, quoted as a quote of this amount and tenor would be."""

    position_id: str
    uscc: str
    amount_cny: Decimal
    tenor_months: int


@dataclass(frozen=True)
class Priced:
    """An evaluated quote: its record, its decision-log entry and its input kept for dry-runs."""

    record: Quote
    entry: DecisionEntry
    recent: RecentInput


def _plain(value: Decimal) -> str:
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def _number(value: Decimal | None) -> int | float | None:
    """A JSON number for the policy (scores, quality); the policies compare numbers."""
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def _tco2_string(value: Decimal | None) -> str | None:
    if value is None:
        return None
    text = _plain(quantize(value, TCO2_PLACES))
    return "0" if text in ("-0", "") else text


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class PricingCore:
    def __init__(
        self,
        store: QuoteStore,
        policies: PolicyManager,
        banks: BankDirectory,
        consent: ConsentChecker,
        ratings: RatingSource,
        accounts: AccountSource,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.store = store
        self.policies = policies
        self.banks = banks
        self.consent = consent
        self.ratings = ratings
        self.accounts = accounts
        self._clock = clock or (lambda: datetime.now(UTC))

    # -- identity -----------------------------------------------------------
    def authenticate(self, api_key: str) -> str:
        return self.banks.authenticate(api_key)

    def _own_bank(self, api_key: str, parent: str, field: str) -> str:
        return self._same_bank(self.authenticate(api_key), parent, field)

    def _same_bank(self, bank: str, parent: str, field: str) -> str:
        requested = names.parse_bank(parent, field)
        if requested != bank:
            raise permission_denied(
                "CROSS_TENANT",
                f"banks/{bank} may only act under banks/{bank}, not {parent}",
                bank=f"banks/{bank}",
                requested=parent,
            )
        return bank

    # -- validation ---------------------------------------------------------
    def validate(self, quote: QuoteInput, request_id: str, prefix: str) -> ValidQuote:
        violations: list[tuple[str, str]] = []
        if not request_id:
            violations.append(("request_id", "is required (client request id, e.g. a UUID)"))
        elif not _REQUEST_ID.match(request_id):
            violations.append(("request_id", "must be 1-128 characters of A-Z a-z 0-9 . _ : -"))
        products = self.policies.products
        if not quote.product:
            violations.append((f"{prefix}product", "is required"))
        elif quote.product not in products:
            violations.append((f"{prefix}product", f"unknown product; known: {', '.join(sorted(products))}"))
        uscc = ""
        if not quote.enterprise:
            violations.append((f"{prefix}enterprise", "is required (enterprises/{uscc})"))
        else:
            raw = quote.enterprise if quote.enterprise.startswith("enterprises/") else f"enterprises/{quote.enterprise}"
            try:
                uscc = names.parse_enterprise(raw, f"{prefix}enterprise")
            except ServiceError as error:
                violations.extend(error.field_violations)
        amount = self._decimal(quote.amount_cny, f"{prefix}amount_cny", violations)
        if amount is not None:
            if amount <= 0 or amount > MAX_AMOUNT:
                violations.append((f"{prefix}amount_cny", f"must be > 0 and <= {MAX_AMOUNT}"))
            elif quantize(amount, MONEY_PLACES) != amount:
                violations.append((f"{prefix}amount_cny", "at most 2 decimal places (CNY fen)"))
            else:
                amount = quantize(amount, MONEY_PLACES)
        if not 1 <= quote.tenor_months <= MAX_TENOR_MONTHS:
            violations.append((f"{prefix}tenor_months", f"must be between 1 and {MAX_TENOR_MONTHS}"))
        rate = self._decimal(quote.reference_rate_pct, f"{prefix}reference_rate_pct", violations)
        if rate is not None:
            if rate <= 0 or rate >= 100:
                violations.append((f"{prefix}reference_rate_pct", "must be a percentage > 0 and < 100"))
            elif rate.as_tuple().exponent < -6:  # type: ignore[operator]  # parse_decimal takes digits only: an int exponent
                violations.append((f"{prefix}reference_rate_pct", "at most 6 decimal places"))
        if violations:
            if len(violations) == 1:
                raise invalid_argument(*violations[0])
            raise invalid_arguments(violations)
        assert amount is not None and rate is not None
        return ValidQuote(quote.product, uscc, amount, quote.tenor_months, rate)

    @staticmethod
    def _decimal(text: str, field: str, violations: list[tuple[str, str]]) -> Decimal | None:
        if not text:
            violations.append((field, "is required (decimal string)"))
            return None
        try:
            return parse(text, field)
        except ServiceError as error:
            violations.extend(error.field_violations)
            return None

    # -- use cases ----------------------------------------------------------
    def create_quote(
        self, api_key: str, parent: str, request_id: str, quote: QuoteInput, *, prefix: str = "quote."
    ) -> tuple[Quote, bool]:
        """Returns (stored quote, created?) — created is False for a replay."""
        bank = self._own_bank(api_key, parent, "parent")
        valid = self.validate(quote, request_id, prefix)
        grantee = f"banks/{bank}"
        product = self.policies.products.get(valid.product)
        rating = self.ratings.rating(valid.uscc, product.scheme_id) if product is not None else None
        access = self._require_consent(valid.uscc, grantee, rating)
        fingerprint = valid.fingerprint()
        try:
            claim = self.store.claim(bank, request_id, fingerprint)
        except BaseException:
            self.consent.record(access)
            raise
        if claim.existing is not None:
            self.consent.record(access)  # a replay: audited, no new quote carries it
            return claim.existing, False
        accesses = [access]  # every decision this attempt takes; the stored quote carries the last
        try:
            record = self._price(bank, request_id, valid, accesses, claim.token, fingerprint, rating)
        except BaseException:
            self.store.release(bank, request_id, claim.token)
            for made in accesses:  # no quote carries them (denials are recorded when taken);
                if made.allowed:  # consent dedupes by decision id if the quote did commit after all
                    self.consent.record(made)
            raise
        for superseded in accesses[:-1]:
            self.consent.record(superseded)
        return record, True

    def _require_consent(self, uscc: str, grantee: str, rating: RatingFacts | None) -> AccessDecision:
        """The bank's RATING consent must cover the period of the account the quote is priced
        on (the rating's year); with no rating, no enterprise data is read and the consent must
        hold at the instant now. A denial is audited and raised; an allowed decision is audited
        with the quote it prices (or alone if none is stored)."""
        access = self.consent.decide(uscc, grantee, RATING_SCOPE, rating.period if rating and rating.period else None)
        if not access.allowed:
            self.consent.record(access)
            raise access.denial()
        return access

    def _price(
        self,
        bank: str,
        request_id: str,
        valid: ValidQuote,
        accesses: list[AccessDecision],
        token: str,
        fingerprint: str,
        rating: RatingFacts | None,
    ) -> Quote:
        engine, products, bundle_version = self.policies.snapshot()
        product = products.get(valid.product)
        if product is None:  # bundle changed since validation
            raise invalid_argument("quote.product", "unknown product", reason="UNKNOWN_PRODUCT")
        now = self._clock()
        if rating is None or rating.scheme_id != product.scheme_id:
            # The bundle changed the product's scheme since the consent check: price on the
            # new scheme's rating, under a consent that covers its period.
            rating = self.ratings.rating(valid.uscc, product.scheme_id)
            accesses.append(self._require_consent(valid.uscc, f"banks/{bank}", rating))
        access = accesses[-1]
        priced = self._evaluate(
            engine, bundle_version, product.scheme_id, bank, request_id, valid, access, rating, now, new_quote_id()
        )
        record = priced.record
        stored = self.store.commit(
            bank, request_id, token, fingerprint, record, priced.entry, priced.recent, access.event(record.name)
        )
        metrics.quote_decided(decision=record.decision.value)
        return stored

    def _evaluate(
        self,
        engine: PolicyEngine,
        bundle_version: str,
        scheme_id: str,
        bank: str,
        request_id: str,
        valid: ValidQuote,
        access: AccessDecision,
        rating: RatingFacts | None,
        now: datetime,
        name: str,
    ) -> Priced:
        """The policy evaluation of one quote (single quotes and book re-pricing alike): the account the
        rating was computed from, the policy input, the product's Rego policy, the quote record named
        `name` (a quote id, or a full resource name) and its decision-log entry body."""
        consent = access.consent
        account: AccountFacts | None = None
        if rating is not None and rating.account:
            account = self.accounts.account(rating.account, rating.input_digest)
        policy_input = self.policy_input(valid, rating, account, now)
        try:
            output = engine.evaluate(valid.product, policy_input.to_json())
        except UnknownProduct:
            raise invalid_argument(
                "quote.product", f"{valid.product!r} is not in the active policy bundle", reason="UNKNOWN_PRODUCT"
            ) from None
        except PolicyEngineUnavailable as error:
            log.error("policy engine unavailable", extra={"error": str(error)})
            raise unavailable("POLICY_ENGINE_UNAVAILABLE", "policy engine unavailable; try again") from None
        except PolicyEvaluationError as error:
            log.error("policy evaluation failed", extra={"product": valid.product, "error": str(error)})
            raise ServiceError(
                grpc.StatusCode.INTERNAL, "policy evaluation failed", reason="POLICY_EVALUATION_FAILED"
            ) from None

        bp = int(output["rate_adjustment_bp"])
        effect = CreditLineOutput.model_validate(output["credit_line_effect"])  # engine.base.check_decision
        final_rate = valid.reference_rate_pct + Decimal(bp) / Decimal(100)
        record = Quote(
            name=name if "/" in name else f"banks/{bank}/quotes/{name}",
            product=valid.product,
            enterprise=f"enterprises/{valid.uscc}",
            amount_cny=format(valid.amount_cny, "f"),
            tenor_months=valid.tenor_months,
            reference_rate_pct=format(valid.reference_rate_pct, "f"),
            decision=Decision(output["decision"]),
            rate_adjustment_bp=bp,
            final_rate_pct=format(final_rate, "f"),
            credit_line_effect=CreditLineEffect(effect.kind),
            credit_line_change_cny=effect.amount_cny if effect.amount_cny is not None else "0.00",
            tenor_effect_months=int(output.get("tenor_effect_months", 0)),
            reasons=[
                Reason(code=str(r.get("code", "")), message=str(r.get("message", "")))
                for r in output.get("reasons", [])
            ],
            grade=rating.grade if rating else "",
            scheme_id=rating.scheme_id if rating else scheme_id,
            scheme_version=rating.scheme_version if rating else "",
            account_period=(account.period if account else (rating.period if rating else "")),
            factor_set_version=(
                account.factor_set_version
                if account and account.factor_set_version
                else (rating.factor_set_version if rating else "")
            ),
            rating_age_days=policy_input.rating.age_days if policy_input.rating else None,
            policy_bundle_version=bundle_version,
            product_version=str(output.get("product_version", "")),
            create_time=_iso(now),
            request_id=request_id,
        )

        logged = record.unchained()
        entry = DecisionEntry(
            quote=record.name,
            bank=f"banks/{bank}",
            request_id=request_id,
            consent=consent,
            consent_position=access.position,
            rating_position=rating.position if rating else "",
            access_decision=access.decision_id,
            inputs=LoggedInputs(
                policy_input=policy_input,
                rating=RatingRef(
                    name=rating.name,
                    input_digest=rating.input_digest,
                    rate_time=_iso(rating.rate_time) if rating.rate_time else None,
                )
                if rating
                else None,
                account=AccountRef(name=account.name, input_digest=account.input_digest) if account else None,
            ),
            outputs=LoggedOutputs(
                policy_output=output,
                final_rate_pct=record.final_rate_pct,
                policy_bundle_version=bundle_version,
                quote=logged,
            ),
        )
        recent = RecentInput(
            quote=record.name,
            product=valid.product,
            input=policy_input,
            output=RecordedOutput(
                decision=record.decision.value,
                rate_adjustment_bp=bp,
                credit_line_effect=effect,
                tenor_effect_months=record.tenor_effect_months,
            ),
            bundle_version=bundle_version,
        )
        return Priced(record, entry, recent)

    def simulate(
        self, bank: str, run: str, product: str, reference_rate_pct: Decimal, items: Sequence[SimulationItem]
    ) -> list[PositionResult]:
        """Book re-pricing (carbon_pricing.portfolio.repricing): each item quoted exactly as a quote of `bank`
        would be — validation, rating under the product's scheme, RATING consent for the rating's period,
        the product's policy — but recorded as a simulation: a SIMULATION decision-log entry per priced
        item, its record stored in the run's results with the entry (no quote, no idempotency claim).
        Items that cannot be quoted come back as NotPriced (position and reason)."""
        engine, products, bundle_version = self.policies.snapshot()
        chosen = products.get(product)
        if chosen is None:
            raise invalid_argument("repricing_run.product", "unknown product", reason="UNKNOWN_PRODUCT")
        now = self._clock()
        run_id = run.rsplit("/", 1)[-1]
        results: list[PositionResult] = []
        priced: list[tuple[SimulatedQuote, Priced, AccessDecision]] = []
        for item in items:
            quote = QuoteInput(
                product, item.uscc, format(item.amount_cny, "f"), item.tenor_months, _plain(reference_rate_pct)
            )
            try:
                valid = self.validate(quote, f"run-{run_id}", "")
                rating = self.ratings.rating(valid.uscc, chosen.scheme_id)
                access = self._require_consent(valid.uscc, f"banks/{bank}", rating)  # a denial is audited
            except ServiceError as error:
                if error.code == grpc.StatusCode.UNAVAILABLE:
                    raise  # a peer is down: the run fails and says so, it does not report it per position
                results.append(NotPriced(position_id=item.position_id, not_priced=error.reason or error.code.name))
                continue
            evaluated = self._evaluate(
                engine,
                bundle_version,
                chosen.scheme_id,
                bank,
                f"run-{run_id}",
                valid,
                access,
                rating,
                now,
                f"{run}/positions/{item.position_id}",
            )
            simulated = SimulatedQuote(**evaluated.record.model_dump(), run=run, position_id=item.position_id)
            # The entry logs the simulated record (with its run and position), not the plain quote.
            entry = evaluated.entry.model_copy(
                update={"outputs": evaluated.entry.outputs.model_copy(update={"quote": simulated.unchained()})}
            )
            priced.append((simulated, replace(evaluated, entry=entry), access))
        try:
            stored = self.store.commit_simulations(
                bank,
                run_results_key(run),
                [SimulationCommit(s, p.entry, a.event(s.name)) for s, p, a in priced],
            )
        except BaseException:
            for _, _, made in priced:  # audited alone: no simulation carries them
                self.consent.record(made)
            raise
        return [*results, *stored]

    @staticmethod
    def policy_input(
        valid: ValidQuote, rating: RatingFacts | None, account: AccountFacts | None, now: datetime
    ) -> PolicyInput:
        rating_doc = None
        if rating is not None:
            age = None
            if rating.rate_time is not None:
                rate_time = rating.rate_time if rating.rate_time.tzinfo else rating.rate_time.replace(tzinfo=UTC)
                age = max(0, int((now - rate_time).total_seconds() // 86400))
            rating_doc = RatingInput(
                scheme_id=rating.scheme_id,
                scheme_version=rating.scheme_version,
                grade=rating.grade,
                score=_number(rating.score),
                age_days=age,
                period=rating.period,
            )
        account_doc = None
        if account is not None:
            account_doc = AccountInput(
                period=account.period,
                quality_score=_number(account.quality_score),
                reduction_tco2=_tco2_string(account.reduction_tco2),
            )
        elif rating is not None and rating.quality_score is not None and rating.account:
            # The account could not be read but the rating carries its quality.
            account_doc = AccountInput(
                period=rating.period, quality_score=_number(rating.quality_score), reduction_tco2=None
            )
        return PolicyInput(product=valid.product, request=valid.terms(), rating=rating_doc, account=account_doc)

    # -- policy administration (the REST edge's admin routes) -----------------
    @property
    def bundle_version(self) -> str:
        """The policy bundle quotes are priced with now."""
        return self.policies.bundle_version

    def policies_in_force(self) -> Policies:
        return self.policies.in_force()

    def dry_run(self, draft: Draft, limit: int) -> DryRunResult:
        """The draft bundle against the `limit` most recent stored quote inputs."""
        recent = self.store.recent_inputs(limit)
        with self.policies.draft(draft) as bundle:
            return self.policies.dry_run(bundle, recent)

    def activate(self, draft: Draft, expected_active_version: str | None) -> Activated:
        with self.policies.draft(draft) as bundle:
            return self.policies.activate(bundle, expected_active_version)

    def get_quote(self, api_key: str, name: str) -> Quote:
        caller = self.authenticate(api_key)  # before any field is read
        parts = name.split("/")
        if len(parts) != 4 or parts[0] != "banks" or parts[2] != "quotes" or not parts[3]:
            raise invalid_argument("name", f"{limits.quote(name)} must look like banks/{{bank}}/quotes/{{quote}}")
        bank = self._same_bank(caller, f"banks/{parts[1]}", "name")
        record = self.store.get(bank, parts[3])
        if record is None:
            raise not_found(name)
        return record

    def list_quotes(self, api_key: str, parent: str, page_size: int, page_token: str) -> tuple[list[Quote], str]:
        bank = self._own_bank(api_key, parent, "parent")
        if page_size < 0:
            raise invalid_argument("page_size", "must not be negative")
        size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        return self.store.list(bank, size, page_token)
