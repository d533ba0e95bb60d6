"""gRPC AccountingService, the recompute orchestration and the event consumer."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

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
    ServiceError,
    from_rpc_error,
    invalid_argument,
    not_found,
    permission_denied,
    unauthenticated,
    unavailable,
)
from carbon_common.identity import ServiceVerifier, bearer_token, metadata_value, service_caller
from carbon_common.redis_conn import group_entries
from carbon_ingest import rawdata

from carbon_accounting import activity
from carbon_accounting import factors as fx
from carbon_accounting.compute import (
    Baseline,
    Enterprise,
    PeriodInputs,
    base_period_of,
    baseline,
    combine,
    compute_account,
    decode_month,
    encode_month,
    own_digest,
    period_months,
)
from carbon_accounting.settings import AccountingSettings
from carbon_accounting.store import AccountStore, StoreView

ACTIVITY_STREAM = events.ACTIVITY.name
READ_ATTEMPTS = 5  # listings of a month partition tried when compaction removes a listed file

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
        self._locks: dict[str, threading.RLock] = {}
        self._locks_guard = threading.Lock()

    def enterprise(self, uscc: str) -> Enterprise:
        ent = self._registered(uscc)
        return Enterprise(uscc, ent.industry_code, ent.province_code, ent.region_code)

    def enterprises_of(self, usccs: Sequence[str]) -> dict[str, Enterprise]:
        """Several enterprises' attributes, asked of the registry concurrently; unknown ones are
        left out. A registry outage raises (the caller retries)."""
        calls = [
            (
                uscc,
                self.enterprises.GetEnterprise.future(
                    enterprise_pb2.GetEnterpriseRequest(name=f"enterprises/{uscc}"),
                    timeout=self.settings.peer_timeout_seconds,
                ),
            )
            for uscc in usccs
        ]
        out: dict[str, Enterprise] = {}
        for uscc, call in calls:
            try:
                ent = call.result()
            except grpc.RpcError as error:
                if error.code() == grpc.StatusCode.NOT_FOUND:
                    continue
                for _uscc, other in calls:
                    other.cancel()
                raise self._registry_error(error) from None
            out[uscc] = Enterprise(uscc, ent.industry_code, ent.province_code, ent.region_code)
        return out

    def _registry_error(self, error: grpc.RpcError) -> ServiceError:
        if error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            return unavailable("CONSENT_SERVICE_UNAVAILABLE", "enterprise registry unavailable")
        return from_rpc_error(error)

    def enterprise_display_name(self, uscc: str) -> str:
        """The registered name, shown on reports."""
        return str(self._registered(uscc).display_name)

    def _registered(self, uscc: str) -> enterprise_pb2.Enterprise:
        try:
            ent = self.enterprises.GetEnterprise(
                enterprise_pb2.GetEnterpriseRequest(name=f"enterprises/{uscc}"),
                timeout=self.settings.peer_timeout_seconds,
            )
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.NOT_FOUND:
                raise not_found(f"enterprises/{uscc}") from None
            raise self._registry_error(error) from None
        return ent

    def read_month(self, ent: Enterprise, month: str) -> PeriodInputs:
        """One month's inputs aggregated from the raw data (the single-enterprise path)."""
        return self.read_months([ent], month)[ent.uscc]

    def read_months(self, ents: Sequence[Enterprise], month: str) -> dict[str, PeriodInputs]:
        """One month's inputs of several enterprises, aggregated together by the columnar engine
        (one scan of the month's partition for all of them)."""
        data_dir = rawdata.Committed(self.settings.data_dir, self.store.redis)  # uncommitted writes unseen
        usccs = [ent.uscc for ent in ents]
        for attempt in range(READ_ATTEMPTS):
            try:
                meters = activity.month_meters(data_dir, usccs, month, self.settings.meter_interval_seconds)
                invoices = activity.month_invoices(data_dir, usccs, month)
                break
            except FileNotFoundError:
                # compaction replaced files between the listing and the read (its output is durable
                # before the inputs go): list the partition again
                if attempt == READ_ATTEMPTS - 1:
                    raise
        out: dict[str, PeriodInputs] = {}
        for ent in ents:
            lines, economics = invoices.get(ent.uscc, ([], []))
            out[ent.uscc] = PeriodInputs(ent, month, tuple(meters.get(ent.uscc, [])), tuple(lines), tuple(economics))
        return out

    def record_months(
        self, touched: dict[str, set[str]], ents: dict[str, Enterprise], store: AccountStore | None = None
    ) -> None:
        """Read the touched months of a micro-batch's enterprises from the raw data, one scan per
        month for all of them, and record them (before their accounts are recomputed)."""
        by_month: dict[str, list[Enterprise]] = {}
        for uscc, months in touched.items():
            if uscc in ents:
                for month in months:
                    by_month.setdefault(month, []).append(ents[uscc])
        records: dict[str, dict[str, bytes]] = {}
        for month in sorted(by_month):
            for uscc, inputs in self.read_months(by_month[month], month).items():
                records.setdefault(uscc, {})[month] = encode_month(inputs)
        for uscc in sorted(records):
            with self._lock(uscc):
                (store or self.store).put_months(uscc, records[uscc])

    def unrecorded_months(self, touched: dict[str, set[str]], store: AccountStore) -> dict[str, set[str]]:
        """The months the touched accounts' recompute reads (every month of their years and base
        years) that have no record yet (bulk-loaded data, an enterprise's first event): read with
        the touched months, one scan per month for the whole micro-batch, instead of one
        enterprise and month at a time."""
        out: dict[str, set[str]] = {}
        for uscc, months in touched.items():
            years = {month[:4] for month in months}
            years |= {base_period_of(year, self.settings.base_year) for year in years}
            wanted = [month for year in sorted(years) for month in period_months(year)]
            recorded = store.month_records(uscc, wanted)
            missing = {month for month in wanted if month not in recorded}
            if missing:
                out[uscc] = missing
        return out

    def month_inputs(
        self, ent: Enterprise, months: list[str], fresh: set[str], store: AccountStore | None = None
    ) -> dict[str, PeriodInputs]:
        """Each month's inputs: the stored month record, or read from the raw data (and recorded)
        for the `fresh` months and those never recorded."""
        store = store or self.store
        stored = store.month_records(ent.uscc, [m for m in months if m not in fresh])
        out: dict[str, PeriodInputs] = {}
        recorded: dict[str, bytes] = {}
        for month in months:
            raw = stored.get(month)
            if raw is not None:
                try:
                    out[month] = decode_month(ent, month, raw)
                    continue
                except (ValueError, KeyError, TypeError) as error:
                    log.warning("month record unreadable; reading raw data", extra={"error": str(error)[:200]})
            out[month] = self.read_month(ent, month)
            recorded[month] = encode_month(out[month])
        store.put_months(ent.uscc, recorded)
        return out

    def inputs(
        self, ent: Enterprise, period: str, fresh: set[str] | None = None, store: AccountStore | None = None
    ) -> PeriodInputs:
        """A month from its record; a year summed from its twelve month records (plus declared
        economics). `fresh=None` reads every month from the raw data again."""
        months = period_months(period)
        store = store or self.store
        parts = self.month_inputs(ent, months, set(months) if fresh is None else fresh, store)
        if len(period) == 7:
            return parts[period]
        return combine(ent, period, [parts[m] for m in months], store.declared(ent.uscc, period))

    def baseline(
        self, ent: Enterprise, period: str, fresh: set[str] | None, store: AccountStore | None = None
    ) -> Baseline | None:
        """The base period's total: the stored base account's when it was computed from the same
        inputs and versions, else computed from the month records. None without base activity."""
        store = store or self.store
        base = self.inputs(ent, period, fresh, store)
        if not (base.meters or base.invoices):
            return None
        digest = own_digest(base, self.factors, self.selection, self.rules)
        stored = store.baseline(ent.uscc, period)
        if stored is not None and stored[0] == digest:
            return Baseline(period, stored[1], digest)
        return baseline(base, self.factors, self.selection, self.rules)

    def compute(
        self,
        uscc: str,
        period: str,
        ent: Enterprise | None = None,
        fresh: set[str] | None = None,
        store: AccountStore | None = None,
    ) -> accounting_pb2.Account:
        """Recompute and store; an unchanged input digest keeps the stored account as it is.
        `fresh=None` (a full recompute) reads the period's and its base period's raw data again;
        otherwise only the `fresh` months are read, the others come from their month records."""
        ent = ent or self.enterprise(uscc)
        name = f"enterprises/{uscc}/accounts/{period}"
        store = store or self.store
        with self._lock(uscc):
            current = self.inputs(ent, period, fresh, store)
            base_period = base_period_of(period, self.settings.base_year)
            base = self.baseline(ent, base_period, fresh, store) if base_period != period else None
            account = compute_account(current, self.factors, self.selection, self.rules, base)
            stored = store.get(name)
            if stored is not None and stored.input_digest == account.input_digest:
                return stored
            account.compute_time.GetCurrentTime()
            store.put(account, uscc, own_digest(current, self.factors, self.selection, self.rules))
            return account

    def recompute_months(
        self,
        uscc: str,
        months: Iterable[str],
        ent: Enterprise | None = None,
        *,
        recorded: bool = False,
        store: AccountStore | None = None,
    ) -> list[str]:
        """Accounts affected by new activity in `months`: those months, their years, and
        stored accounts that use them as the base period. The months are read from the raw
        data once (unless `recorded` by record_months already); every other input comes from
        the stored month records and accounts."""
        ent = ent or self.enterprise(uscc)
        touched: set[str] = set()
        periods: set[str] = set()
        for month in months:
            names.parse_period(month, "months")
            touched.add(month)
            periods.update({month, month[:4]})
        store = store or self.store
        stored = set(store.periods(uscc))
        for period in sorted(stored):
            if base_period_of(period, self.settings.base_year) in periods:
                periods.add(period)
        with self._lock(uscc):
            if not recorded:
                self.month_inputs(ent, sorted(touched), touched, store)
            # chronological: a base period's account is stored before the accounts reduced against it
            for period in sorted(periods):
                self.compute(uscc, period, ent, set(), store)
        return sorted(periods)

    def batch_view(self, touched: dict[str, set[str]]) -> StoreView:
        """The store prefetched for recomputing these enterprises' touched months (and their
        years, reductions and base years); writes kept until its flush()."""
        accounts = {uscc: sorted({*months, *(m[:4] for m in months)}) for uscc, months in touched.items()}
        years = {p[:4] for periods in accounts.values() for p in periods}
        years |= {base_period_of(year, self.settings.base_year) for year in years}
        return StoreView(self.store.redis, sorted(touched), accounts, years)

    def erase(self, uscc: str, leases: Leases | None = None) -> dict[str, int]:
        """Delete the enterprise's accounts, month records and baselines (ingestion erases its raw
        data); activity announced before now is ignored from now on. Waits (at most one lease
        period) for a replica recomputing the enterprise, so its accounts are not stored after."""
        held = leases is not None and leases.wait(uscc, self.settings.lease_ms / 1000)
        try:
            with self._lock(uscc):
                return self.store.erase(uscc)
        finally:
            if held and leases is not None:
                leases.release(uscc)

    def _lock(self, uscc: str) -> threading.RLock:
        """One enterprise's month records and accounts are recomputed by one thread at a time."""
        with self._locks_guard:
            return self._locks.setdefault(uscc, threading.RLock())


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
    def __init__(self, accountant: Accountant, access: Access, leases: Leases | None = None) -> None:
        self.accountant = accountant
        self.access = access
        self.leases = leases  # ComputeAccount takes the enterprise's lease the consumers take

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
        return self.compute_leased(uscc, period)

    def compute_leased(self, uscc: str, period: str) -> accounting_pb2.Account:
        """A full recompute under the enterprise's lease: never alongside another replica's."""
        if self.leases is None:
            return self.accountant.compute(uscc, period)
        if not self.leases.wait(uscc, self.accountant.settings.lease_wait_seconds):
            raise unavailable("ENTERPRISE_BEING_RECOMPUTED", f"enterprises/{uscc} is being recomputed; retry later")
        try:
            return self.accountant.compute(uscc, period)
        finally:
            self.leases.release(uscc)


