"""Invoice batches: validation, classification, durable storage, idempotency.

Raw rows: $CARBON_DATA_DIR/invoices/month=YYYY-MM/b-<hash>.parquet (raw-data contract,
carbon_ingest.rawdata). The month is the accounting period: the month of the issue time in
Asia/Shanghai, except for red-letter (红字) lines, which are filed under the period of the blue
invoice they reverse (its `original_invoice_number`) so that the reversal reduces that month,
not the month it was issued in; the reversal's own issue_time stays on the row for audit.
A reversal whose original is not known (never ingested, or held in quarantine) is quarantined
with ORIGINAL_INVOICE_UNKNOWN, never netted in a guessed month. It is not released by itself
when the original arrives later: the enterprise re-submits it (a new request_id) after the
original, and the accepted line then leaves the quarantine list like any other. (Invoices
stored before periods were recorded get theirs from backfill_periods, a one-off worker at
start, or when uploaded again: the lines count as duplicates and their period is recorded.)
Redis (prefix carbon:ingest-tax:):
  batch:{uscc}:{request_id}    idempotency record: fp, result
  intent:{uscc}:{request_id}   months a not-yet-committed batch may have written
  lines:{uscc}                 {direction}:{invoice}:{line} -> digest|request_id of the batch that stored it
  periods:{uscc}               {direction}:{invoice} -> YYYY-MM, the period of each accepted blue invoice
  quarantine:{uscc}            {invoice}:{line} -> QuarantinedLine
  periods-migrated             set once backfill_periods has recorded the periods of older data
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import polars as pl
import redis
from carbon.v1 import consent_pb2
from carbon.v1 import ingest_tax_pb2 as pb
from carbon_common import events, limits, metrics
from carbon_common.errors import ServiceError, failed_precondition, invalid_argument, invalid_arguments
from carbon_common.limits import LimitError
from carbon_common.names import parse_enterprise
from carbon_common.redis_conn import as_text
from carbon_ingest import parquet_io, rawdata
from carbon_ingest.common import (
    KeyedLocks,
    SeqClock,
    redis_errors,
    require_not_drained,
    validate_request_id,
)
from google.type import decimal_pb2

from carbon_ingest_tax.classify import NON_ENERGY, Quarantine, Tables

P = "carbon:ingest-tax:"
GRANTEE = "platform"
SCOPE = consent_pb2.CONSENT_SCOPE_TAX_INVOICES
MONEY = Decimal("0.01")
_INVOICE_NUMBER = re.compile(r"^\d{8,20}$")
_TAX_CODE = re.compile(r"^\d{19}$")
_TAXPAYER_ID = re.compile(r"^[0-9A-Z]{15,20}$")
PERIODS_MIGRATED = f"{P}periods-migrated"
MIN_TIME = 946684800
MAX_MONEY = Decimal(10) ** 15


class Gate(Protocol):
    def require(self, uscc: str, grantee: str, scope: int, data_time: datetime | None = None) -> str: ...


@dataclass
class Line:
    """One validated line, with the enterprise's view of it."""

    invoice_number: str
    line_number: int
    issue_time: int
    month: str
    direction: str  # purchase | sale
    red_letter: bool
    original: str | None
    tax_code: str
    item_name: str
    unit: str
    quantity: Decimal | None
    amount: Decimal
    tax: Decimal

    @property
    def key(self) -> str:
        return f"{self.direction}:{self.invoice_number}:{self.line_number}"

    def digest(self) -> str:
        text = "\x1f".join(
            str(x)
            for x in (
                self.issue_time,
                self.red_letter,
                self.original,
                self.tax_code,
                self.item_name,
                self.unit,
                self.quantity,
                self.amount,
                self.tax,
            )
        )
        return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def _decimal(
    message: decimal_pb2.Decimal,
    field: str,
    violations: list[tuple[str, str]],
    places: int | None = None,
    required: bool = False,
) -> Decimal | None:
    if not message.value:
        if required:
            violations.append((field, "is required"))
        return None
    try:
        value = limits.parse_decimal(message.value, field)
    except LimitError as error:
        violations.extend(error.field_violations)
        return None
    if abs(value) >= MAX_MONEY:
        violations.append((field, "is out of range"))
        return None
    if places is not None and value.as_tuple().exponent < -places:  # type: ignore[operator]  # parse_decimal takes digits only: never NaN/Infinity, so an int exponent
        violations.append((field, f"at most {places} decimal places"))
        return None
    return value


