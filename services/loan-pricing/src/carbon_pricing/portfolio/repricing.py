"""Book re-pricing: "what happens to my book under product X": every position of a snapshot quoted through the
product's policy exactly as a single quote is (the pricing core's evaluation), recorded in the same decision
log as a SIMULATION entry, never a credit decision — then the rate-adjustment distribution and the annual
interest effect.

A run (`banks/{bank}/repricingRuns/{run}`) is created PENDING and queued; a worker of the pricing service
takes it, quotes the positions in chunks (`SimulatedQuoter`, the core), keeps each position's result in the
run's results hash (written with its decision-log entry) and its progress on the run, so a poll shows
state and positions done; a run whose worker died (heartbeat older than STALE_SECONDS) is taken up again
and resumes after the positions already done. Money is exact: fen x basis points as integers, each
figure rounded once (half-even) to the fen.

Records and Redis layout: portfolio/store.py (RunRecord, RunStore).
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Protocol

import redis
from carbon_common import limits
from carbon_common.errors import ServiceError, invalid_argument, invalid_arguments, not_found

from carbon_pricing.core import SimulationItem
from carbon_pricing.domain import NotPriced, PositionResult
from carbon_pricing.portfolio.core import LoanBookCore, SnapshotName
from carbon_pricing.portfolio.domain import (
    PositionRecord,
    RateAdjustment,
    RunRecord,
    RunSummary,
    cny,
    div_half_even,
    fen,
)
from carbon_pricing.portfolio.store import RunStore

log = logging.getLogger(__name__)

CHUNK = 100  # positions quoted per decision-log append
BP_PER_UNIT = 10_000  # basis points per 1 (100 %)
DEFAULT_TENOR_MONTHS = 12
MAX_TENOR_MONTHS = 600
_RUN_ID = re.compile(r"^[0-9a-f]{20}$")


# ---------------------------------------------------------------- what a run quotes


class SimulatedQuoter(Protocol):
    def simulate(
        self, bank: str, run: str, product: str, reference_rate_pct: Decimal, items: Sequence[SimulationItem]
    ) -> list[PositionResult]:
        """Quote each item through the product's policy as a quote would be; log every priced item in the
        decision log (kind SIMULATION) and store its result under `results_key` with the entry; return
        one result per item: the simulated quote record, or NotPriced (position and reason)."""


def tenor_months(drawn: str, maturity: str, default: int) -> int:
    """Whole months from drawn to maturity (at least 1, at most 600); the default without both dates."""
    if not drawn or not maturity:
        return default
    start, end = date.fromisoformat(drawn), date.fromisoformat(maturity)
    months = (end.year - start.year) * 12 + end.month - start.month - (1 if end.day < start.day else 0)
    return min(max(months, 1), MAX_TENOR_MONTHS)


def items_of(positions: Iterable[PositionRecord], default_tenor: int) -> list[SimulationItem]:
    return [
        SimulationItem(
            position_id=p.position_id,
            uscc=p.enterprise.split("/", 1)[1],
            amount_cny=Decimal(p.outstanding_cny),
            tenor_months=tenor_months(p.drawn_date, p.maturity_date, default_tenor),
        )
        for p in positions
    ]


# ---------------------------------------------------------------- the figures


@dataclass(frozen=True)
class Summary:
    priced: int
    not_priced: Mapping[str, int]
    decisions: Mapping[str, int]
    buckets: tuple[tuple[int, int, int, int], ...]  # (bp, positions, outstanding fen, effect fen), by bp
    priced_outstanding_fen: int
    annual_effect_fen: int


def annual_effect_fen(outstanding_fen_times_bp: int) -> int:
    """Interest over a year of `outstanding x bp` (fen x basis points) in fen, rounded once half-even."""
    return div_half_even(outstanding_fen_times_bp, BP_PER_UNIT)


def summarize(results: Iterable[PositionResult]) -> Summary:
    """Distribution of rate adjustments (positions and outstanding per bp) and the annual interest effect:
    sum of outstanding x bp / 10,000 over priced positions; each figure rounded once from exact sums."""
    not_priced: dict[str, int] = {}
    decisions: dict[str, int] = {}
    by_bp: dict[int, list[int]] = {}
    for r in results:
        if isinstance(r, NotPriced):
            not_priced[r.not_priced] = not_priced.get(r.not_priced, 0) + 1
            continue
        decisions[r.decision.value] = decisions.get(r.decision.value, 0) + 1
        bp, amount = r.rate_adjustment_bp, fen(Decimal(r.amount_cny))
        row = by_bp.setdefault(bp, [0, 0])
        row[0] += 1
        row[1] += amount
    buckets = tuple((bp, n, out, annual_effect_fen(out * bp)) for bp, (n, out) in sorted(by_bp.items()))
    return Summary(
        priced=sum(n for _, n, _, _ in buckets),
        not_priced=dict(sorted(not_priced.items())),
        decisions=dict(sorted(decisions.items())),
        buckets=buckets,
        priced_outstanding_fen=sum(out for _, _, out, _ in buckets),
        annual_effect_fen=annual_effect_fen(sum(out * bp for bp, _, out, _ in buckets)),
    )


def summary_doc(summary: Summary) -> RunSummary:
    def money(amount_fen: int) -> str:
        return format(cny(amount_fen), "f")

    return RunSummary(
        priced=summary.priced,
        not_priced=dict(summary.not_priced),
        decisions=dict(summary.decisions),
        rate_adjustments=[
            RateAdjustment(
                rate_adjustment_bp=bp, positions=n, outstanding_cny=money(out), annual_interest_effect_cny=money(effect)
            )
            for bp, n, out, effect in summary.buckets
        ],
        priced_outstanding_cny=money(summary.priced_outstanding_fen),
        annual_interest_effect_cny=money(summary.annual_effect_fen),
    )


# ---------------------------------------------------------------- use cases


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_run_id() -> str:
    """Time-ordered: 12 hex digits of ms since epoch + 8 random."""
    return f"{int(time.time() * 1000):012x}{secrets.token_hex(4)}"


class RepricingCore:
    """Runs of the calling bank only: the snapshot must be the bank's own; another bank's run is CROSS_TENANT."""

    def __init__(
        self,
        books: LoanBookCore,  # authentication, snapshot names and documents
        store: RunStore,
        quoter: SimulatedQuoter,
        products: Callable[[], Iterable[str]],
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.books = books
        self.store = store
        self.quoter = quoter
        self.products = products
        self._clock = clock or (lambda: datetime.now(UTC))

    def _bank(self, api_key: str, parent: str, field: str = "parent") -> str:
        limits.check_name(parent, field)
        parts = parent.split("/")
        if len(parts) != 2 or parts[0] != "banks" or not parts[1]:
            self.books.banks.authenticate(api_key)  # who asks, before saying what is wrong
            raise invalid_argument(field, f"{limits.quote(parent)} must look like banks/{{bank}}")
        return str(self.books.own_bank(api_key, parts[1], parent))

    def create_run(
        self, api_key: str, parent: str, snapshot: str, product: str, reference_rate_pct: str, default_tenor: int
    ) -> RunRecord:
        bank = self._bank(api_key, parent)
        parsed = self.books.parse_name(api_key, snapshot, "repricing_run.snapshot")
        violations: list[tuple[str, str]] = []
        known = sorted(self.products())
        if product not in known:
            violations.append(("repricing_run.product", f"unknown product; known: {', '.join(known)}"))
        rate = None
        try:
            rate = limits.parse_decimal(reference_rate_pct, "repricing_run.reference_rate_pct")
            if not Decimal(0) < rate < Decimal(100) or rate.as_tuple().exponent < -6:  # type: ignore[operator]
                violations.append(
                    ("repricing_run.reference_rate_pct", "a percentage > 0 and < 100, at most 6 decimals")
                )
        except ServiceError as error:
            violations.extend(error.field_violations)
        tenor = default_tenor or DEFAULT_TENOR_MONTHS
        if not 1 <= tenor <= MAX_TENOR_MONTHS:
            violations.append(("repricing_run.default_tenor_months", f"must be between 1 and {MAX_TENOR_MONTHS}"))
        if violations:
            raise invalid_argument(*violations[0]) if len(violations) == 1 else invalid_arguments(violations)
        doc_snapshot = self.books.store.get(parsed.bank, parsed.book, parsed.snapshot)
        if doc_snapshot is None:
            raise not_found(str(parsed))
        run = new_run_id()
        now = _iso(self._clock())
        record = RunRecord(
            name=f"banks/{bank}/repricingRuns/{run}",
            snapshot=str(parsed),
            product=product,
            reference_rate_pct=format(rate, "f"),
            default_tenor_months=tenor,
            state="PENDING",
            positions_total=doc_snapshot.position_count,
            positions_done=0,
            create_time=now,
            update_time=now,
        )
        self.store.create(bank, run, record)
        return record

    def _run(self, api_key: str, name: str) -> tuple[str, str]:
        limits.check_name(name, "name")
        parts = name.split("/")
        if len(parts) != 4 or parts[0] != "banks" or parts[2] != "repricingRuns":
            self.books.banks.authenticate(api_key)
            raise invalid_argument("name", f"{limits.quote(name)} must look like banks/{{bank}}/repricingRuns/{{run}}")
        bank = self._bank(api_key, f"banks/{parts[1]}", "name")
        if not _RUN_ID.match(parts[3]):
            raise not_found(name)
        return bank, parts[3]

    def get_run(self, api_key: str, name: str) -> RunRecord:
        bank, run = self._run(api_key, name)
        doc = self.store.get(bank, run)
        if doc is None:
            raise not_found(name)
        return doc

    def run_results(self, api_key: str, name: str) -> tuple[RunRecord, list[PositionResult]]:
        bank, run = self._run(api_key, name)
        doc = self.store.get(bank, run)
        if doc is None:
            raise not_found(name)
        return doc, sorted(self.store.results(bank, run), key=lambda r: r.position_id)

    def list_runs(self, api_key: str, parent: str, page_size: int, page_token: str) -> tuple[list[RunRecord], str]:
        bank = self._bank(api_key, parent)
        try:
            offset = int(page_token) if page_token else 0
        except ValueError:
            raise invalid_argument("page_token", "is not a token returned by a previous list call") from None
        if offset < 0 or page_size < 0:
            raise invalid_argument("page_token" if offset < 0 else "page_size", "must not be negative")
        size = min(page_size or 50, 1000)
        docs, more = self.store.page(bank, offset, size)
        return docs, str(offset + size) if more else ""

    # -- the worker ---------------------------------------------------------
    def execute(self, bank: str, run: str, progress: Callable[[int, int], None] | None = None) -> RunRecord | None:
        """Quote the run's remaining positions chunk by chunk, then store the summary (None: no such run)."""
        record = self.store.get(bank, run)
        if record is None:
            return None
        snapshot = SnapshotName.parse(record.snapshot)
        book = self.books.store.get(snapshot.bank, snapshot.book, snapshot.snapshot)
        if book is None:
            return self.store.update(
                bank, run, record, state="FAILED", error="snapshot gone", update_time=_iso(self._clock())
            )
        done = self.store.done(bank, run)
        items = [i for i in items_of(book.positions, record.default_tenor_months) if i.position_id not in done]
        total = record.positions_total
        record = self.store.update(
            bank, run, record, state="RUNNING", heartbeat=time.time(), update_time=_iso(self._clock())
        )
        rate = Decimal(record.reference_rate_pct)
        for start in range(0, len(items), CHUNK):
            chunk = items[start : start + CHUNK]
            results = self.quoter.simulate(bank, record.name, record.product, rate, chunk)
            self.store.store_unpriced(bank, run, results)
            finished = total - len(items) + start + len(chunk)
            record = self.store.update(
                bank, run, record, positions_done=finished, heartbeat=time.time(), update_time=_iso(self._clock())
            )
            if progress is not None:
                progress(finished, total)
        stored = self.store.results(bank, run)
        versions = sorted({r.policy_bundle_version for r in stored if not isinstance(r, NotPriced)} - {""})
        return self.store.update(
            bank,
            run,
            record,
            state="SUCCEEDED",
            positions_done=len(stored),
            policy_bundle_version=", ".join(versions),
            update_time=_iso(self._clock()),
            **summary_doc(summarize(stored)).model_dump(),
        )

    def _fail(self, bank: str, run: str, error: str) -> None:
        record = self.store.get(bank, run)
        if record is not None:
            self.store.update(bank, run, record, state="FAILED", error=error)

    def worker(self, poll_seconds: float = 0.2) -> Callable[[threading.Event], None]:
        def repricing_worker(stopping: threading.Event) -> None:
            while not stopping.is_set():
                try:
                    taken = self.store.take()
                    if taken is None:
                        self.store.requeue_stale(time.time())
                        stopping.wait(poll_seconds)
                        continue
                    bank, run = taken
                    try:
                        self.execute(bank, run)
                    except ServiceError as error:  # a peer or the policy engine: the run says why
                        self._fail(bank, run, error.message[:200])
                    except redis.RedisError:
                        raise
                    except Exception as error:  # never leave a run RUNNING without a worker
                        log.exception("re-pricing run failed", extra={"run": run})
                        self._fail(bank, run, type(error).__name__)
                    self.store.release(bank, run)
                except redis.RedisError as error:  # store down: try again later; a taken run is requeued
                    log.warning("re-pricing worker: store unavailable", extra={"error": type(error).__name__})
                    stopping.wait(1.0)

        return repricing_worker
