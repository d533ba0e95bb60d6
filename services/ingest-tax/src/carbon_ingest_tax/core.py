"""Use cases of ingest-tax: an invoice batch validated, classified, filed under its periods and
stored once (idempotent per request id); the quarantine list; maintenance. Edges (grpc_api, the
REST upload router) call these; storage is store.py, the rules are domain.py and classify.py.

A reversal whose original is not known (never ingested, or held in quarantine) is quarantined
with ORIGINAL_INVOICE_UNKNOWN, never netted in a guessed month. It is not released by itself
when the original arrives later: the enterprise re-submits it (a new request_id) after the
original, and the accepted line then leaves the quarantine list like any other. (Invoices
stored before periods were recorded get theirs from backfill_periods, a one-off worker at
start, or when uploaded again: the lines count as duplicates and their period is recorded.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Protocol

from carbon.v1 import consent_pb2
from carbon.v1 import ingest_tax_pb2 as pb
from carbon_common import metrics
from carbon_common.errors import failed_precondition, invalid_argument
from carbon_common.names import parse_enterprise
from carbon_ingest.common import KeyedLocks, SeqClock, require_not_drained, validate_request_id

from carbon_ingest_tax.classify import NON_ENERGY, Quarantine, Tables
from carbon_ingest_tax.convert import request_fingerprint, validate_invoices
from carbon_ingest_tax.domain import GRANTEE, InvoiceRow, Line, PeriodRow, invoice_key
from carbon_ingest_tax.store import BatchCommit, TaxStore

SCOPE = consent_pb2.CONSENT_SCOPE_TAX_INVOICES
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 100, 1000


class Gate(Protocol):
    def require(self, uscc: str, grantee: str, scope: int, data_time: datetime | None = None) -> str: ...


@dataclass
class NonEnergyTotal:
    """A period's non-energy purchases, summed (stored as one aggregate row)."""

    amount: Decimal = Decimal(0)
    tax: Decimal = Decimal(0)
    lines: int = 0


@dataclass
class Filing:
    """What a batch's lines come to while they are decided, before anything is written."""

    commit: BatchCommit
    periods: dict[str, str]  # invoice key -> period, recorded before or accepted in this batch
    rows: list[PeriodRow] = field(default_factory=list)
    non_energy: dict[str, NonEnergyTotal] = field(default_factory=dict)

    @property
    def response(self) -> pb.IngestInvoicesResponse:
        return self.commit.response

    def quarantine(self, line: Line, reason: str, message: str) -> None:
        entry = pb.QuarantinedLine(
            invoice_number=line.invoice_number, line_number=line.line_number, reason=reason, message=message
        )
        self.response.quarantined.append(entry)
        self.commit.quarantined[f"{line.invoice_number}:{line.line_number:06d}"] = entry.SerializeToString()

    def record_period(self, line: Line) -> None:
        """A blue invoice's period, so that a reversal of it (in this batch or later) finds it."""
        self.periods[invoice_key(line.direction, line.invoice_number)] = line.month
        self.commit.new_periods[invoice_key(line.direction, line.invoice_number)] = line.month


