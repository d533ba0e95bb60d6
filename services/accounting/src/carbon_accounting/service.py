"""gRPC AccountingService, the recompute orchestration and the event consumer."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable

import grpc
import redis
from carbon.v1 import (
    accounting_pb2,
    accounting_pb2_grpc,
    consent_pb2,
    enterprise_pb2,
    enterprise_pb2_grpc,
)
from carbon_common import events, metrics, names
from carbon_common.bank_auth import BankAuthenticator
from carbon_common.consent_gate import ConsentGate
from carbon_common.errors import (
    from_rpc_error,
    invalid_argument,
    not_found,
    permission_denied,
    unauthenticated,
    unavailable,
)
from carbon_common.identity import ServiceVerifier, bearer_token, metadata_value, service_caller

from carbon_accounting import activity
from carbon_accounting import factors as fx
from carbon_accounting.compute import Enterprise, PeriodInputs, base_period_of, compute_account, period_months
from carbon_accounting.settings import AccountingSettings
from carbon_accounting.store import AccountStore

ACTIVITY_STREAM = events.ACTIVITY.name

log = logging.getLogger(__name__)


class Accountant:
    """Reads activity, computes and stores accounts. Safe to call from many threads."""

    def __init__(
        self,
        settings: AccountingSettings,
        store: AccountStore,
        consent_channel: grpc.Channel,
        factor_set: fx.FactorSet | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.factors = factor_set or fx.load_factor_set(settings.factors_dir, settings.factor_set)
        self.selection = settings.selection()
        self.rules = settings.rules()
        self.enterprises = enterprise_pb2_grpc.EnterpriseServiceStub(consent_channel)
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def enterprise(self, uscc: str) -> Enterprise:
        try:
            ent = self.enterprises.GetEnterprise(
                enterprise_pb2.GetEnterpriseRequest(name=f"enterprises/{uscc}"),
                timeout=self.settings.peer_timeout_seconds,
            )
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.NOT_FOUND:
                raise not_found(f"enterprises/{uscc}") from None
            if error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise unavailable("CONSENT_SERVICE_UNAVAILABLE", "enterprise registry unavailable") from None
            raise from_rpc_error(error) from None
        return Enterprise(uscc, ent.industry_code, ent.province_code, ent.region_code)

    def inputs(self, ent: Enterprise, period: str) -> PeriodInputs:
        months = period_months(period)
        data_dir = self.settings.data_dir
        meters = activity.enterprise_meters(data_dir, ent.uscc, months, self.settings.meter_interval_seconds)
        invoices, economics = activity.enterprise_invoices(data_dir, ent.uscc, months)
        declared = self.store.declared(ent.uscc, period) if len(period) == 4 else {}
        return PeriodInputs(ent, period, tuple(meters), tuple(invoices), tuple(economics), declared)

    def compute(self, uscc: str, period: str, ent: Enterprise | None = None) -> accounting_pb2.Account:
        """Recompute and store; an unchanged input digest keeps the stored account as it is."""
        ent = ent or self.enterprise(uscc)
        name = f"enterprises/{uscc}/accounts/{period}"
        with self._lock(name):
            current = self.inputs(ent, period)
            base_period = base_period_of(period, self.settings.base_year)
            base = self.inputs(ent, base_period) if base_period != period else None
            if base is not None and not (base.meters or base.invoices):
                base = None
            account = compute_account(current, self.factors, self.selection, self.rules, base)
            stored = self.store.get(name)
            if stored is not None and stored.input_digest == account.input_digest:
                return stored
            account.compute_time.GetCurrentTime()
            self.store.put(account, uscc)
            return account

    def recompute_months(self, uscc: str, months: Iterable[str]) -> list[str]:
        """Accounts affected by new activity in `months`: those months, their years, and
        stored accounts that use them as the base period."""
        ent = self.enterprise(uscc)
        periods: set[str] = set()
        for month in months:
            names.parse_period(month, "months")
            periods.update({month, month[:4]})
        stored = set(self.store.periods(uscc))
        for period in sorted(stored):
            if base_period_of(period, self.settings.base_year) in periods:
                periods.add(period)
        for period in sorted(periods):
            self.compute(uscc, period, ent)
        return sorted(periods)

    def _lock(self, name: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(name, threading.Lock())


class Access:
    """Who may read an enterprise's accounts: platform services, or banks whose consent's
    data window covers the period of the account read."""

    def __init__(self, settings: AccountingSettings, consent_channel: grpc.Channel, client: redis.Redis) -> None:
        self.secret = settings.effective_service_secret()
        self.services = ServiceVerifier(settings.service_name, self.secret, client)
        self.banks = BankAuthenticator(consent_channel, timeout=settings.peer_timeout_seconds)
        self.gate = ConsentGate(consent_channel)
        self.timeout = settings.peer_timeout_seconds

    def reader(self, context: grpc.ServicerContext) -> tuple[str, bool]:
        """(principal, is a bank): a platform service, or the bank of the API key. Called
        before any field is read, so an anonymous caller learns no field rule."""
        caller = service_caller(context, self.services)
        if caller is not None:
            return caller.principal, False
        bank = self.banks.principal(bearer_token(metadata_value(context.invocation_metadata(), "authorization")))
        return bank, True

    def require_account_read(self, reader: tuple[str, bool], uscc: str, scope: int, period: str) -> str:
        principal, is_bank = reader
        if is_bank:
            self.gate.require_period(uscc, principal, scope, period)
        return principal

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


class AccountingServicer(accounting_pb2_grpc.AccountingServiceServicer):
    def __init__(self, accountant: Accountant, access: Access) -> None:
        self.accountant = accountant
        self.access = access

    def GetAccount(
        self, request: accounting_pb2.GetAccountRequest, context: grpc.ServicerContext
    ) -> accounting_pb2.Account:
        reader = self.access.reader(context)
        uscc, period = names.parse_child(request.name, "accounts")
        names.parse_period(period, "name")
        self.access.require_account_read(reader, uscc, consent_pb2.CONSENT_SCOPE_CARBON_ACCOUNT, period)
        account = self.accountant.store.get(request.name)
        if account is None:
            raise not_found(request.name)
        return account

    def ListAccounts(
        self, request: accounting_pb2.ListAccountsRequest, context: grpc.ServicerContext
    ) -> accounting_pb2.ListAccountsResponse:
        reader, is_bank = self.access.reader(context)
        uscc = names.parse_enterprise(request.parent, "parent")
        if request.page_size < 0:
            raise invalid_argument("page_size", "must not be negative")
        size = min(request.page_size or 50, 500)
        periods = self.accountant.store.periods(uscc)
        if is_bank:  # a bank sees only the accounts whose period its consent's data window covers
            periods = self.access.readable_periods(reader, uscc, consent_pb2.CONSENT_SCOPE_CARBON_ACCOUNT, periods)
        start = 0
        if request.page_token:
            if request.page_token not in periods:
                raise invalid_argument("page_token", "unknown page token")
            start = periods.index(request.page_token)
        page = periods[start : start + size]
        response = accounting_pb2.ListAccountsResponse()
        for period in page:
            account = self.accountant.store.get(f"enterprises/{uscc}/accounts/{period}")
            if account is not None:
                response.accounts.append(account)
        if start + size < len(periods):
            response.next_page_token = periods[start + size]
        return response

    def ComputeAccount(
        self, request: accounting_pb2.ComputeAccountRequest, context: grpc.ServicerContext
    ) -> accounting_pb2.Account:
        if service_caller(context, self.access.services) is None:
            raise unauthenticated("UNAUTHENTICATED_SERVICE", "ComputeAccount is only for platform services")
        uscc, period = names.parse_child(request.name, "accounts")
        names.parse_period(period, "name")
        return self.accountant.compute(uscc, period)


# ---- events ---------------------------------------------------------------------------


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def handle_event(accountant: Accountant, fields: dict[bytes, bytes]) -> None:
    try:
        event = events.ACTIVITY.decode(fields)
    except events.EventDecodeError as error:
        log.warning("ignoring malformed activity event", extra={"error": str(error)[:200]})
        return
    if not names.is_valid_uscc(event.uscc) or not event.months:
        log.warning("ignoring activity event without a valid enterprise or months", extra={"uscc": event.uscc[:64]})
        return
    periods = accountant.recompute_months(event.uscc, list(event.months))
    log.info("accounts recomputed", extra={"uscc": event.uscc, "periods": periods, "batch": event.batch})


def consume_events(accountant: Accountant, client: redis.Redis, stopping: threading.Event) -> None:
    """XREADGROUP loop: pending entries first (crash recovery), then new ones; XACK after storing."""
    settings = accountant.settings
    group, consumer = settings.consumer_group, settings.consumer_name
    backlog = True
    while not stopping.is_set():
        try:
            try:
                client.xgroup_create(ACTIVITY_STREAM, group, id="0", mkstream=True)
            except redis.ResponseError as error:
                if "BUSYGROUP" not in str(error):
                    raise
            while not stopping.is_set():
                start = "0" if backlog else ">"
                reply = client.xreadgroup(
                    group,
                    consumer,
                    {ACTIVITY_STREAM: start},
                    count=16,
                    block=None if backlog else settings.events_block_ms,
                )
                entries = reply[0][1] if reply else []
                if backlog and not entries:
                    backlog = False
                    continue
                for entry_id, fields in entries:
                    if not fields:  # already deleted from the stream
                        client.xack(ACTIVITY_STREAM, group, entry_id)
                        continue
                    try:
                        handle_event(accountant, fields)
                        emitted = int(_text(entry_id).partition("-")[0]) / 1000.0
                        metrics.ingestion_lag(metrics.lag_from(emitted), source="accounting")
                    except Exception as error:  # transient (peer down): leave pending, retry later
                        if getattr(error, "reason", "") == "NOT_FOUND":
                            log.warning("activity for unknown enterprise", extra={"id": _text(entry_id)})
                        else:
                            log.warning("event not processed; will retry", extra={"error": str(error)})
                            backlog = True
                            stopping.wait(1.0)
                            break
                    client.xack(ACTIVITY_STREAM, group, entry_id)
        except redis.RedisError as error:
            log.warning("redis error in event loop", extra={"error": str(error)})
            backlog = True
            stopping.wait(1.0)
        except Exception:
            log.exception("event loop error")
            backlog = True
            time.sleep(1.0)
