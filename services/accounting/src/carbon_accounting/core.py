"""Use cases of accounting that the edges call: reading accounts (platform services, or banks
within their consent's data window), ComputeAccount and erasure under the enterprise's lease,
the event consumer's per-micro-batch recompute, and the report and account page of an account
(authorised by bank consent or a signed link). The edges (grpc_api, rest/, consumer) call only
this; the recompute itself is recompute.py, storage store.py, the arithmetic compute.py."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass

import grpc
import redis
from carbon.v1 import (
    accounting_pb2,
    consent_pb2,
    consent_pb2_grpc,
    enterprise_pb2,
    enterprise_pb2_grpc,
    rating_pb2,
    rating_pb2_grpc,
)
from carbon_common import names
from carbon_common.bank_auth import BankAuthenticator
from carbon_common.consent_gate import ConsentGate
from carbon_common.errors import (
    ServiceError,
    invalid_argument,
    not_found,
    permission_denied,
    unauthenticated,
    unavailable,
)
from carbon_common.identity import Reader, ServiceVerifier, bearer_token, metadata_value, service_caller

from carbon_accounting.account_page import (
    AccountPage,
    Consents,
    SchemeGrade,
    consent_item,
    scheme_grade,
    sign_account_page_link,
)
from carbon_accounting.recompute import Accountant, BatchResult, MicroBatch, process_batch
from carbon_accounting.report import ReportContext
from carbon_accounting.settings import AccountingSettings
from carbon_accounting.store import Leases

MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE = 500, 50
PEER_OPTIONAL_TIMEOUT = 1.0  # rating and consent extras of a report: never block it longer


def sign_report_link(secret: str, uscc: str, period: str, expires: int) -> str:
    return hmac.new(secret.encode(), f"report:{uscc}:{period}:{expires}".encode(), hashlib.sha256).hexdigest()


class Access:
    """Who may read an enterprise's accounts: platform services, or banks whose consent's
    data window covers the period of the account read."""

    def __init__(self, settings: AccountingSettings, consent_channel: grpc.Channel, client: redis.Redis) -> None:
        self.secret = settings.effective_service_secret()
        self.services = ServiceVerifier(settings.service_name, self.secret, client)
        self.banks = BankAuthenticator(consent_channel, timeout=settings.peer_timeout_seconds)
        self.gate = ConsentGate(consent_channel)
        self.timeout = settings.peer_timeout_seconds

    def reader(self, context: grpc.ServicerContext) -> Reader:
        """A platform service, or the bank of the API key. Called before any field is read, so an
        anonymous caller learns no field rule."""
        caller = service_caller(context, self.services)
        if caller is not None:
            return Reader(caller.principal, False)
        bank = self.banks.principal(bearer_token(metadata_value(context.invocation_metadata(), "authorization")))
        return Reader(bank, True)

    def is_service(self, context: grpc.ServicerContext) -> bool:
        return service_caller(context, self.services) is not None

    def require_account_read(self, reader: Reader, uscc: str, scope: int, period: str) -> str:
        if reader.is_bank:
            self.gate.require_period(uscc, reader.principal, scope, period)
        return reader.principal

    def readable_periods(self, bank: str, uscc: str, scope: int, periods: list[str]) -> list[str]:
        """The periods whose data the bank may read. None readable (also when nothing is stored)
        is PERMISSION_DENIED with the consent service's reason, so a bank without a covering
        consent learns nothing, not even whether accounts exist."""
        readable: list[str] = []
        denial: consent_pb2.CheckAccessResponse | None = None
        for period in periods:
            response = self.gate.allows_period(uscc, bank, scope, period)
            if response.allowed:
                readable.append(period)
            elif denial is None:
                denial = response
        if readable:
            return readable
        if denial is None:  # nothing stored: the reason of a check without a period
            denial = self.gate.check(uscc, bank, scope)
        raise permission_denied(
            (denial.reason if not denial.allowed else "") or "CONSENT_DATA_WINDOW",
            (denial.message if not denial.allowed else "")
            or f"no account of enterprises/{uscc} lies inside the data window of {denial.consent}",
            enterprise=f"enterprises/{uscc}",
            grantee=bank,
            scope=consent_pb2.ConsentScope.Name(scope),
            consent=denial.consent,
        )

    def report_reader(self, uscc: str, period: str, authorization: str, expires: int | None, signature: str) -> str:
        """The enterprise by a signed report link, or a bank with a REPORT consent for the period."""
        if signature:
            if expires is None or expires < time.time():
                raise unauthenticated("LINK_EXPIRED", "the report link has expired")
            if not hmac.compare_digest(sign_report_link(self.secret, uscc, period, expires), signature):
                raise unauthenticated("LINK_INVALID", "the report link signature is invalid")
            return f"enterprises/{uscc}"
        bank = self.banks.principal(bearer_token(authorization))
        self.gate.require_period(uscc, bank, consent_pb2.CONSENT_SCOPE_REPORT, period)
        return bank

    def require_page_link(self, uscc: str, expires: int, signature: str) -> None:
        if expires < time.time():
            raise unauthenticated("LINK_EXPIRED", "the account page link has expired")
        if not hmac.compare_digest(sign_account_page_link(self.secret, uscc, expires), signature):
            raise unauthenticated("LINK_INVALID", "the account page link signature is invalid")


@dataclass(frozen=True)
class PageLinks:
    """How the account page links to itself (the edge knows the request's URL)."""

    period: Callable[[str], str]  # period -> href of the page showing it
    other_language: str


class AccountingCore:
    """The use cases behind AccountingService, the report/page routes and the event consumer."""

    def __init__(
        self,
        accountant: Accountant,
        access: Access | None = None,
        *,
        rpc_leases: Leases | None = None,
        batch_leases: Leases | None = None,
        rating_channel: grpc.Channel | None = None,
        consent_channel: grpc.Channel | None = None,
    ) -> None:
        self.accountant = accountant
        self._access = access
        client = accountant.store.redis
        settings = accountant.settings
        # ComputeAccount and erasures take the enterprise's lease as the consumers do (own holder name)
        self.rpc_leases = rpc_leases or Leases(client, f"{settings.consumer_name}/rpc", settings.lease_ms)
        self.batch_leases = batch_leases or Leases(client, settings.consumer_name, settings.lease_ms)
        self.ratings = rating_pb2_grpc.RatingServiceStub(rating_channel) if rating_channel is not None else None
        self.consent_channel = consent_channel

    @property
    def settings(self) -> AccountingSettings:
        return self.accountant.settings

    @property
    def access(self) -> Access:
        if self._access is None:
            raise unavailable("ACCESS_NOT_CONFIGURED", "no access rules configured")
        return self._access

    @property
    def factor_set_version(self) -> str:
        return self.accountant.factors.version

    # ---- reads ---------------------------------------------------------------------------

    def reader(self, context: grpc.ServicerContext) -> Reader:
        return self.access.reader(context)

    def get_account(self, reader: Reader, name: str) -> accounting_pb2.Account:
        uscc, period = names.parse_child(name, "accounts")
        names.parse_period(period, "name")
        self.access.require_account_read(reader, uscc, consent_pb2.CONSENT_SCOPE_CARBON_ACCOUNT, period)
        account = self.accountant.store.get(name)
        if account is None:
            raise not_found(name)
        return account

    def list_accounts(
        self, reader: Reader, parent: str, page_size: int, page_token: str
    ) -> accounting_pb2.ListAccountsResponse:
        uscc = names.parse_enterprise(parent, "parent")
        if page_size < 0:
            raise invalid_argument("page_size", "must not be negative")
        size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        store = self.accountant.store
        periods = store.periods(uscc)
        if reader.is_bank:  # a bank sees only the accounts whose period its consent's data window covers
            periods = self.access.readable_periods(
                reader.principal, uscc, consent_pb2.CONSENT_SCOPE_CARBON_ACCOUNT, periods
            )
        start = 0
        if page_token:
            if page_token not in periods:
                raise invalid_argument("page_token", "unknown page token")
            start = periods.index(page_token)
        response = accounting_pb2.ListAccountsResponse()
        for period in periods[start : start + size]:
            account = store.get(f"enterprises/{uscc}/accounts/{period}")
            if account is not None:
                response.accounts.append(account)
        if start + size < len(periods):
            response.next_page_token = periods[start + size]
        return response

    # ---- recompute -----------------------------------------------------------------------

    def compute_account(self, context: grpc.ServicerContext, name: str) -> accounting_pb2.Account:
        if not self.access.is_service(context):
            raise unauthenticated("UNAUTHENTICATED_SERVICE", "ComputeAccount is only for platform services")
        uscc, period = names.parse_child(name, "accounts")
        names.parse_period(period, "name")
        return self.compute_leased(uscc, period)

    def compute_leased(self, uscc: str, period: str) -> accounting_pb2.Account:
        """A full recompute under the enterprise's lease: never alongside another replica's."""
        if not self.rpc_leases.wait(uscc, self.settings.lease_wait_seconds):
            raise unavailable("ENTERPRISE_BEING_RECOMPUTED", f"enterprises/{uscc} is being recomputed; retry later")
        try:
            return self.accountant.compute(uscc, period)
        finally:
            self.rpc_leases.release(uscc)

    def process_batch(self, batch: MicroBatch) -> BatchResult:
        """The consumer's micro-batch: each touched enterprise's accounts recomputed once."""
        return process_batch(self.accountant, batch, self.batch_leases)

    def erase(self, uscc: str) -> dict[str, int]:
        """The enterprise's derived data deleted; the counts are the erasure report."""
        return self.accountant.erase(uscc, self.rpc_leases)

    # ---- report and account page ---------------------------------------------------------

    def report(
        self,
        uscc: str,
        period: str,
        authorization: str,
        expires: int | None,
        signature: str,
        lang: str,
        other_language_href: str,
    ) -> ReportContext:
        names.validate_uscc(uscc, "uscc")
        names.parse_period(period, "period")
        self.access.report_reader(uscc, period, authorization, expires, signature)
        name = f"enterprises/{uscc}/accounts/{period}"
        account = self.accountant.store.get(name)
        if account is None:
            raise not_found(name)
        benchmark, peers = self.accountant.store.industry_benchmark(account.industry_code, period)
        return ReportContext(
            account,
            benchmark,
            peers,
            self._grade(uscc, period),
            display_name=self._enterprise_name(uscc),
            lang=lang,
            other_language_href=other_language_href,
        )

    def account_page(
        self, uscc: str, expires: int, signature: str, period: str | None, lang: str, links: PageLinks
    ) -> AccountPage:
        names.validate_uscc(uscc, "uscc")
        self.access.require_page_link(uscc, expires, signature)
        if period is not None:
            names.parse_period(period, "period")
        store = self.accountant.store
        periods = sorted(store.periods(uscc), key=lambda p: (p[:4], len(p) == 4, p), reverse=True)
        chosen = period or next((p for p in periods if len(p) == 4), periods[0] if periods else None)
        display_name = self._enterprise_name(uscc)
        selected = None
        report_links = ("", "")
        if chosen is not None:
            account = store.get(f"enterprises/{uscc}/accounts/{chosen}")
            if account is None:
                raise not_found(f"enterprises/{uscc}/accounts/{chosen}")
            benchmark, peers = store.industry_benchmark(account.industry_code, chosen)
            selected = ReportContext(account, benchmark, peers, "", display_name=display_name, lang=lang)
            report = f"/v1/enterprises/{uscc}/accounts/{chosen}/report"
            signed = sign_report_link(self.access.secret, uscc, chosen, expires)
            query = f"expires={expires}&signature={signed}&lang={lang}"
            report_links = (f"{report}?{query}", f"{report}?{query}&format=pdf")
        return AccountPage(
            uscc,
            display_name,
            lang,
            [(p, links.period(p)) for p in periods],
            selected,
            self._scheme_grades(uscc),
            report_links,
            links.other_language,
            self._consents(uscc),
        )

    def _grade(self, uscc: str, period: str) -> str:
        scheme = self.settings.report_rating_scheme
        if self.ratings is None or not scheme:
            return ""
        try:  # optional: never block the report on the rating service
            rating = self.ratings.GetRating(
                rating_pb2.GetRatingRequest(name=f"enterprises/{uscc}/ratings/{scheme}"),
                timeout=PEER_OPTIONAL_TIMEOUT,
            )
        except grpc.RpcError:
            return ""
        return rating.grade_label or rating.grade if rating.period in ("", period) else ""

    def _enterprise_name(self, uscc: str) -> str:
        try:  # optional: the report shows the USCC alone rather than fail on a registry blip
            return self.accountant.enterprise_display_name(uscc)
        except ServiceError:
            return ""

    def _scheme_grades(self, uscc: str) -> list[SchemeGrade]:
        """The enterprise's grade under every scheme; optional (an empty list when rating is down)."""
        if self.ratings is None:
            return []
        try:
            schemes = self.ratings.ListSchemes(
                rating_pb2.ListSchemesRequest(page_size=100), timeout=PEER_OPTIONAL_TIMEOUT
            ).schemes
        except grpc.RpcError:
            return []
        found = []
        for scheme in schemes:
            scheme_id = scheme.name.rsplit("/", 1)[-1]
            try:
                rating = self.ratings.GetRating(
                    rating_pb2.GetRatingRequest(name=f"enterprises/{uscc}/ratings/{scheme_id}"),
                    timeout=PEER_OPTIONAL_TIMEOUT,
                )
            except grpc.RpcError:
                continue
            found.append(scheme_grade(scheme.display_name or scheme_id, rating))
        return found

    def _consents(self, uscc: str) -> Consents:
        """The enterprise's consents and a management link from consent; optional, as the grades are."""
        if self.consent_channel is None:
            return Consents(None)
        try:
            listed = consent_pb2_grpc.ConsentServiceStub(self.consent_channel).ListConsents(
                consent_pb2.ListConsentsRequest(parent=f"enterprises/{uscc}", page_size=100),
                timeout=PEER_OPTIONAL_TIMEOUT,
            )
            link = enterprise_pb2_grpc.EnterpriseServiceStub(self.consent_channel).GenerateManageLink(
                enterprise_pb2.GenerateManageLinkRequest(enterprise=f"enterprises/{uscc}"),
                timeout=PEER_OPTIONAL_TIMEOUT,
            )
        except grpc.RpcError:
            return Consents(None)
        newest = sorted(listed.consents, key=lambda c: c.update_time.ToDatetime(), reverse=True)
        return Consents(tuple(consent_item(c) for c in newest), link.uri)
