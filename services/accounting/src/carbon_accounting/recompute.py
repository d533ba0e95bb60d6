"""The recompute use cases: an enterprise's accounts computed from its raw data (the month
records it is summed from, the stored base-year account) and stored; the event consumer's
per-micro-batch use case (`process_batch`). The arithmetic is compute.py (pure); storage is
store.py; the raw data is read through activity.py."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import grpc
from carbon.v1 import accounting_pb2, enterprise_pb2, enterprise_pb2_grpc
from carbon_common import metrics, names
from carbon_common.errors import ServiceError, from_rpc_error, not_found, unavailable
from carbon_common.redis_conn import as_text
from carbon_common.ttlcache import TtlCache
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
from carbon_accounting.store import AccountStore, Leases, StoreView

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
        # registered enterprises' attributes (immutable in the registry: settings.enterprise_cache_seconds)
        self._attributes: TtlCache[str, Enterprise] = TtlCache(
            settings.enterprise_cache_seconds, settings.enterprise_cache_entries
        )
        self._locks: dict[str, threading.RLock] = {}
        self._locks_guard = threading.Lock()

    def enterprise(self, uscc: str) -> Enterprise:
        cached = self._attributes.get(uscc)
        if cached is not None:
            return cached
        asked = time.monotonic()
        ent = self._registered(uscc)
        attributes = Enterprise(uscc, ent.industry_code, ent.province_code, ent.region_code)
        self._attributes.put(uscc, attributes, asked)
        return attributes

    def enterprises_of(self, usccs: Sequence[str]) -> dict[str, Enterprise]:
        """Several enterprises' attributes: those not cached asked of the registry concurrently;
        unknown ones are left out. A registry outage raises (the caller retries)."""
        out: dict[str, Enterprise] = {}
        missing = []
        for uscc in usccs:
            cached = self._attributes.get(uscc)
            if cached is not None:
                out[uscc] = cached
            else:
                missing.append(uscc)
        asked = time.monotonic()
        calls = [
            (
                uscc,
                self.enterprises.GetEnterprise.future(
                    enterprise_pb2.GetEnterpriseRequest(name=f"enterprises/{uscc}"),
                    timeout=self.settings.peer_timeout_seconds,
                ),
            )
            for uscc in missing
        ]
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
            self._attributes.put(uscc, out[uscc], asked)
        return {uscc: out[uscc] for uscc in usccs if uscc in out}

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
        meters, invoices = activity.relisted(
            lambda: (
                activity.month_meters(data_dir, usccs, month, self.settings.meter_interval_seconds),
                activity.month_invoices(data_dir, usccs, month),
            )
        )
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
        if stored is not None and stored.digest == digest:
            return Baseline(period, stored.total_tco2, digest)
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


def entry_ms(entry_id: bytes | str) -> int:
    """The ms part of a stream entry id (when Redis added it)."""
    return int(as_text(entry_id).partition("-")[0])


@dataclass
class MicroBatch:
    """Stream entries read together, grouped by enterprise: every account they touch is
    recomputed once, however many of the entries name it (decoded by consumer.micro_batch)."""

    months: dict[str, set[str]] = field(default_factory=dict)  # uscc -> months named by its events
    entries: dict[str, list[bytes]] = field(default_factory=dict)  # uscc -> its entry ids
    ignored: list[bytes] = field(default_factory=list)  # deleted or malformed: acknowledged as they are
    size: int = 0

    def add(self, entry_id: bytes, uscc: str, months: Iterable[str]) -> None:
        self.months.setdefault(uscc, set()).update(months)
        self.entries.setdefault(uscc, []).append(entry_id)


@dataclass
class BatchResult:
    done: list[bytes]  # entry ids whose accounts are stored (or that need no account): XACK them
    recomputed: dict[str, list[str]]  # uscc -> periods recomputed once each
    failed: bool  # a transient failure left the remaining entries pending
    deferred: list[str] = field(default_factory=list)  # leased by another replica: left pending


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
            if uscc in erased and all(entry_ms(e) <= erased[uscc] for e in batch.entries[uscc]):
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
