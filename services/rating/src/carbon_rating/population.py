"""The rated population: one normalised row per (enterprise, period), cached in Redis.

- `carbon:rating:population` hash "uscc|period" -> Row JSON (model.Row)
- `carbon:rating:population:epoch` moves when any row changes

Rows arrive from (a) every GetRating (the accounts it fetched anyway), (b)
`carbon:events:accounts` stream events (consumer group "rating"; the event
carries the account's figures — an earlier producer's event only names it, and
the account is fetched with GetAccount), and (c)
on demand: `refresh_enterprises` lists the accounts of known enterprises.
Each replica keeps a polars frame plus the benchmark tables and the
national index derived from it, rebuilt in the background when the epoch
moves, so GetRating only does dictionary look-ups.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import grpc
import polars as pl
import redis
from carbon.v1 import accounting_pb2, accounting_pb2_grpc
from carbon_common import events
from carbon_common.redis_conn import as_text, group_entries
from redis.typing import EncodableT, FieldT

from carbon_rating import benchmarks, national
from carbon_rating import scheme as sc
from carbon_rating.builtin import national_config
from carbon_rating.model import ROW_COLUMNS, Row, intensity, to_cents, to_micro
from carbon_rating.vectorised import benchmark_metrics, population_frame, schema

log = logging.getLogger(__name__)
POPULATION_KEY = "carbon:rating:population"
EPOCH_KEY = "carbon:rating:population:epoch"
COMPUTED_KEY = "carbon:rating:population:computed"
"""Hash "uscc|period" -> compute time (ms) of the account the population row was taken from."""
ERASED_KEY = "carbon:rating:erased"
"""Hash uscc -> ms (Redis's clock) of the enterprise's erasure in rating (store.RatingStore.erase)."""
GROUP = "rating"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def row_from_account(account: accounting_pb2.Account) -> Row:
    """Normalise an Account (exact decimals) into integer columns, through the figures its
    AccountStored announcement carries (one mapping for the stream and GetAccount/ListAccounts)."""
    return row_from_stored(events.AccountStored.of(account))


def row_from_stored(stored: events.AccountStored) -> Row:
    """The row of an announced account from the figures the message carries; intensities as
    published by accounting (derived here only where accounting left them unset)."""
    tco2 = to_micro(stored.total_tco2)
    tce = to_micro(stored.energy_tce)
    va = to_cents(stored.value_added_cny)
    revenue = to_cents(stored.revenue_cny)
    tax = to_cents(stored.tax_cny)
    l_va = to_micro(stored.intensity_value_added)
    if l_va is None:
        l_va = intensity(tco2, va)
    l_rev = to_micro(stored.intensity_revenue)
    if l_rev is None:
        l_rev = intensity(tco2, revenue)
    l_tax = to_micro(stored.intensity_tax)
    if l_tax is None:
        l_tax = intensity(tco2, tax)
    return Row(
        uscc=stored.uscc,
        period=stored.period,
        industry=stored.industry_code.strip().upper(),
        region=stored.region_code,
        province=stored.province_code,
        tco2=tco2,
        tce=tce,
        va=va,
        revenue=revenue,
        tax=tax,
        l_va=l_va,
        l_rev=l_rev,
        l_tax=l_tax,
        e_va=intensity(tce, va),
        e_rev=intensity(tce, revenue),
        clean=to_micro(stored.green_electricity_share),
        quality=to_micro(stored.quality_score),
        reduction=to_micro(stored.reduction_rate),
        reduction_tco2=to_micro(stored.reduction_tco2),
        account_digest=stored.input_digest,
        factor_set_version=stored.factor_set_version,
    )


def not_erased(client: redis.Redis, accounts: Iterable[accounting_pb2.Account]) -> list[accounting_pb2.Account]:
    """The accounts computed after their enterprise's latest erasure here (or never erased). An
    account computed before it is erased data that accounting has not deleted yet (the services
    erase independently): it never joins the population nor gets rated again."""
    accounts = list(accounts)
    stamps = [
        (a.name.split("/")[1], a.compute_time.ToMilliseconds()) if a.name.count("/") == 3 else None for a in accounts
    ]
    keep = _computed_after_erasure(client, stamps)
    return [a for a, kept in zip(accounts, keep, strict=True) if kept]


def announced_not_erased(client: redis.Redis, announced: list[events.AccountStored]) -> list[events.AccountStored]:
    """`not_erased` for announcements carrying their account's figures."""
    stamps: list[tuple[str, int] | None] = [(m.uscc, stamp_ms(m) or 0) for m in announced]
    return [m for m, kept in zip(announced, _computed_after_erasure(client, stamps), strict=True) if kept]


def stamp_ms(announced: events.AccountStored) -> int | None:
    """The announced account's compute time in ms (as Timestamp.ToMilliseconds), None if not carried."""
    if announced.compute_time is None:
        return None
    return (announced.compute_time - EPOCH) // timedelta(milliseconds=1)


def _computed_after_erasure(client: redis.Redis, stamps: list[tuple[str, int] | None]) -> list[bool]:
    """For each (uscc, compute time in ms): computed after the enterprise's latest erasure here?"""
    usccs = sorted({stamp[0] for stamp in stamps if stamp is not None})
    if not usccs:
        return [True] * len(stamps)
    values = client.hmget(ERASED_KEY, usccs)
    erased = {uscc: int(value) for uscc, value in zip(usccs, values, strict=True) if value is not None}
    return [stamp is None or stamp[0] not in erased or stamp[1] > erased[stamp[0]] for stamp in stamps]


# Per row field: rows newer than the stored one (by compute time) replace it, in one atomic step;
# a row without a compute time replaces whatever is stored (dev seeding, tests).
_UPSERT = """
local changed = 0
for i = 1, #ARGV, 3 do
  local field, row, computed = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local newer = true
  if computed ~= '' then
    local stored = redis.call('hget', KEYS[2], field)
    if stored and tonumber(stored) > tonumber(computed) then newer = false end
  end
  if newer then
    if redis.call('hget', KEYS[1], field) ~= row then
      redis.call('hset', KEYS[1], field, row)
      changed = changed + 1
    end
    if computed ~= '' then redis.call('hset', KEYS[2], field, computed) end
  end
end
if changed > 0 then redis.call('incr', KEYS[3]) end
return changed
"""


def upsert(client: redis.Redis, rows: Iterable[Row], computed: Sequence[int | None] | None = None) -> int:
    """Store rows that changed; moves the epoch when any did. With `computed` (each row's account
    compute time, ms), a row never replaces one of a later-computed account: replicas consuming the
    accounts stream side by side may apply an account's announcements out of order."""
    rows = list(rows)
    stamps = list(computed) if computed is not None else [None] * len(rows)
    wanted = [(r, c) for r, c in zip(rows, stamps, strict=True) if r.uscc and r.period]
    if not wanted:
        return 0
    args: list[EncodableT] = []
    for row, stamp in wanted:
        args += [f"{row.uscc}|{row.period}", row.to_json(), "" if stamp is None else str(stamp)]
    script = client.register_script(_UPSERT)  # EVALSHA (the script is sent once per Redis)
    return int(script(keys=[POPULATION_KEY, COMPUTED_KEY, EPOCH_KEY], args=args))


def load_frame(client: redis.Redis) -> pl.DataFrame:
    """The whole population as a frame: the rows' JSON decoded column-wise by polars (a province's
    population is read on every rebuild; one Python object per row cost ~20 us each)."""
    raw = client.hvals(POPULATION_KEY)
    texts = pl.Series("row", [as_text(v) for v in raw], dtype=pl.String)
    rows = texts.str.json_decode(pl.Struct(schema())).struct.unnest() if len(texts) else pl.DataFrame(schema=schema())
    text = [c for c, dtype in schema().items() if dtype == pl.Utf8()]
    rows = rows.select(ROW_COLUMNS).cast(schema()).with_columns(pl.col(text).fill_null(""))  # Row's defaults
    return population_frame(rows)


def store_frame(client: redis.Redis, frame: pl.DataFrame, batch: int = 5000) -> None:
    """Bulk-load a population frame (dev seeding, tests)."""
    records = frame.select(ROW_COLUMNS).iter_rows(named=True)
    chunk: dict[FieldT, EncodableT] = {}
    for record in records:
        chunk[f"{record['uscc']}|{record['period']}"] = Row(**record).to_json()
        if len(chunk) >= batch:
            client.hset(POPULATION_KEY, mapping=chunk)
            chunk = {}
    if chunk:
        client.hset(POPULATION_KEY, mapping=chunk)
    client.incr(EPOCH_KEY)


@dataclass(frozen=True)
class PopulationView:
    """An immutable population snapshot with its derived look-up structures."""

    epoch: int
    frame: pl.DataFrame
    national: national.PercentileIndex
    tables: dict[tuple[object, ...], benchmarks.BenchmarkTable] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def table(self, scheme: sc.SchemeVersion) -> benchmarks.BenchmarkTable:
        key = (scheme.benchmark.key(), tuple(sorted(benchmark_metrics(scheme))))
        table = self.tables.get(key)
        if table is None:
            with self.lock:
                table = self.tables.get(key)
                if table is None:
                    table = benchmarks.build_table(self.frame, scheme.benchmark, benchmark_metrics(scheme))
                    self.tables[key] = table
        return table


class PopulationCache:
    def __init__(self, client: redis.Redis, min_sample: int | None = None) -> None:
        self.redis = client
        self.min_sample = int(min_sample if min_sample is not None else national_config().min_sample)
        self._view: PopulationView | None = None
        self._lock = threading.Lock()

    def view(self) -> PopulationView:
        view = self._view
        if view is None:
            self.refresh()
            view = self._view
        assert view is not None
        return view

    def refresh(self, warm: Iterable[sc.SchemeVersion] = ()) -> bool:
        epoch = int(self.redis.get(EPOCH_KEY) or 0)
        if self._view is not None and self._view.epoch == epoch:
            return False
        with self._lock:
            if self._view is not None and self._view.epoch == epoch:
                return False
            frame = load_frame(self.redis)
            view = PopulationView(epoch, frame, national.build_index(frame, self.min_sample))
            for scheme in warm:
                view.table(scheme)
            self._view = view
        return True

    def worker(
        self,
        seconds: float,
        warm: Callable[[], Iterable[sc.SchemeVersion]],
        max_share: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> Callable[[threading.Event], None]:
        """Refresh every `seconds` when the epoch moved; a rebuild that took t seconds waits at
        least t / max_share before the next, so under a province's feed (the epoch moves all the
        time) rebuilding the whole population never takes more than that share of a core."""

        def population_worker(stopping: threading.Event) -> None:
            while not stopping.is_set():
                began = clock()
                try:
                    rebuilt = self.refresh(warm())
                except Exception:
                    log.exception("population refresh failed")
                    rebuilt = False
                took = clock() - began if rebuilt else 0.0
                stopping.wait(max(seconds, took / max_share - took))

        return population_worker


# --------------------------------------------------------------------------- accounting edge


def list_accounts(
    stub: accounting_pb2_grpc.AccountingServiceStub, uscc: str, timeout: float = 5.0
) -> list[accounting_pb2.Account]:
    accounts: list[accounting_pb2.Account] = []
    token = ""
    while True:
        response = stub.ListAccounts(
            accounting_pb2.ListAccountsRequest(parent=f"enterprises/{uscc}", page_size=100, page_token=token),
            timeout=timeout,
        )
        accounts.extend(response.accounts)
        token = response.next_page_token
        if not token:
            return accounts


def _annual_announcement(fields: dict[bytes, bytes]) -> events.AccountStored | None:
    """The annual account an accounts-stream event announces (None for a malformed event, and for
    a month's account: only annual accounts are rated)."""
    try:
        stored = events.ACCOUNTS.decode(fields)
    except events.EventDecodeError as error:
        log.warning("malformed accounts event", extra={"error": str(error)[:200]})
        return None
    return stored if len(stored.period) == 4 else None


def apply_accounts_batch(
    client: redis.Redis,
    stub: accounting_pb2_grpc.AccountingServiceStub,
    stream: str,
    entries: list[tuple[bytes, dict[bytes, bytes]]],
    changed: Callable[[set[str]], object] | None = None,
) -> bool:
    """One micro-batch of accounts events: each announced account's row taken once however many
    events name it (from the latest one: the stream is in store order), from the figures the event
    carries — fetched with GetAccount only from an event of an earlier producer that carries none —
    the rows upserted in one write, `changed(usccs)` then re-rates (publishes) them, the entries
    acknowledged after it. Entries whose account could not be fetched (accounting unavailable) stay
    pending; returns whether any did."""
    latest: dict[str, events.AccountStored] = {}
    ids: dict[str, list[bytes]] = {}
    done: list[bytes] = []
    for entry_id, fields in entries:
        announced = _annual_announcement(fields) if fields else None
        if announced is None:
            done.append(entry_id)
        else:
            latest[announced.account] = announced
            ids.setdefault(announced.account, []).append(entry_id)
    carried = [m for m in latest.values() if m.carries_figures]
    for announced in carried:
        done.extend(ids[announced.account])
    retry = False
    # accounts to fetch, concurrently: one round trip's latency for the micro-batch, not one per account
    calls = [
        (name, stub.GetAccount.future(accounting_pb2.GetAccountRequest(name=name), timeout=5))
        for name, announced in latest.items()
        if not announced.carries_figures
    ]
    fetched = []
    for name, call in calls:
        try:
            fetched.append(call.result())
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.NOT_FOUND:
                log.warning("cannot fetch account from event", extra={"account": name, "code": error.code().name})
                retry = True
                continue
        done.extend(ids[name])
    current = announced_not_erased(client, carried)
    accounts = not_erased(client, fetched)
    rows = [row_from_stored(m) for m in current] + [row_from_account(a) for a in accounts]
    upsert(client, rows, [stamp_ms(m) for m in current] + [a.compute_time.ToMilliseconds() for a in accounts])
    if changed is not None and rows:
        try:
            changed({row.uscc for row in rows})
        except Exception:  # the population is stored; the next change re-rates again
            log.warning("re-rating after account change failed", exc_info=True)
    if done:
        client.xack(stream, GROUP, *done)
    return retry


def stream_worker(
    client: redis.Redis,
    stub: accounting_pb2_grpc.AccountingServiceStub,
    changed: Callable[[set[str]], object] | None = None,
) -> Callable[[threading.Event], None]:
    """Consume the accounts stream into the population; `changed(usccs)` then re-rates (publishes)."""
    consumer = f"{socket.gethostname()}-{os.getpid()}"
    stream = events.ACCOUNTS.name

    def accounts_stream_worker(stopping: threading.Event) -> None:
        events.ACCOUNTS.ensure_group(client, GROUP)
        cursor = "0"  # this consumer's pending entries first, then new ones
        while not stopping.is_set():
            try:
                batches = client.xreadgroup(
                    GROUP, consumer, {stream: cursor}, count=500, block=None if cursor != ">" else 500
                )
            except redis.RedisError:
                log.warning("accounts stream read failed", exc_info=True)
                stopping.wait(1)
                continue
            entries = [(entry_id, fields or {}) for entry_id, fields in group_entries(batches)]
            if not entries:
                cursor = ">"
                continue
            retry = apply_accounts_batch(client, stub, stream, entries, changed)
            if retry:  # leave them pending; walk the pending entries again after a pause
                cursor = "0"
                stopping.wait(1)
            elif cursor != ">":
                cursor = as_text(entries[-1][0])

    return accounts_stream_worker


def refresh_enterprises(
    client: redis.Redis, stub: accounting_pb2_grpc.AccountingServiceStub, usccs: Iterable[str] | None = None
) -> int:
    """On demand: list the accounts of the given (default: every known) enterprise and store their rows."""
    if usccs is None:
        usccs = sorted({as_text(f).split("|")[0] for f in client.hkeys(POPULATION_KEY)})
    changed = 0
    for uscc in usccs:
        accounts = not_erased(client, list_accounts(stub, uscc))
        changed += upsert(client, map(row_from_account, accounts), [a.compute_time.ToMilliseconds() for a in accounts])
    return changed