# ---- events ---------------------------------------------------------------------------


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _entry_ms(entry_id: bytes | str) -> int:
    """The ms part of a stream entry id (when Redis added it)."""
    return int(_text(entry_id).partition("-")[0])


@dataclass
class MicroBatch:
    """Stream entries read together, grouped by enterprise: every account they touch is
    recomputed once, however many of the entries name it."""

    months: dict[str, set[str]] = field(default_factory=dict)  # uscc -> months named by its events
    entries: dict[str, list[bytes]] = field(default_factory=dict)  # uscc -> its entry ids
    ignored: list[bytes] = field(default_factory=list)  # deleted or malformed: acknowledged as they are
    size: int = 0

    @classmethod
    def of(cls, entries: Sequence[tuple[bytes, dict[bytes, bytes]]]) -> MicroBatch:
        batch = cls(size=len(entries))
        for entry_id, fields in entries:
            if not fields:  # already deleted from the stream
                batch.ignored.append(entry_id)
                continue
            try:
                event = events.ACTIVITY.decode(fields)
            except events.EventDecodeError as error:
                log.warning("ignoring malformed activity event", extra={"error": str(error)[:200]})
                batch.ignored.append(entry_id)
                continue
            if not names.is_valid_uscc(event.uscc) or not event.months or not _valid_months(event.months):
                log.warning("ignoring activity event without valid enterprise/months", extra={"id": _text(entry_id)})
                batch.ignored.append(entry_id)
                continue
            batch.months.setdefault(event.uscc, set()).update(event.months)
            batch.entries.setdefault(event.uscc, []).append(entry_id)
        return batch


