"""A running platform (consent, ingest-tax, accounting, rating, loan-pricing as
processes on a real Redis) seeded with one enterprise's real carbon accounts, and
the bank-facing read paths over REST and gRPC, each reporting ALLOWED or the
ErrorInfo reason of its PERMISSION_DENIED.

The expected answer of every read is stated directly by `carbon_consent.domain.allowed_by`
(state, expiry, scope, and the whole data period inside the data window), over every
consent the bank holds for the enterprise.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import httpx
from carbon.v1 import (
    accounting_pb2,
    accounting_pb2_grpc,
    consent_pb2,
    pricing_pb2,
    pricing_pb2_grpc,
    rating_pb2,
    rating_pb2_grpc,
)
from carbon_common.consent_gate import period_span
from carbon_consent import domain
from carbon_consent.domain import Scope, State
from carbon_consent.projection import MAX_STALENESS_SECONDS
from carbon_devkit.checkout import copy_policy_bundle
from carbon_devkit.seed import ConsentClient, Seeder, consent_request
from carbon_devkit.stack import Stack, start_pricing_stack
from google.rpc import error_details_pb2
from google.type import decimal_pb2
from grpc_status import rpc_status

from tests.pricing.support import uscc
from tests.support import fresh

BANK = "authz-bank"
OTHER_BANK = "authz-other-bank"
ENTERPRISE = uscc(4242)
UNKNOWN_ENTERPRISE = uscc(4343)  # valid USCC, never registered
SCHEME = "quzhou-four-colour"
PRODUCT = "quzhou_tanrongyi"  # priced on SCHEME's rating
STORED_PERIODS = ("2023", "2023-06", "2024", "2024-06")
LATEST_YEAR = "2024"
ALLOWED = "ALLOWED"
PEERS = ("consent", "ingest-tax", "accounting", "rating")


def error_reason(status: rpc_status.status_pb2.Status | None) -> str:
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info.reason
    return ""


def rest_reason(response: httpx.Response) -> str:
    details = response.json().get("error", {}).get("details", [])
    return next((d.get("reason", "") for d in details if d.get("@type", "").endswith("ErrorInfo")), "")


@dataclass(frozen=True)
class Outcome:
    """ALLOWED, or DENIED with the ErrorInfo reason; anything else fails the test where it happens."""

    allowed: bool
    reason: str = ""
    detail: str = ""


class UnexpectedAnswer(AssertionError):
    pass


def grpc_outcome(call: Callable[[], object]) -> tuple[Outcome, object | None]:
    try:
        return Outcome(True), call()
    except grpc.RpcError as error:
        if error.code() != grpc.StatusCode.PERMISSION_DENIED:  # type: ignore[attr-defined]
            raise UnexpectedAnswer(f"{error.code()}: {error.details()}") from None  # type: ignore[attr-defined]
        reason = error_reason(rpc_status.from_call(error))  # type: ignore[arg-type]
        if not reason:
            raise UnexpectedAnswer(f"PERMISSION_DENIED without ErrorInfo: {error.details()}") from None  # type: ignore[attr-defined]
        return Outcome(False, reason, error.details() or ""), None  # type: ignore[attr-defined]


def rest_outcome(response: httpx.Response) -> Outcome:
    if response.status_code == 200:
        return Outcome(True)
    if response.status_code != 403:
        raise UnexpectedAnswer(f"HTTP {response.status_code}: {response.text[:300]}")
    reason = rest_reason(response)
    if not reason:
        raise UnexpectedAnswer(f"403 without ErrorInfo: {response.text[:300]}")
    return Outcome(False, reason)


@dataclass
class Grant:
    """One consent the bank asked for, as the test itself knows it."""

    name: str
    scopes: frozenset[Scope]
    data_start: datetime
    data_end: datetime
    expire_time: datetime
    state: State

    def as_domain(self) -> domain.Consent:
        return domain.Consent(
            id=self.name.rsplit("/", 1)[1],
            enterprise=ENTERPRISE,
            grantee=f"banks/{BANK}",
            scopes=tuple(sorted(self.scopes)),
            purpose=domain.Purpose.CREDIT_ASSESSMENT,
            data_start=self.data_start,
            data_end=self.data_end,
            expire_time=self.expire_time,
            state=self.state,
            create_time=self.expire_time,
            update_time=self.expire_time,
        )


PROJECTION_BOUND = MAX_STALENESS_SECONDS  # seconds


@dataclass
class World:
    stack: Stack
    consent: ConsentClient
    keys: dict[str, str]
    grants: list[Grant] = field(default_factory=list)
    # Pricing decides from its projection of consent's events: a change is effective there within
    # PROJECTION_BOUND seconds (or quotes are refused as stale) - the documented guarantee, so quotes
    # are read once that bound has passed since the last consent change.
    consent_changed: float = 0.0

    # ---------------------------------------------------------------- the rule

    def expected(self, scope: Scope, start: datetime, end: datetime, bank: str = BANK) -> bool:
        """allowed <=> some consent of the bank allows the whole period (domain.allowed_by)."""
        now = datetime.now(UTC)
        return any(
            domain.allowed_by(
                g.as_domain(),
                enterprise=ENTERPRISE,
                grantee=f"banks/{bank}",
                scope=scope,
                data_start=start,
                data_end=end,
                now=now,
            )
            for g in self.grants
        )

    def expected_period(self, scope: Scope, period: str, bank: str = BANK) -> bool:
        start, end = period_span(period)
        return self.expected(scope, start, end, bank)

    # ---------------------------------------------------------------- consents

    def grant(
        self, scopes: frozenset[Scope], start: datetime, end: datetime, state: State, validity: timedelta
    ) -> Grant:
        """The bank requests (gRPC, its own key); the admin acts for the enterprise to reach `state`."""
        expire = datetime.now(UTC) + validity
        request = consent_request(
            ENTERPRISE,
            f"banks/{BANK}",
            [int(s) for s in sorted(scopes)],
            consent_pb2.CONSENT_PURPOSE_CREDIT_ASSESSMENT,
            window=(start, end),
            expire_time=expire,
        )
        created = self.consent.consents.CreateConsent(
            request,
            metadata=self.bank_metadata(BANK),
            timeout=10,
        )
        self.consent_changed = time.monotonic()
        grant = Grant(created.name, scopes, start, end, expire, State.REQUESTED)
        self.grants.append(grant)
        if state in (State.AUTHORIZED, State.REVOKED):
            self._admin("AuthorizeConsent", created.name)
            grant.state = State.AUTHORIZED
        if state == State.REVOKED:
            self._admin("RevokeConsent", created.name)
            grant.state = State.REVOKED
        return grant

    def close(self, grant: Grant) -> None:
        """End a consent so it cannot allow anything in later examples."""
        if grant.state == State.AUTHORIZED:
            self._admin("RevokeConsent", grant.name)
            grant.state = State.REVOKED
        elif grant.state == State.REQUESTED:
            self._admin("RejectConsent", grant.name)
            grant.state = State.REJECTED

    def _admin(self, method: str, name: str) -> None:
        request_type = getattr(consent_pb2, f"{method}Request")
        rpc = getattr(self.consent.consents, method)
        rpc(request_type(name=name, reason="authz test"), metadata=self.consent.admin, timeout=10)
        self.consent_changed = time.monotonic()

    def _after_projection_bound(self) -> None:
        remaining = self.consent_changed + PROJECTION_BOUND - time.monotonic()
        if remaining > 0:
            time.sleep(remaining)

    def bank_metadata(self, bank: str) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.keys[bank]}"),)

    def bank_headers(self, bank: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.keys[bank]}"}

    # ---------------------------------------------------------------- read paths

    def _channel(self, name: str) -> grpc.Channel:
        return self.stack.processes[name].channel()

    def grpc_check_access(self, scope: Scope, start: datetime, end: datetime, bank: str = BANK) -> Outcome:
        request = consent_pb2.CheckAccessRequest(
            enterprise=f"enterprises/{ENTERPRISE}", grantee=f"banks/{bank}", scope=int(scope)
        )
        request.data_period.start_time.FromDatetime(start)
        request.data_period.end_time.FromDatetime(end)
        response = self.consent.consents.CheckAccess(request, metadata=self.bank_metadata(bank), timeout=10)
        return Outcome(response.allowed, response.reason, response.consent)

    def rest_check_access(self, scope: Scope, start: datetime, end: datetime, bank: str = BANK) -> Outcome:
        response = httpx.post(
            f"{self.stack.processes['consent'].http_base}/v1/consents:checkAccess",
            headers=self.bank_headers(bank),
            json={
                "enterprise": f"enterprises/{ENTERPRISE}",
                "grantee": f"banks/{bank}",
                "scope": scope.name,
                "dataPeriod": {"startTime": start.isoformat(), "endTime": end.isoformat()},
            },
            timeout=10,
        )
        if response.status_code != 200:
            raise UnexpectedAnswer(f"checkAccess HTTP {response.status_code}: {response.text[:300]}")
        body = response.json()
        return Outcome(body["allowed"], body["reason"], body["consent"])

    def get_account(self, period: str, bank: str = BANK) -> Outcome:
        stub = accounting_pb2_grpc.AccountingServiceStub(self._channel("accounting"))
        name = f"enterprises/{ENTERPRISE}/accounts/{period}"
        outcome, account = grpc_outcome(
            lambda: stub.GetAccount(
                accounting_pb2.GetAccountRequest(name=name), metadata=self.bank_metadata(bank), timeout=10
            )
        )
        assert account is None or account.period == period  # type: ignore[attr-defined]
        return outcome

    def list_accounts(self, bank: str = BANK) -> tuple[Outcome, set[str]]:
        stub = accounting_pb2_grpc.AccountingServiceStub(self._channel("accounting"))
        outcome, response = grpc_outcome(
            lambda: stub.ListAccounts(
                accounting_pb2.ListAccountsRequest(parent=f"enterprises/{ENTERPRISE}", page_size=100),
                metadata=self.bank_metadata(bank),
                timeout=30,
            )
        )
        return outcome, {a.period for a in response.accounts} if response is not None else set()  # type: ignore[attr-defined]

    def report(self, period: str, fmt: str, bank: str = BANK) -> Outcome:
        response = httpx.get(
            f"{self.stack.processes['accounting'].http_base}/v1/enterprises/{ENTERPRISE}/accounts/{period}/report",
            params={"format": fmt},
            headers=self.bank_headers(bank),
            timeout=30,
        )
        outcome = rest_outcome(response)
        if outcome.allowed:
            kind = "application/pdf" if fmt == "pdf" else "text/html"
            assert response.headers["content-type"].startswith(kind)
        return outcome

    def get_rating(self, period: str = "", bank: str = BANK) -> tuple[Outcome, str]:
        stub = rating_pb2_grpc.RatingServiceStub(self._channel("rating"))
        outcome, rating = grpc_outcome(
            lambda: stub.GetRating(
                rating_pb2.GetRatingRequest(name=f"enterprises/{ENTERPRISE}/ratings/{SCHEME}", period=period),
                metadata=self.bank_metadata(bank),
                timeout=30,
            )
        )
        return outcome, rating.period if rating is not None else ""  # type: ignore[attr-defined]

    def quote_rest(self, bank: str = BANK) -> tuple[Outcome, str]:
        self._after_projection_bound()
        body = {
            "request_id": uuid.uuid4().hex,
            "product": PRODUCT,
            "enterprise": f"enterprises/{ENTERPRISE}",
            "amount_cny": "1000000.00",
            "tenor_months": 12,
            "reference_rate_pct": "3.45",
        }
        response = fresh.rest(
            lambda: httpx.post(
                f"{self.stack.pricing.http_base}/v1/banks/{bank}/quotes",
                headers=self.bank_headers(bank),
                json=body,
                timeout=30,
            )
        )
        outcome = rest_outcome(response)
        return outcome, response.json()["account_period"] if outcome.allowed else ""

    def quote_grpc(self, bank: str = BANK) -> tuple[Outcome, str]:
        self._after_projection_bound()
        stub = pricing_pb2_grpc.PricingServiceStub(self._channel("loan-pricing"))
        request = pricing_pb2.CreateQuoteRequest(
            parent=f"banks/{bank}",
            request_id=uuid.uuid4().hex,
            quote=pricing_pb2.Quote(
                product=PRODUCT,
                enterprise=f"enterprises/{ENTERPRISE}",
                amount_cny=decimal_pb2.Decimal(value="500000.00"),
                tenor_months=24,
                reference_rate_pct=decimal_pb2.Decimal(value="3.10"),
            ),
        )
        outcome, quote = grpc_outcome(
            lambda: fresh.grpc_call(lambda: stub.CreateQuote(request, metadata=self.bank_metadata(bank), timeout=30))
        )
        return outcome, quote.account_period if quote is not None else ""  # type: ignore[attr-defined]


def start_world(root: Path) -> World:
    stack = start_pricing_stack(root, peers=PEERS, bundle_dir=copy_policy_bundle(root / "bundle"))
    try:
        consent = ConsentClient(stack.processes["consent"].target)
        keys = {bank: consent.create_bank(bank) for bank in (BANK, OTHER_BANK)}
        seeder = Seeder.for_stack(stack)
        try:
            seeder.account(ENTERPRISE, "2023", tco2="400", value_added="2000000", region="330802")
            seeder.account(ENTERPRISE, "2024", tco2="300", value_added="2000000", region="330802")
            for month in ("2023-06", "2024-06"):
                seeder.compute(ENTERPRISE, month)
        finally:
            seeder.close()
        world = World(stack, consent, keys)
        wait_until_seeded(world)
        return world
    except BaseException:
        stack.stop()
        raise


def wait_until_seeded(world: World, timeout: float = 60) -> None:
    """The platform itself sees exactly the stored periods and rates both years (event consumers settled)."""
    channel = world.stack.channel("accounting")
    rating_channel = world.stack.channel("rating")
    accounts = accounting_pb2_grpc.AccountingServiceStub(channel)
    ratings = rating_pb2_grpc.RatingServiceStub(rating_channel)
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            listed = accounts.ListAccounts(
                accounting_pb2.ListAccountsRequest(parent=f"enterprises/{ENTERPRISE}", page_size=100), timeout=10
            )
            periods = tuple(sorted(a.period for a in listed.accounts))
            rated = [
                ratings.GetRating(
                    rating_pb2.GetRatingRequest(name=f"enterprises/{ENTERPRISE}/ratings/{SCHEME}", period=year),
                    timeout=30,
                ).period
                for year in ("2023", "2024", "")
            ]
            if periods == STORED_PERIODS and rated == ["2023", "2024", LATEST_YEAR]:
                return
            last = f"periods {periods}, rated {rated}"
        except grpc.RpcError as error:
            last = f"{error.code()}: {error.details()}"
        time.sleep(0.2)
    raise AssertionError(f"seeding did not settle: {last}")
