"""A bank's book snapshot from client input (CSV upload or API rows): bounded, validated, all or nothing.

Every row and field is checked before anything is stored; errors name `positions[i].field` (API)
or `row N: column` (CSV, N counting the header as row 1), quote at most a short prefix of the
offending value (carbon_common.limits) and are capped at MAX_VIOLATIONS. A snapshot with any error
stores nothing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal

from carbon_common import limits, names
from carbon_common.errors import ServiceError, invalid_argument, invalid_arguments
from carbon_common.hashchain import canonical_json

from carbon_pricing.portfolio.domain import Position

MAX_VIOLATIONS = 100
MAX_AMOUNT = Decimal("1000000000000000")  # 10^15 CNY: bounds every product in integer units
COLUMNS = (
    "position_id",
    "enterprise",
    "product",
    "outstanding_cny",
    "drawn_date",
    "maturity_date",
    "equity_plus_debt_cny",
    "listed",
    "evic_cny",
    "revenue_cny",
    "industry_code",
    "region_code",
)
REQUIRED = frozenset(
    {"position_id", "enterprise", "product", "outstanding_cny", "equity_plus_debt_cny", "industry_code", "region_code"}
)
_POSITION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$")
_PRODUCT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_INDUSTRY = re.compile(r"^[A-Z]\d{2,4}$")
_REGION = re.compile(r"^\d{6}$")
_TRUE = {"true", "1", "yes", "y"}
_FALSE = {"false", "0", "no", "n", ""}


@dataclass(frozen=True)
class BookRow:
    """A validated position plus the bank's own dates (kept, not used by the PCAF computation)."""

    position: Position
    drawn_date: str = ""
    maturity_date: str = ""

    def doc(self) -> dict[str, object]:
        p = self.position
        return {
            "position_id": p.position_id,
            "enterprise": f"enterprises/{p.uscc}",
            "product": p.product,
            "outstanding_cny": format(p.outstanding_cny, "f"),
            "drawn_date": self.drawn_date,
            "maturity_date": self.maturity_date,
            "equity_plus_debt_cny": format(p.equity_plus_debt_cny, "f"),
            "listed": p.listed,
            "evic_cny": "" if p.evic_cny is None else format(p.evic_cny, "f"),
            "revenue_cny": "" if p.revenue_cny is None else format(p.revenue_cny, "f"),
            "industry_code": p.industry,
            "region_code": p.region,
        }


def digest(rows: Sequence[BookRow]) -> str:
    return "sha256:" + hashlib.sha256(canonical_json([r.doc() for r in rows])).hexdigest()


class _Violations:
    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, field: str, description: str) -> None:
        if len(self.items) < MAX_VIOLATIONS:
            self.items.append((field, description))

    def extend(self, error: ServiceError) -> None:
        for item in error.field_violations or [("", error.message)]:
            self.add(*item)

    def raise_if_any(self) -> None:
        if len(self.items) == 1:
            raise invalid_argument(*self.items[0], reason="INVALID_BOOK")
        if self.items:
            error = invalid_arguments(self.items)
            error.reason = "INVALID_BOOK"
            raise error


def _money(raw: str, field: str, out: _Violations, *, required: bool) -> Decimal | None:
    if not raw:
        if required:
            out.add(field, "is required (CNY, decimal string)")
        return None
    try:
        value = limits.parse_decimal(raw, field)
    except ServiceError as error:
        out.extend(error)
        return None
    if value <= 0 or value > MAX_AMOUNT:
        out.add(field, f"must be > 0 and <= {MAX_AMOUNT}")
        return None
    if value != value.quantize(Decimal("0.01")):
        out.add(field, "at most 2 decimal places (CNY fen)")
        return None
    return value.quantize(Decimal("0.01"))


def _date(raw: str, field: str, out: _Violations) -> str:
    if not raw:
        return ""
    try:
        limits.check_date(date.fromisoformat(limits.check_length(raw, field, 10)), field)
    except ServiceError as error:
        out.extend(error)
    except ValueError:
        out.add(field, f"{limits.quote(raw)} is not a date YYYY-MM-DD")
    return raw