class TaxCore:
    def __init__(
        self,
        store: TaxStore,
        gate: Gate,
        tables: Tables | None = None,
        tz: str = "Asia/Shanghai",
        max_invoices: int = 10_000,
    ) -> None:
        self.store = store
        self.gate = gate
        self.tables = tables or Tables()
        self.tz = tz
        self.max_invoices = max_invoices
        self.locks = KeyedLocks()
        self.clock = SeqClock()

    def ingest(
        self, parent: str, request_id: str, invoices: Sequence[pb.Invoice], parent_field: str = "parent"
    ) -> pb.IngestInvoicesResponse:
        uscc = parse_enterprise(parent, parent_field)
        validate_request_id(request_id)
        lines = validate_invoices(uscc, invoices, int(datetime.now(UTC).timestamp()), self.tz, self.max_invoices)
        require_not_drained(self.store.redis)
        # The consent's data window must cover every invoice in the batch.
        issue_times = sorted(inv.issue_time.ToDatetime(tzinfo=UTC) for inv in invoices)
        for edge in {issue_times[0], issue_times[-1]}:
            self.gate.require(uscc, GRANTEE, SCOPE, edge)
        fp = request_fingerprint(uscc, invoices)
        with self.locks.hold(uscc):
            record = self.store.batch_record(uscc, request_id)
            if record is not None:
                if record[0] != fp:
                    raise failed_precondition(
                        "REQUEST_ID_REUSED",
                        f"request_id {request_id!r} was already used for a different batch",
                        request_id=request_id,
                    )
                result = pb.IngestInvoicesResponse.FromString(record[1])
                result.replayed = True
                return result
            response = self._store(uscc, request_id, fp, len(invoices), lines)
        metrics.ingestion_readings(response.energy_lines + response.revenue_lines, source="tax")
        metrics.ingestion_lag(metrics.lag_from(issue_times[-1]), source="tax")
        return response

    def _store(
        self, uscc: str, request_id: str, fp: str, invoice_count: int, lines: list[Line]
    ) -> pb.IngestInvoicesResponse:
        batch = f"enterprises/{uscc}/invoiceBatches/{request_id}"
        originals = sorted({invoice_key(line.direction, line.original) for line in lines if line.red_letter})
        filing = Filing(
            BatchCommit(
                uscc, request_id, fp, batch, pb.IngestInvoicesResponse(batch=batch, invoices=invoice_count), []
            ),
            self.store.periods(uscc, originals),
        )
        seen = self.store.seen_lines(uscc, [line.key for line in lines])
        seq = self.clock.next()
        # Blue lines first, so that a reversal finds an original accepted in the same batch.
        for line, stored in sorted(zip(lines, seen, strict=True), key=lambda pair: pair[0].red_letter):
            self._file(uscc, request_id, line, stored, seq, filing)
        for month, total in sorted(filing.non_energy.items()):
            filing.rows.append(
                PeriodRow(month, InvoiceRow.non_energy_total(uscc, month, total.amount, total.tax, seq, self.tz))
            )
        self.store.write_rows(filing.commit, filing.rows)
        self.store.commit(filing.commit)
        return filing.response

    def _file(self, uscc: str, request_id: str, line: Line, stored: str | None, seq: int, filing: Filing) -> None:
        """Decide one line: duplicate, conflicting duplicate, held reversal, quarantined, or filed."""
        response = filing.response
        digest = line.digest()
        if stored is not None:
            stored_digest, _, owner = stored.partition("|")
            if owner != request_id:
                if stored_digest == digest:
                    response.duplicate_lines += 1
                    if not line.red_letter:  # (re)records the period of an original stored before periods existed
                        filing.record_period(line)
                else:
                    filing.quarantine(
                        line,
                        "CONFLICTING_DUPLICATE",
                        "同一发票号码和行号已以不同内容入库 / this invoice line was stored before "
                        "with different content; invoices are immutable, please check",
                    )
                return
        period = line.month
        if line.red_letter:
            reversed_period = filing.periods.get(invoice_key(line.direction, line.original))
            if reversed_period is None:
                filing.quarantine(
                    line,
                    "ORIGINAL_INVOICE_UNKNOWN",
                    f"红字发票冲销的原发票 {line.original} 尚未入库（或在隔离中），本行暂不计入任何月份；"
                    "请先上传原发票，再重新提交本红字发票 / the invoice this red-letter invoice reverses "
                    f"({line.original}) has not been accepted; the line is held and counted in no month. "
                    "Upload the original, then submit this red-letter invoice again",
                )
                return
            period = reversed_period  # the reversal reduces the month of the invoice it reverses
        outcome = self._classify(line)
        if isinstance(outcome, Quarantine):
            filing.quarantine(line, outcome.reason, outcome.message)
            return
        filing.commit.new_lines[line.key] = f"{digest}|{request_id}"
        filing.commit.accepted.append(f"{line.invoice_number}:{line.line_number:06d}")
        if not line.red_letter:
            filing.record_period(line)
        energy_type, quantity, unit = outcome
        if energy_type == NON_ENERGY:
            response.non_energy_lines += 1
            total = filing.non_energy.setdefault(period, NonEnergyTotal())
            total.amount += line.amount
            total.tax += line.tax
            total.lines += 1
            return
        if line.direction == "sale":
            response.revenue_lines += 1
        else:
            response.energy_lines += 1
        filing.rows.append(PeriodRow(period, InvoiceRow.of_line(uscc, line, energy_type, quantity, unit, seq)))

    def _classify(self, line: Line) -> tuple[str, Decimal | None, str | None] | Quarantine:
        if line.direction == "sale":
            return "sale", None, None
        kind = self.tables.classify(line.tax_code, line.item_name)
        if isinstance(kind, Quarantine) or kind == NON_ENERGY:
            return kind if isinstance(kind, Quarantine) else (NON_ENERGY, None, None)
        if line.quantity is None:
            return Quarantine(
                "MISSING_QUANTITY",
                "能源发票行缺少数量 / the energy line has no quantity; the amount alone cannot give the energy bought",
            )
        if not line.unit:
            return Quarantine("UNKNOWN_UNIT", "能源发票行缺少计量单位 / the energy line has no unit")
        normalised = self.tables.normalise(kind, line.unit, line.quantity)
        if isinstance(normalised, Quarantine):
            return normalised
        return kind, normalised[0], normalised[1]

    # ------------------------------------------------------------ quarantine, maintenance

    def list_quarantined(self, parent: str, page_size: int, page_token: str) -> pb.ListQuarantinedLinesResponse:
        uscc = parse_enterprise(parent, "parent")
        if page_size < 0:
            raise invalid_argument("page_size", "must not be negative")
        size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        entries = self.store.quarantined(uscc)
        keys = sorted(entries)
        if page_token:
            keys = [k for k in keys if k > page_token]
        response = pb.ListQuarantinedLinesResponse()
        for key in keys[:size]:
            response.lines.append(pb.QuarantinedLine.FromString(entries[key]))
        if len(keys) > size:
            response.next_page_token = keys[size - 1]
        return response

    def backfill_periods(self) -> int:
        """The one-off migration of periods (TaxStore.record_periods_of_partitions)."""
        return self.store.record_periods_of_partitions()

    def compact(self, min_files: int = 2) -> int:
        return self.store.compact(min_files)

    def erase(self, uscc: str) -> dict[str, int]:
        with self.locks.hold(uscc):
            return self.store.erase(uscc)
