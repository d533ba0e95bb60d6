"""Loan book use cases, shared by the gRPC and REST edges.

Every call authenticates the bank first (API key -> banks/{id}) and then stays inside
banks/{id}/books/...: another bank's name is PERMISSION_DENIED (CROSS_TENANT) before any of its
data is looked up. Financed emissions read consent decisions and accounts in bulk for the whole
book (sources), accounts only of enterprises whose decision allowed it, and compute with
`frames` (the vectorised form of `domain`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal

import polars as pl
from carbon_common import limits, names
from carbon_common.errors import already_exists, invalid_argument, not_found, permission_denied

from carbon_pricing.portfolio import frames
from carbon_pricing.portfolio.book import BookRow, digest, validate_rows
from carbon_pricing.portfolio.domain import (
    Benchmarks,
    HighCarbonGrades,
    PcafTable,
    Position,
    PositionRecord,
    StoredSnapshot,
)
from carbon_pricing.portfolio.grades import GradeSource
from carbon_pricing.portfolio.sources import AccessDecisions, AccountFacts
from carbon_pricing.portfolio.store import BookStore
from carbon_pricing.sources import BankDirectory

_SNAPSHOT_ID = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class SnapshotName:
    bank: str
    book: str
    snapshot: str

    def __str__(self) -> str:
        return f"banks/{self.bank}/books/{self.book}/snapshots/{self.snapshot}"

    @classmethod
    def parse(cls, name: str) -> SnapshotName:
        """A stored (already validated) snapshot name."""
        parts = name.split("/")
        return cls(parts[1], parts[3], parts[5])


@dataclass(frozen=True)
class Financed:
    snapshot: str
    period: str
    rows: pl.DataFrame  # frames.financed columns
    totals: frames.FrameTotals
    pcaf_version: str
    benchmark_version: str
    benchmark_illustrative: bool
    previous: Financed | None = None
    snapshot_digest: str = ""  # sha256 of the snapshot's positions (what the figures are reproduced from)
    snapshot_create_time: str = ""
    grades: frames.GradeTotals | None = None  # when the core has a grade source
    high_carbon_version: str = ""  # the compared (earlier) snapshot, year on year


def _snapshot_id(value: str, field: str) -> str:
    limits.check_length(value, field, 10)
    if not _SNAPSHOT_ID.match(value):
        raise invalid_argument(field, f"{limits.quote(value)} must be a date YYYY-MM-DD")
    try:
        limits.check_date(datetime.strptime(value, "%Y-%m-%d").date(), field)
    except ValueError:
        raise invalid_argument(field, f"{limits.quote(value)} is not a calendar date") from None
    return value


class LoanBookCore:
    def __init__(
        self,
        store: BookStore,
        banks: BankDirectory,
        access: AccessDecisions,
        accounts: AccountFacts,
        benchmarks: Benchmarks | None = None,
        pcaf: PcafTable | None = None,
        clock: Callable[[], datetime] | None = None,
        grades: GradeSource | None = None,
        high_carbon: HighCarbonGrades | None = None,
    ) -> None:
        self.store = store
        self.banks = banks
        self.access = access
        self.accounts = accounts
        self.benchmarks = benchmarks or Benchmarks.load()
        self.pcaf = pcaf or PcafTable.load()
        self.grades = grades
        self.high_carbon = high_carbon or HighCarbonGrades.load()
        self._clock = clock or (lambda: datetime.now(UTC))

    # -- names and tenancy --------------------------------------------------
    def _bank(self, api_key: str, requested_bank: str, name: str) -> str:
        bank = self.banks.authenticate(api_key)  # before any field is interpreted
        if requested_bank != bank:
            raise permission_denied(
                "CROSS_TENANT",
                f"banks/{bank} may only act under banks/{bank}",
                bank=f"banks/{bank}",
                requested=limits.quote(name),
            )
        return bank

    def authenticate(self, api_key: str) -> str:
        """API key -> bank id (UNAUTHENTICATED otherwise)."""
        return self.banks.authenticate(api_key)

    def own_bank(self, api_key: str, requested_bank: str, name: str) -> str:
        """The authenticated bank, which must be `requested_bank` (else CROSS_TENANT)."""
        return self._bank(api_key, requested_bank, name)

    def _parent(self, api_key: str, parent: str) -> tuple[str, str]:
        limits.check_name(parent, "parent")
        parts = parent.split("/")
        bank_part = parts[1] if len(parts) == 4 and parts[0] == "banks" and parts[2] == "books" else ""
        if not bank_part:
            self.banks.authenticate(api_key)
            raise invalid_argument("parent", f"{limits.quote(parent)} must look like banks/{{bank}}/books/{{book}}")
        bank = self._bank(api_key, bank_part, parent)
        names.validate_id(parts[3], "parent")
        return bank, parts[3]

    def parse_name(self, api_key: str, name: str, field: str = "name") -> SnapshotName:
        limits.check_name(name, field)
        parts = name.split("/")
        ok = len(parts) == 6 and parts[0] == "banks" and parts[2] == "books" and parts[4] == "snapshots"
        if not ok:
            self.banks.authenticate(api_key)
            raise invalid_argument(
                field, f"{limits.quote(name)} must look like banks/{{bank}}/books/{{book}}/snapshots/{{date}}"
            )
        bank = self._bank(api_key, parts[1], name)
        names.validate_id(parts[3], field)
        return SnapshotName(bank, parts[3], _snapshot_id(parts[5], field))

    def check_parent(self, api_key: str, parent: str) -> None:
        """Authentication and tenancy of a parent, before an upload body is parsed."""
        self._parent(api_key, parent)

    # -- use cases ----------------------------------------------------------
    def create_snapshot(
        self, api_key: str, parent: str, snapshot_id: str, raw_rows: list[dict[str, str]] | list[BookRow]
    ) -> tuple[StoredSnapshot, bool]:
        """Stores a snapshot (all rows or none); returns (record, created). The same rows again
        return the stored snapshot; other rows under an existing id are ALREADY_EXISTS."""
        bank, book = self._parent(api_key, parent)
        snapshot = _snapshot_id(snapshot_id, "snapshot_id")
        limits.check_count(len(raw_rows), "positions", limits.current().max_upload_rows)
        rows = raw_rows if raw_rows and isinstance(raw_rows[0], BookRow) else validate_rows(raw_rows)  # type: ignore[arg-type]
        name = str(SnapshotName(bank, book, snapshot))
        record = StoredSnapshot(
            name=name,
            digest=digest(rows),
            position_count=len(rows),
            outstanding_cny=format(sum(r.position.outstanding_cny for r in rows), "f"),
            create_time=self._clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            positions=[PositionRecord.model_validate(r.doc()) for r in rows],
        )
        existing = self.store.create(bank, book, snapshot, record)
        if existing is None:
            return record, True
        if existing.digest != record.digest:
            raise already_exists(name, f"{name} already exists with other positions (snapshots are immutable)")
        return existing, False

    def list_snapshots(self, api_key: str) -> tuple[str, list[tuple[str, str]]]:
        """The calling bank and its (book, snapshot) pairs."""
        bank = self.banks.authenticate(api_key)
        return bank, self.store.snapshots(bank)

    def get_snapshot(self, api_key: str, name: str) -> StoredSnapshot:
        parsed = self.parse_name(api_key, name)
        doc = self.store.get(parsed.bank, parsed.book, parsed.snapshot)
        if doc is None:
            raise not_found(str(parsed))
        return doc

    def financed_emissions(
        self, api_key: str, name: str, period: str, compare_snapshot: str = "", compare_period: str = ""
    ) -> Financed:
        parsed = self.parse_name(api_key, name)
        year = _year(period, "reporting_period")
        previous = None
        if compare_snapshot:
            earlier = self.parse_name(api_key, compare_snapshot, "compare_snapshot")
            previous = self._compute(
                earlier, _year(compare_period, "compare_period") if compare_period else str(int(year) - 1)
            )
        elif compare_period:
            raise invalid_argument("compare_period", "needs compare_snapshot")
        current = self._compute(parsed, year)
        return replace(current, previous=previous)

    def _compute(self, parsed: SnapshotName, period: str) -> Financed:
        doc = self.store.get(parsed.bank, parsed.book, parsed.snapshot)
        if doc is None:
            raise not_found(str(parsed))
        positions = [_position(p) for p in doc.positions]
        usccs = [p.uscc for p in positions]
        decisions = self.access.decisions(f"banks/{parsed.bank}", usccs, period)
        allowed = [u for u, a in decisions.items() if a.allowed]
        # Only enterprises whose decision allowed the read are asked for (and kept).
        accounts = self.accounts.frame(allowed, period) if allowed else frames.accounts_frame([])
        accounts = accounts.filter(pl.col("uscc").is_in(allowed))
        access_frame = pl.DataFrame(
            [{"uscc": u, "allowed": a.allowed, "consent": a.consent, "reason": a.reason} for u, a in decisions.items()],
            schema=frames.ACCESS_SCHEMA,
        )
        rows = frames.financed(
            frames.positions_frame(positions),
            accounts,
            access_frame,
            self.benchmarks,
            self.pcaf,
        )
        grade_totals = None
        if self.grades is not None:
            graded = self.grades.frame(f"banks/{parsed.bank}", usccs)
            grade_totals = frames.grade_totals(rows, graded, self.high_carbon.schemes)
        return Financed(
            snapshot=str(parsed),
            period=period,
            rows=rows,
            totals=frames.totals(rows),
            pcaf_version=self.pcaf.version,
            benchmark_version=self.benchmarks.version,
            benchmark_illustrative=self.benchmarks.status == "illustrative",
            snapshot_digest=doc.digest,
            snapshot_create_time=doc.create_time,
            grades=grade_totals,
            high_carbon_version=self.high_carbon.version if grade_totals is not None else "",
        )


def _year(period: str, field: str) -> str:
    limits.check_length(period, field, 4)
    names.parse_period(period, field)
    if len(period) != 4:
        raise invalid_argument(field, "must be a year YYYY")
    return period


def _position(p: PositionRecord) -> Position:
    return Position(
        position_id=p.position_id,
        uscc=p.enterprise.split("/", 1)[1],
        product=p.product,
        outstanding_cny=Decimal(p.outstanding_cny),
        equity_plus_debt_cny=Decimal(p.equity_plus_debt_cny),
        industry=p.industry_code,
        region=p.region_code,
        listed=p.listed,
        evic_cny=Decimal(p.evic_cny) if p.evic_cny else None,
        revenue_cny=Decimal(p.revenue_cny) if p.revenue_cny else None,
    )