def validate_invoices(uscc: str, invoices: Sequence[pb.Invoice], now: int, tz: str, max_invoices: int) -> list[Line]:
    """Every field checked; all violations named, e.g. invoices[3].lines[1].quantity."""
    violations: list[tuple[str, str]] = []
    if not invoices:
        raise invalid_argument("invoices", "at least one invoice is required")
    if len(invoices) > max_invoices:
        raise invalid_argument("invoices", f"at most {max_invoices} invoices per batch")
    zone = ZoneInfo(tz)
    lines: list[Line] = []
    seen_invoices: dict[str, int] = {}
    for i, invoice in enumerate(invoices):
        f = f"invoices[{i}]"
        number = invoice.invoice_number.strip()
        if not _INVOICE_NUMBER.match(number):
            violations.append((f"{f}.invoice_number", "is required: 8 to 20 digits (数电发票: 20)"))
        elif number in seen_invoices:
            violations.append((f"{f}.invoice_number", f"duplicates invoices[{seen_invoices[number]}]"))
        else:
            seen_invoices[number] = i
        issue = invoice.issue_time.seconds if invoice.HasField("issue_time") else 0
        if not invoice.HasField("issue_time"):
            violations.append((f"{f}.issue_time", "is required"))
        elif not 0 <= invoice.issue_time.nanos < 1_000_000_000:
            violations.append((f"{f}.issue_time.nanos", "must lie in 0..999999999"))
        elif not MIN_TIME <= issue <= now + 86400:
            violations.append((f"{f}.issue_time", "must be after 2000-01-01 and not in the future"))
            issue = 0  # no month for a time out of range (e.g. past year 9999)
        for side in ("seller_uscc", "buyer_uscc"):
            if not _TAXPAYER_ID.match(getattr(invoice, side)):
                violations.append((f"{f}.{side}", "is required: a 15-20 character taxpayer identification number"))
        if invoice.seller_uscc == uscc and invoice.buyer_uscc == uscc:
            violations.append((f"{f}.buyer_uscc", "seller and buyer are both the enterprise"))
        elif uscc not in (invoice.seller_uscc, invoice.buyer_uscc):
            violations.append((f"{f}.buyer_uscc", f"neither seller nor buyer is enterprises/{uscc}"))
        direction = "sale" if invoice.seller_uscc == uscc else "purchase"
        if invoice.kind not in (pb.Invoice.KIND_NORMAL, pb.Invoice.KIND_RED_LETTER):
            violations.append((f"{f}.kind", "must be KIND_NORMAL or KIND_RED_LETTER"))
        red = invoice.kind == pb.Invoice.KIND_RED_LETTER
        original = invoice.original_invoice_number.strip() or None
        if red and (original is None or not _INVOICE_NUMBER.match(original)):
            violations.append(
                (f"{f}.original_invoice_number", "a red-letter invoice must name the blue invoice it reverses")
            )
        if not red and original is not None:
            violations.append((f"{f}.original_invoice_number", "only for red-letter invoices"))
        if red and original == number:
            violations.append((f"{f}.original_invoice_number", "cannot reverse itself"))
        if not invoice.lines:
            violations.append((f"{f}.lines", "at least one line is required"))
        month = ""
        if issue >= MIN_TIME:
            month = datetime.fromtimestamp(issue, zone).strftime("%Y-%m")
        seen_lines: set[int] = set()
        for j, line in enumerate(invoice.lines):
            g = f"{f}.lines[{j}]"
            if line.line_number <= 0:
                violations.append((f"{g}.line_number", "must be positive"))
            elif line.line_number in seen_lines:
                violations.append((f"{g}.line_number", f"line {line.line_number} appears twice"))
            seen_lines.add(line.line_number)
            if not _TAX_CODE.match(line.tax_code):
                violations.append((f"{g}.tax_code", "is required: the 19-digit 税收分类编码"))
            if not line.item_name.strip():
                violations.append((f"{g}.item_name", "is required"))
            elif len(line.item_name) > 300:
                violations.append((f"{g}.item_name", "at most 300 characters"))
            if len(line.unit) > 20:
                violations.append((f"{g}.unit", "at most 20 characters"))
            quantity = _decimal(line.quantity, f"{g}.quantity", violations)
            amount = _decimal(line.amount, f"{g}.amount", violations, places=2, required=True)
            tax = _decimal(line.tax_amount, f"{g}.tax_amount", violations, places=2)
            price = _decimal(line.unit_price, f"{g}.unit_price", violations)
            rate = _decimal(line.tax_rate, f"{g}.tax_rate", violations)
            if price is not None and price < 0:
                violations.append((f"{g}.unit_price", "must not be negative"))
            if rate is not None and not 0 <= rate <= 1:
                violations.append((f"{g}.tax_rate", "must be a fraction in [0, 1], e.g. 0.13"))
            if red:
                if amount is not None and amount > 0:
                    violations.append((f"{g}.amount", "must be negative on a red-letter invoice"))
                if quantity is not None and quantity > 0:
                    violations.append((f"{g}.quantity", "must be negative on a red-letter invoice"))
                if tax is not None and tax > 0:
                    violations.append((f"{g}.tax_amount", "must be negative on a red-letter invoice"))
            elif quantity is not None and quantity < 0:
                violations.append((f"{g}.quantity", "must not be negative on a blue invoice"))
            if amount is None:
                continue
            lines.append(
                Line(
                    invoice_number=number,
                    line_number=line.line_number,
                    issue_time=issue,
                    month=month,
                    direction=direction,
                    red_letter=red,
                    original=original,
                    tax_code=line.tax_code,
                    item_name=line.item_name.strip(),
                    unit=line.unit.strip(),
                    quantity=quantity,
                    amount=amount,
                    tax=tax if tax is not None else Decimal("0.00"),
                )
            )
    if violations:
        raise invalid_arguments(violations[:200])
    return lines