def _valid_months(months: Iterable[str]) -> bool:
    """Every entry a YYYY-MM in range: an event naming anything else could never be processed."""
    try:
        return all(len(names.parse_period(month, "months")) == 7 for month in months)
    except ServiceError:
        return False


@dataclass
class BatchResult:
    done: list[bytes]  # entry ids whose accounts are stored (or that need no account): XACK them
    recomputed: dict[str, list[str]]  # uscc -> periods recomputed once each
    failed: bool  # a transient failure left the remaining entries pending
    deferred: list[str] = field(default_factory=list)  # leased by another replica: left pending


class Leases:
    """Per-enterprise leases in Redis: replicas sharing the consumer group never recompute the
    same enterprise concurrently (its month records and accounts would race). A lease is held
    in the consumer's name, so the same consumer restarted after a kill -9 takes its leases back
    at once; another replica waits until it is released (compare-and-delete, after storing) or
    expires (lease_ms)."""

    _ACQUIRE = (
        "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end "
        "if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end return 0"
    )
    _RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"

    def __init__(self, client: redis.Redis, owner: str, ttl_ms: int) -> None:
        self.client = client
        self.token = owner
        self.ttl_ms = ttl_ms
        self._acquire = client.register_script(self._ACQUIRE)
        self._release = client.register_script(self._RELEASE)

    @staticmethod
    def key(uscc: str) -> str:
        return f"carbon:accounting:lease:{uscc}"

    def acquire(self, uscc: str) -> bool:
        return bool(self._acquire(keys=[self.key(uscc)], args=[self.token, self.ttl_ms]))

    def release(self, uscc: str) -> None:
        self._release(keys=[self.key(uscc)], args=[self.token])

    def acquire_many(self, usccs: Sequence[str]) -> list[str]:
        """The enterprises whose lease this holder got, in one round trip."""
        if not usccs:
            return []
        pipe = self.client.pipeline(transaction=False)
        for uscc in usccs:
            self._acquire(keys=[self.key(uscc)], args=[self.token, self.ttl_ms], client=pipe)
        return [uscc for uscc, got in zip(usccs, pipe.execute(), strict=True) if got]

    def release_many(self, usccs: Sequence[str]) -> None:
        if usccs:
            pipe = self.client.pipeline(transaction=False)
            for uscc in usccs:
                self._release(keys=[self.key(uscc)], args=[self.token], client=pipe)
            pipe.execute()

    def wait(self, uscc: str, seconds: float) -> bool:
        """Acquire, waiting up to `seconds` while another holder has it."""
        deadline = time.monotonic() + seconds
        pause = 0.01
        while not self.acquire(uscc):
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, 0.2)
        return True