def validate_rows(rows: Iterable[Mapping[str, str]], field: str = "positions") -> list[BookRow]:
    """Raw rows (column -> text) -> validated rows, or INVALID_ARGUMENT naming `{field}[i].column`."""
    out = _Violations()
    result: list[BookRow] = []
    seen: set[str] = set()
    max_chars = limits.current().max_name_chars
    for index, raw in enumerate(rows):
        at = f"{field}[{index}]"
        cells = {k: (raw.get(k) or "").strip() for k in COLUMNS}
        too_long = [k for k, v in cells.items() if len(v) > max_chars]
        for k in too_long:
            out.add(f"{at}.{k}", f"longer than {max_chars} characters")
        if too_long:
            continue
        for k in sorted(REQUIRED):
            if not cells[k] and not k.endswith("_cny"):
                out.add(f"{at}.{k}", "is required")
        position_id = cells["position_id"]
        if position_id and not _POSITION_ID.match(position_id):
            out.add(f"{at}.position_id", "must be 1-64 characters of A-Z a-z 0-9 . _ : / -")
        elif position_id in seen:
            out.add(f"{at}.position_id", f"{limits.quote(position_id)} repeats an earlier position")
        seen.add(position_id)
        uscc = ""
        if cells["enterprise"]:
            name = (
                cells["enterprise"]
                if cells["enterprise"].startswith("enterprises/")
                else f"enterprises/{cells['enterprise']}"
            )
            try:
                uscc = names.parse_enterprise(name, f"{at}.enterprise")
            except ServiceError as error:
                out.extend(error)
        if cells["product"] and not _PRODUCT.match(cells["product"]):
            out.add(f"{at}.product", "must be 1-64 characters of A-Z a-z 0-9 . _ -")
        outstanding = _money(cells["outstanding_cny"], f"{at}.outstanding_cny", out, required=True)
        equity_debt = _money(cells["equity_plus_debt_cny"], f"{at}.equity_plus_debt_cny", out, required=True)
        evic = _money(cells["evic_cny"], f"{at}.evic_cny", out, required=False)
        revenue = _money(cells["revenue_cny"], f"{at}.revenue_cny", out, required=False)
        listed_text = cells["listed"].lower()
        if listed_text not in _TRUE | _FALSE:
            out.add(f"{at}.listed", "must be true or false")
        listed = listed_text in _TRUE
        if listed and evic is None and not cells["evic_cny"]:
            out.add(f"{at}.evic_cny", "is required for a listed borrower (PCAF: attribution over EVIC)")
        if cells["industry_code"] and not _INDUSTRY.match(cells["industry_code"]):
            out.add(f"{at}.industry_code", "must be a GB/T 4754 class such as C3011")
        if cells["region_code"] and not _REGION.match(cells["region_code"]):
            out.add(f"{at}.region_code", "must be a 6-digit administrative division code")
        drawn = _date(cells["drawn_date"], f"{at}.drawn_date", out)
        maturity = _date(cells["maturity_date"], f"{at}.maturity_date", out)
        if out.items or outstanding is None or equity_debt is None:
            continue
        result.append(
            BookRow(
                Position(
                    position_id=position_id,
                    uscc=uscc,
                    product=cells["product"],
                    outstanding_cny=outstanding,
                    equity_plus_debt_cny=equity_debt,
                    industry=cells["industry_code"],
                    region=cells["region_code"],
                    listed=listed,
                    evic_cny=evic,
                    revenue_cny=revenue,
                ),
                drawn,
                maturity,
            )
        )
    out.raise_if_any()
    if not result:
        raise invalid_argument(field, "a book snapshot needs at least one position", reason="INVALID_BOOK")
    return result


def parse_csv(data: bytes) -> list[BookRow]:
    """A CSV upload (UTF-8, header row with COLUMNS) -> validated rows; errors name `row N: column`."""
    lim = limits.current()
    _check_size(data)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise invalid_argument("file", "is not UTF-8 text", reason="INVALID_BOOK") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise invalid_argument("file", "is empty (a header row is required)", reason="INVALID_BOOK") from None
    except csv.Error as error:
        raise invalid_argument("file", f"is not valid CSV ({str(error)[:80]})", reason="INVALID_BOOK") from None
    _check_header(header)
    rows: list[dict[str, str]] = []
    numbers: list[int] = []
    try:
        for record in reader:
            if not any(cell.strip() for cell in record):
                continue
            limits.check_count(len(rows) + 1, "file", lim.max_upload_rows)
            if len(record) != len(header):
                raise invalid_argument(
                    f"row {reader.line_num}",
                    f"has {len(record)} cells, the header has {len(header)}",
                    reason="INVALID_BOOK",
                )
            rows.append(dict(zip(header, record, strict=True)))
            numbers.append(reader.line_num)
    except csv.Error as error:
        raise invalid_argument(
            f"row {reader.line_num}", f"is not valid CSV ({str(error)[:80]})", reason="INVALID_BOOK"
        ) from None
    return _validate_numbered(rows, numbers)


