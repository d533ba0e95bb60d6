"""Domain (pure) of tax ingestion: validated invoice lines, the raw rows written for them (in the
raw-data contract's column order, carbon_ingest.rawdata.INVOICES_SCHEMA), the period rule.

The month is the accounting period: the month of the issue time in Asia/Shanghai, except for
red-letter (红字) lines, which are filed under the period of the blue invoice they reverse (their
`original_invoice_number`), so that the reversal reduces that month; the reversal's own issue_time
stays on the row for audit."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from carbon_ingest_tax.classify import NON_ENERGY

GRANTEE = "platform"


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class InvoiceRow:
    """One raw row of the invoices partition; fields in the contract's column order."""

    uscc: str
    invoice_number: str  # "" for the per-month non-energy purchase aggregate
    line_number: int
    issue_time: int
    direction: str
    energy_type: str | None
    quantity: Decimal | None
    unit: str | None
    amount_cny: Decimal
    tax_cny: Decimal
    red_letter: bool
    original_invoice_number: str | None
    tax_code: str | None
    seq: int

    def values(self) -> tuple[object, ...]:
        return (
            self.uscc,
            self.invoice_number,
            self.line_number,
            self.issue_time,
            self.direction,
            self.energy_type,
            self.quantity,
            self.unit,
            self.amount_cny,
            self.tax_cny,
            self.red_letter,
            self.original_invoice_number,
            self.tax_code,
            self.seq,
        )

    @classmethod
    def of_line(
        cls, uscc: str, line: Line, energy_type: str, quantity: Decimal | None, unit: str | None, seq: int
    ) -> InvoiceRow:
        return cls(
            uscc=uscc,
            invoice_number=line.invoice_number,
            line_number=line.line_number,
            issue_time=line.issue_time,
            direction=line.direction,
            energy_type=None if line.direction == "sale" else energy_type,
            quantity=quantity,
            unit=unit,
            amount_cny=line.amount,
            tax_cny=line.tax,
            red_letter=line.red_letter,
            original_invoice_number=line.original,
            tax_code=line.tax_code,
            seq=seq,
        )

    @classmethod
    def non_energy_total(cls, uscc: str, month: str, amount: Decimal, tax: Decimal, seq: int, tz: str) -> InvoiceRow:
        """The month's non-energy purchases as one aggregate row (value added needs their sum only)."""
        return cls(
            uscc=uscc,
            invoice_number="",
            line_number=0,
            issue_time=month_start(month, tz),
            direction="purchase",
            energy_type=NON_ENERGY,
            quantity=None,
            unit=None,
            amount_cny=amount,
            tax_cny=tax,
            red_letter=False,
            original_invoice_number=None,
            tax_code=None,
            seq=seq,
        )


@dataclass(frozen=True)
class PeriodRow:
    """A raw row with the accounting period it is filed under."""

    period: str
    row: InvoiceRow


def invoice_key(direction: str, number: str | None) -> str:
    """How an invoice is named in the periods record: {direction}:{invoice_number}."""
    return f"{direction}:{number}"


def month_start(month: str, tz: str) -> int:
    return int(datetime(int(month[:4]), int(month[5:]), 1, tzinfo=ZoneInfo(tz)).timestamp())