def process_batch(accountant: Accountant, batch: MicroBatch, leases: Leases | None = None) -> BatchResult:
    """Recompute each touched enterprise's accounts once: the touched months of all of them are
    read together (one scan per month), then each enterprise's accounts are derived. Entries of
    an enterprise are done only after its accounts are stored; a transient failure (peer down)
    stops the batch and leaves the rest pending for a retry (recompute is idempotent by digest).
    With `leases`, an enterprise another replica is recomputing is deferred (left pending)."""
    result = BatchResult(list(batch.ignored), {}, False)
    ents: dict[str, Enterprise] = {}
    held: list[str] = []
    try:
        erased = accountant.store.erased_at(sorted(batch.months))
        wanted = []
        for uscc in sorted(batch.months):
            if uscc in erased and all(_entry_ms(e) <= erased[uscc] for e in batch.entries[uscc]):
                log.info("activity announced before the enterprise's erasure: ignored", extra={"uscc": uscc})
                result.done.extend(batch.entries[uscc])
            else:
                wanted.append(uscc)
        registered = accountant.enterprises_of(wanted)
        for uscc in wanted:
            if uscc not in registered:
                log.warning("activity for unknown enterprise", extra={"uscc": uscc})
                result.done.extend(batch.entries[uscc])
        known = [uscc for uscc in wanted if uscc in registered]
        if leases is not None:
            held = leases.acquire_many(known)
            result.deferred = sorted(set(known) - set(held))
        ents = {uscc: registered[uscc] for uscc in (held if leases is not None else known)}
        touched = {uscc: batch.months[uscc] for uscc in ents}
        view = accountant.batch_view(touched)
        unrecorded = accountant.unrecorded_months(touched, view)
        accountant.record_months({u: m | unrecorded.get(u, set()) for u, m in touched.items()}, ents, view)
        try:
            for uscc in sorted(ents):
                periods = accountant.recompute_months(
                    uscc, sorted(batch.months[uscc]), ents[uscc], recorded=True, store=view
                )
                result.recomputed[uscc] = periods
        finally:  # the accounts of the enterprises done so far, in one transaction; acknowledged after
            view.flush(set(result.recomputed))
            for uscc, periods in result.recomputed.items():
                result.done.extend(batch.entries[uscc])
                months = sum(1 for period in periods if len(period) == 7)
                metrics.account_recomputed("month", months)
                metrics.account_recomputed("year", len(periods) - months)
    except Exception as error:
        log.warning("events not processed; will retry", extra={"error": str(error)[:200]}, exc_info=True)
        result.failed = True
    finally:
        if leases is not None:
            leases.release_many(held)
    return result