XLSX_MAX_COLUMNS = 64  # cells read per sheet row: a wide hostile sheet costs no more than this


def parse_xlsx(data: bytes) -> list[BookRow]:
    """An Excel upload (.xlsx, first sheet, header row with COLUMNS) -> validated rows; errors name
    `row N: column` with N the sheet's own row number. Read streaming (openpyxl read-only), rows counted
    while reading, at most XLSX_MAX_COLUMNS cells a row; numbers become exact decimal text."""
    from openpyxl import load_workbook

    lim = limits.current()
    _check_size(data)
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        sheet = book.worksheets[0]
        cells = sheet.iter_rows(max_col=XLSX_MAX_COLUMNS, values_only=True)
        first = next(cells, None)
    except Exception:  # zip, XML or workbook structure: the client's file, never a 500
        raise invalid_argument("file", "is not a readable .xlsx workbook", reason="INVALID_BOOK") from None
    try:
        rows, numbers = _sheet_rows(first, cells, lim.max_upload_rows)
    finally:
        book.close()
    return _validate_numbered(rows, numbers)


def _sheet_rows(
    first: Sequence[object] | None, cells: Iterable[Sequence[object]], max_rows: int
) -> tuple[list[dict[str, str]], list[int]]:
    if first is None:
        raise invalid_argument("file", "is empty (a header row is required)", reason="INVALID_BOOK")
    header = [_cell_text(v) for v in first]
    while header and not header[-1]:
        header.pop()
    _check_header(header)
    rows: list[dict[str, str]] = []
    numbers: list[int] = []
    try:
        for number, record in enumerate(cells, start=2):
            texts = [_cell_text(v) for v in record]
            if not any(texts):
                continue
            limits.check_count(len(rows) + 1, "file", max_rows)
            if any(texts[len(header) :]):
                raise invalid_argument(f"row {number}", "has cells beyond the header's columns", reason="INVALID_BOOK")
            rows.append(dict(zip(header, texts[: len(header)], strict=False)))
            numbers.append(number)
    except ServiceError:
        raise
    except Exception:  # a broken sheet XML part discovered while streaming
        raise invalid_argument("file", "is not a readable .xlsx workbook", reason="INVALID_BOOK") from None
    return rows, numbers


def _cell_text(value: object) -> str:
    """A cell as the text a CSV would hold: exact decimals for numbers (shortest float repr), ISO dates."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f") if math.isfinite(value) else repr(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


def _check_size(data: bytes) -> None:
    lim = limits.current()
    if len(data) > lim.max_upload_bytes:
        raise invalid_argument("file", f"larger than {lim.max_upload_bytes} bytes", reason="UPLOAD_TOO_LARGE")


def _check_header(header: Sequence[str]) -> None:
    unknown = [h for h in header if h not in COLUMNS]
    missing = sorted(REQUIRED - set(header))
    if unknown or missing:
        problems = [("file", f"unknown column {limits.quote(h)}") for h in unknown[:5]]
        problems += [("file", f"missing column {m}") for m in missing]
        raise invalid_arguments(problems)


def _validate_numbered(rows: list[dict[str, str]], numbers: list[int]) -> list[BookRow]:
    try:
        return validate_rows(rows)
    except ServiceError as error:
        raise _as_file_rows(error, numbers) from None


def _as_file_rows(error: ServiceError, numbers: Sequence[int]) -> ServiceError:
    """positions[i].column -> row N: column, N the row's number in the file (the header is row 1)."""

    def rename(field: str) -> str:
        match = re.match(r"^positions\[(\d+)\]\.(.+)$", field)
        if not match or int(match.group(1)) >= len(numbers):
            return field
        return f"row {numbers[int(match.group(1))]}: {match.group(2)}"

    violations = [(rename(f), d) for f, d in error.field_violations]
    if not violations:
        return error
    renamed = invalid_argument(*violations[0]) if len(violations) == 1 else invalid_arguments(violations)
    renamed.reason = error.reason
    return renamed
