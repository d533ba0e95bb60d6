"""Proto -> domain: an IngestInvoicesRequest's invoices checked field by field into Lines (every
violation named, e.g. invoices[3].lines[1].quantity), and the batch's content fingerprint."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from carbon.v1 import ingest_tax_pb2 as pb
from carbon_common import limits
from carbon_common.errors import invalid_argument, invalid_arguments
from carbon_common.limits import LimitError
from google.type import decimal_pb2

from carbon_ingest_tax.domain import Line

_INVOICE_NUMBER = re.compile(r"^\d{8,20}$")
_TAX_CODE = re.compile(r"^\d{19}$")
_TAXPAYER_ID = re.compile(r"^[0-9A-Z]{15,20}$")
MIN_TIME = 946684800
MAX_MONEY = Decimal(10) ** 15


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