def read_batch(
    client: redis.Redis, settings: AccountingSettings, cursor: str, stopping: threading.Event
) -> list[tuple[bytes, dict[bytes, bytes]]]:
    """Up to events_batch_max entries. Pending ones (cursor != ">") are read without waiting;
    new ones: block for the first, then keep reading for events_batch_ms after it."""
    group, consumer, limit = settings.consumer_group, settings.consumer_name, settings.events_batch_max
    if cursor != ">":
        reply = client.xreadgroup(group, consumer, {ACTIVITY_STREAM: cursor}, count=limit)
        return [(entry_id, fields or {}) for entry_id, fields in group_entries(reply)]
    batch: list[tuple[bytes, dict[bytes, bytes]]] = []
    deadline: float | None = None
    while len(batch) < limit and not stopping.is_set():
        if deadline is None:
            block = settings.events_block_ms
        else:
            remaining_ms = int((deadline - time.monotonic()) * 1000)
            if remaining_ms <= 0:
                break
            block = remaining_ms
        reply = client.xreadgroup(group, consumer, {ACTIVITY_STREAM: ">"}, count=limit - len(batch), block=block)
        entries = [(entry_id, fields or {}) for entry_id, fields in group_entries(reply)]
        if not entries:
            break
        batch.extend(entries)
        if deadline is None:
            deadline = time.monotonic() + settings.events_batch_ms / 1000
    return batch