def request_fingerprint(uscc: str, invoices: Sequence[pb.Invoice]) -> str:
    digest = hashlib.blake2b(digest_size=16)
    digest.update(uscc.encode())
    for invoice in invoices:
        digest.update(invoice.SerializeToString(deterministic=True))
    return digest.hexdigest()


class TaxIngestor:
    def __init__(
        self,
        client: redis.Redis,
        data_dir: Path,
        gate: Gate,
        tables: Tables | None = None,
        ttl_days: int = 400,
        tz: str = "Asia/Shanghai",
        max_invoices: int = 10_000,
    ) -> None:
        self.redis = client
        self.root = data_dir / "invoices"
        self.gate = gate
        self.tables = tables or Tables()
        self.ttl = ttl_days * 86400
        self.tz = tz
        self.max_invoices = max_invoices
        self.locks = KeyedLocks()
        self.clock = SeqClock()
        self.erase_lock = threading.Lock()

    def ingest(
        self, parent: str, request_id: str, invoices: Sequence[pb.Invoice], parent_field: str = "parent"
    ) -> pb.IngestInvoicesResponse:
        uscc = parse_enterprise(parent, parent_field)
        validate_request_id(request_id)
        lines = validate_invoices(uscc, invoices, int(datetime.now(UTC).timestamp()), self.tz, self.max_invoices)
        require_not_drained(self.redis)
        # The consent's data window must cover every invoice in the batch.
        issue_times = sorted(inv.issue_time.ToDatetime(tzinfo=UTC) for inv in invoices)
        for edge in {issue_times[0], issue_times[-1]}:
            self.gate.require(uscc, GRANTEE, SCOPE, edge)
        fp = request_fingerprint(uscc, invoices)
        with self.locks.hold(uscc):
            with redis_errors():
                record = self.redis.hmget(f"{P}batch:{uscc}:{request_id}", ["fp", "result"])
            if record[0] is not None:
                if as_text(record[0]) != fp:
                    raise failed_precondition(
                        "REQUEST_ID_REUSED",
                        f"request_id {request_id!r} was already used for a different batch",
                        request_id=request_id,
                    )
                result = pb.IngestInvoicesResponse.FromString(record[1] or b"")
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
        response = pb.IngestInvoicesResponse(batch=batch, invoices=invoice_count)
        originals = sorted({_invoice_key(line.direction, line.original) for line in lines if line.red_letter})
        with redis_errors():
            seen_raw = self.redis.hmget(f"{P}lines:{uscc}", [line.key for line in lines]) if lines else []
            stored = self.redis.hmget(f"{P}periods:{uscc}", originals) if originals else []
        # Period of each blue invoice a reversal may name: stored before, or accepted in this batch.
        periods = {key: _text(raw) for key, raw in zip(originals, stored, strict=True) if raw is not None}
        new_periods: dict[str, str] = {}
        new_lines: dict[str, str] = {}
        quarantined: dict[str, bytes] = {}
        accepted: list[str] = []
        rows: list[tuple[str, dict[str, Any]]] = []  # (period, row)
        aggregates: dict[str, list[Decimal]] = {}
        seq = self.clock.next()
        # Blue lines first, so that a reversal finds an original accepted in the same batch.
        ordered = sorted(zip(lines, seen_raw, strict=True), key=lambda pair: pair[0].red_letter)
        for line, seen in ordered:
            digest = line.digest()
            if seen is not None:
                seen_digest, _, owner = as_text(seen).partition("|")
                if owner != request_id:
                    if seen_digest == digest:
                        response.duplicate_lines += 1
                        if not line.red_letter:  # (re)records the period of an original stored before periods existed
                            periods[_invoice_key(line.direction, line.invoice_number)] = line.month
                            new_periods[_invoice_key(line.direction, line.invoice_number)] = line.month
                    else:
                        self._quarantine(
                            response,
                            quarantined,
                            line,
                            "CONFLICTING_DUPLICATE",
                            "同一发票号码和行号已以不同内容入库 / this invoice line was stored before "
                            "with different content; invoices are immutable, please check",
                        )
                    continue
            period = line.month
            if line.red_letter:
                reversed_period = periods.get(_invoice_key(line.direction, line.original))
                if reversed_period is None:
                    self._quarantine(
                        response,
                        quarantined,
                        line,
                        "ORIGINAL_INVOICE_UNKNOWN",
                        f"红字发票冲销的原发票 {line.original} 尚未入库（或在隔离中），本行暂不计入任何月份；"
                        "请先上传原发票，再重新提交本红字发票 / the invoice this red-letter invoice reverses "
                        f"({line.original}) has not been accepted; the line is held and counted in no month. "
                        "Upload the original, then submit this red-letter invoice again",
                    )
                    continue
                period = reversed_period  # the reversal reduces the month of the invoice it reverses
            outcome = self._classify(line)
            if isinstance(outcome, Quarantine):
                self._quarantine(response, quarantined, line, outcome.reason, outcome.message)
                continue
            new_lines[line.key] = f"{digest}|{request_id}"
            accepted.append(f"{line.invoice_number}:{line.line_number:06d}")
            if not line.red_letter:
                periods[_invoice_key(line.direction, line.invoice_number)] = line.month
                new_periods[_invoice_key(line.direction, line.invoice_number)] = line.month
            energy_type, quantity, unit = outcome
            if energy_type == NON_ENERGY:
                response.non_energy_lines += 1
                sums = aggregates.setdefault(period, [Decimal(0), Decimal(0), Decimal(0)])
                sums[0] += line.amount
                sums[1] += line.tax
                sums[2] += 1
                continue
            if line.direction == "sale":
                response.revenue_lines += 1
            else:
                response.energy_lines += 1
            rows.append((period, self._row(uscc, line, energy_type, quantity, unit, seq)))
        for month, (amount, tax, _count) in sorted(aggregates.items()):
            rows.append(
                (
                    month,
                    {
                        "uscc": uscc,
                        "invoice_number": "",
                        "line_number": 0,
                        "issue_time": _month_start(month, self.tz),
                        "direction": "purchase",
                        "energy_type": NON_ENERGY,
                        "quantity": None,
                        "unit": None,
                        "amount_cny": amount,
                        "tax_cny": tax,
                        "red_letter": False,
                        "original_invoice_number": None,
                        "tax_code": None,
                        "seq": seq,
                    },
                )
            )
        months = self._write(uscc, request_id, rows)
        with redis_errors():
            pipe = self.redis.pipeline(transaction=True)
            key = f"{P}batch:{uscc}:{request_id}"
            pipe.hset(key, mapping={"fp": fp, "result": response.SerializeToString()})
            pipe.expire(key, self.ttl)
            if new_lines:
                pipe.hset(f"{P}lines:{uscc}", mapping=new_lines)  # type: ignore[arg-type]  # redis-py's mapping key type is invariant; str keys are fields
            if new_periods:
                pipe.hset(f"{P}periods:{uscc}", mapping=new_periods)  # type: ignore[arg-type]  # redis-py's mapping key type is invariant; str keys are fields
            if quarantined:
                pipe.hset(f"{P}quarantine:{uscc}", mapping=quarantined)  # type: ignore[arg-type]  # redis-py's mapping key type is invariant; str keys are fields
            if accepted:
                pipe.hdel(f"{P}quarantine:{uscc}", *accepted)
            pipe.delete(f"{P}intent:{uscc}:{request_id}")
            if months:
                events.ACTIVITY.add(pipe, events.ActivityRecorded.now(uscc, "invoices", months, batch))
            pipe.execute()
        return response

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

    @staticmethod
    def _quarantine(
        response: pb.IngestInvoicesResponse, into: dict[str, bytes], line: Line, reason: str, message: str
    ) -> None:
        entry = pb.QuarantinedLine(
            invoice_number=line.invoice_number, line_number=line.line_number, reason=reason, message=message
        )
        response.quarantined.append(entry)
        into[f"{line.invoice_number}:{line.line_number:06d}"] = entry.SerializeToString()

    @staticmethod
    def _row(
        uscc: str, line: Line, energy_type: str, quantity: Decimal | None, unit: str | None, seq: int
    ) -> dict[str, Any]:
        return {
            "uscc": uscc,
            "invoice_number": line.invoice_number,
            "line_number": line.line_number,
            "issue_time": line.issue_time,
            "direction": line.direction,
            "energy_type": None if line.direction == "sale" else energy_type,
            "quantity": quantity,
            "unit": unit,
            "amount_cny": line.amount,
            "tax_cny": line.tax,
            "red_letter": line.red_letter,
            "original_invoice_number": line.original,
            "tax_code": line.tax_code,
            "seq": seq,
        }

    def _write(self, uscc: str, request_id: str, rows: list[tuple[str, dict[str, Any]]]) -> list[str]:
        """Rows into their period's partition (not necessarily the month of their issue_time)."""
        name = parquet_io.batch_file_name("invoices", uscc, request_id)
        by_month: dict[str, list[dict[str, Any]]] = {}
        for month, row in rows:
            by_month.setdefault(month, []).append(row)
        intent = f"{P}intent:{uscc}:{request_id}"
        with redis_errors():
            previous = {as_text(m) for m in self.redis.smembers(intent)}
            if set(by_month) - previous:
                self.redis.sadd(intent, *by_month)
                self.redis.expire(intent, self.ttl)
        for month, month_rows in sorted(by_month.items()):
            frame = pl.DataFrame(month_rows, schema=rawdata.INVOICES_SCHEMA, orient="row")
            parquet_io.write_atomic(frame, parquet_io.month_dir(self.root, month) / name)
        parquet_io.remove_files(
            [parquet_io.month_dir(self.root, stale) / name for stale in sorted(previous - set(by_month))]
        )
        return sorted(by_month)

    # ------------------------------------------------------------ quarantine, maintenance

    def list_quarantined(self, parent: str, page_size: int, page_token: str) -> pb.ListQuarantinedLinesResponse:
        uscc = parse_enterprise(parent, "parent")
        if page_size < 0:
            raise invalid_argument("page_size", "must not be negative")
        size = min(page_size or 100, 1000)
        with redis_errors():
            entries = self.redis.hgetall(f"{P}quarantine:{uscc}")
        keys = sorted(as_text(k) for k in entries)
        if page_token:
            keys = [k for k in keys if k > page_token]
        response = pb.ListQuarantinedLinesResponse()
        for key in keys[:size]:
            response.lines.append(pb.QuarantinedLine.FromString(entries[key.encode()]))
        if len(keys) > size:
            response.next_page_token = keys[size - 1]
        return response

    def backfill_periods(self) -> int:
        """One-off migration: record the period of every blue invoice stored before periods were
        recorded (read from the partitions it lies in), so their reversals are not held. Runs
        until done once per data set (marker key); idempotent, so replicas may race harmlessly.
        Returns the number of invoices recorded (0 when already done)."""
        with redis_errors():
            if self.redis.exists(PERIODS_MIGRATED):
                return 0
        data_dir = self.root.parent
        recorded = 0
        for month in rawdata.months(data_dir, rawdata.INVOICES):
            scan = rawdata.scan_month(
                data_dir, rawdata.INVOICES, month, ["uscc", "direction", "invoice_number", "red_letter"]
            )
            if scan is None:
                continue
            blue = (
                scan.filter(~pl.col("red_letter") & (pl.col("invoice_number") != ""))
                .select("uscc", "direction", "invoice_number")
                .unique()
                .collect()
            )
            with redis_errors():
                pipe = self.redis.pipeline(transaction=False)
                for uscc, direction, number in blue.iter_rows():
                    pipe.hsetnx(f"{P}periods:{uscc}", _invoice_key(direction, number), month)
                pipe.execute()
            recorded += blue.height
        with redis_errors():
            self.redis.set(PERIODS_MIGRATED, "1")
        return recorded

    def compact(self, min_files: int = 2) -> int:
        replaced = 0
        for month in parquet_io.months(self.root):
            replaced += parquet_io.compact_month(
                parquet_io.month_dir(self.root, month),
                keys=["uscc", "direction", "invoice_number", "line_number"],
                sort=["uscc", "issue_time", "invoice_number", "line_number"],
                keep_all=pl.col("energy_type").fill_null("") == NON_ENERGY,
                min_files=min_files,
            )
        return replaced

    def erase(self, uscc: str) -> dict[str, int]:
        with self.locks.hold(uscc):
            counts = parquet_io.erase_enterprise(self.root, uscc).as_dict()
            deleted = 0
            with redis_errors():
                keys = [
                    *self.redis.scan_iter(match=f"{P}*:{uscc}:*", count=1000),
                    *self.redis.scan_iter(match=f"{P}*:{uscc}", count=1000),
                ]
                for i in range(0, len(keys), 500):
                    deleted += int(self.redis.delete(*keys[i : i + 500]))
            counts["redis_keys_deleted"] = deleted
            return counts


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _invoice_key(direction: str, number: str | None) -> str:
    return f"{direction}:{number}"


def _month_start(month: str, tz: str) -> int:
    return int(datetime(int(month[:4]), int(month[5:]), 1, tzinfo=ZoneInfo(tz)).timestamp())


def is_client_error(error: ServiceError) -> bool:
    return error.http_status < 500