def claim_orphans(client: redis.Redis, settings: AccountingSettings) -> int:
    """XAUTOCLAIM the group's entries pending longer than claim_idle_ms at any consumer (one that
    died and whose name never comes back: a Deployment's new pod has a new name) into this
    consumer; they are then processed as its own pending entries. The idle bound is above the
    lease, so a live consumer's entries are not taken while it works on them (its pending walk
    re-reads deferred ones, which resets their idle time). Returns how many were claimed."""
    claimed, start = 0, "0-0"
    while True:
        reply = client.xautoclaim(
            ACTIVITY_STREAM,
            settings.consumer_group,
            settings.consumer_name,
            settings.effective_claim_idle_ms(),
            start_id=start,
            count=settings.events_batch_max,
        )  # [next cursor, claimed entries, deleted ids] (with JUSTID redis-py drops the cursor)
        start = _text(reply[0])
        claimed += len(reply[1])
        if start == "0-0":
            break
    if claimed:
        log.info("claimed entries of departed consumers", extra={"entries": claimed})
    return claimed


def consume_events(accountant: Accountant, client: redis.Redis, stopping: threading.Event) -> None:
    """XREADGROUP loop in micro-batches: this consumer's pending entries first (crash recovery),
    then new ones; XACK after the touched accounts are stored."""
    settings = accountant.settings
    group = settings.consumer_group
    leases = Leases(client, settings.consumer_name, settings.lease_ms)
    revisit: float | None = None  # when to walk the pending entries again (deferred ones)
    cursor = "0"  # "0"...: walking this consumer's pending entries; ">": new entries
    next_claim = 0.0  # when to look for entries orphaned by departed consumers
    while not stopping.is_set():
        try:
            try:
                client.xgroup_create(ACTIVITY_STREAM, group, id="0", mkstream=True)
            except redis.ResponseError as error:
                if "BUSYGROUP" not in str(error):
                    raise
            while not stopping.is_set():
                if cursor == ">" and revisit is not None and time.monotonic() >= revisit:
                    cursor, revisit = "0", None
                if cursor == ">" and time.monotonic() >= next_claim:
                    next_claim = time.monotonic() + settings.claim_interval_ms / 1000
                    if claim_orphans(client, settings):
                        cursor = "0"  # now this consumer's own pending entries: walk them
                entries = read_batch(client, settings, cursor, stopping)
                if not entries:
                    cursor = ">"  # pending walked (or nothing new within the block time)
                    continue
                batch = MicroBatch.of(entries)
                metrics.micro_batch(batch.size, consumer="accounting")
                result = process_batch(accountant, batch, leases)
                if result.done:
                    client.xack(ACTIVITY_STREAM, group, *result.done)
                    for entry_id in result.done:  # emit -> processed lag, from the stream entry id
                        metrics.ingestion_lag(metrics.lag_from(_entry_ms(entry_id) / 1000.0), source="accounting")
                log.info(
                    "micro-batch processed",
                    extra={
                        "events": batch.size,
                        "enterprises": len(result.recomputed),
                        "accounts": sum(len(p) for p in result.recomputed.values()),
                        "acknowledged": len(result.done),
                        "deferred": len(result.deferred),
                    },
                )
                if result.failed:
                    cursor = "0"
                    stopping.wait(1.0)
                else:
                    if result.deferred:  # leased by another replica: walk the pending entries again soon
                        revisit = time.monotonic() + 0.1
                    if cursor != ">":
                        cursor = _text(entries[-1][0])
        except redis.RedisError as error:
            log.warning("redis error in event loop", extra={"error": str(error)})
            cursor = "0"
            stopping.wait(1.0)
        except Exception:
            log.exception("event loop error")
            cursor = "0"
            stopping.wait(1.0)
