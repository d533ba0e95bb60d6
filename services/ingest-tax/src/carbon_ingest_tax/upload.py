"""REST bulk upload of an enterprise's invoice list (CSV or .xlsx), modelled
on the 数电发票 export: POST /v1/enterprises/{uscc}/invoiceUploads, multipart
field `file`, header `Idempotency-Key` (required).

Column layout (header row, any order; extra columns ignored). One row per
invoice line; rows with the same 发票号码 form one invoice.

| column | required | meaning |
|---|---|---|
| 发票号码 | yes | invoice number (20 digits for 数电发票) |
| 开票日期 | yes | issue time, Asia/Shanghai: `YYYY-MM-DD[ HH:MM[:SS]]`, `YYYY/MM/DD`, Excel date |
| 销方识别号 | yes | seller taxpayer id (USCC) |
| 销方名称 | no | seller name |
| 购方识别号 | yes | buyer taxpayer id (USCC) |
| 购方名称 | no | buyer name |
| 税收分类编码 | yes | 19-digit tax classification code |
| 货物或应税劳务名称 | yes | item name, `*简称*名称` (also accepted: 货物或应税劳务、服务名称, 项目名称) |
| 规格型号 | no | specification |
| 单位 | for energy | unit as printed (千瓦时, 万千瓦时, 立方米, 吨, 升 ...) |
| 数量 | for energy | quantity (negative on red-letter invoices) |
| 单价 | no | unit price excl. VAT |
| 金额 | yes | amount excl. VAT, CNY (negative on red-letter invoices) |
| 税率 | no | `13%`, `0.13`, `免税`, `不征税` |
| 税额 | no | VAT, CNY |
| 发票状态 | no | `正常`/`已红冲`/`部分红冲` (blue), `红字`/`红冲发票`/`负数发票` (red), `作废` (skipped) |
| 蓝字发票号码 | red-letter | the blue invoice a red-letter invoice reverses (also: 原发票号码, 对应蓝字发票号码) |
| 序号 | no | line number within the invoice (default: order in the file) |

Errors name the file row and column, e.g. `rows[7].数量` (row 1 is the header).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from carbon.v1 import ingest_tax_pb2 as pb
from carbon_common import limits
from carbon_common.errors import ServiceError, invalid_argument, invalid_arguments, quote
from carbon_common.limits import LimitError

ALIASES = {
    "发票号码": ["发票号码", "数电票号码", "数电发票号码"],
    "开票日期": ["开票日期", "开票时间"],
    "销方识别号": ["销方识别号", "销售方纳税人识别号", "销方纳税人识别号"],
    "销方名称": ["销方名称", "销售方名称"],
    "购方识别号": ["购方识别号", "购买方纳税人识别号", "购方纳税人识别号"],
    "购方名称": ["购方名称", "购买方名称"],
    "税收分类编码": ["税收分类编码", "商品和服务税收分类编码", "税收编码"],
    "货物或应税劳务名称": ["货物或应税劳务名称", "货物或应税劳务、服务名称", "项目名称", "商品名称"],
    "规格型号": ["规格型号"],
    "单位": ["单位"],
    "数量": ["数量"],
    "单价": ["单价"],
    "金额": ["金额"],
    "税率": ["税率", "税率/征收率"],
    "税额": ["税额"],
    "发票状态": ["发票状态", "红字信息", "发票类型"],
    "蓝字发票号码": ["蓝字发票号码", "原发票号码", "对应蓝字发票号码"],
    "序号": ["序号", "行号"],
}
REQUIRED = ["发票号码", "开票日期", "销方识别号", "购方识别号", "税收分类编码", "货物或应税劳务名称", "金额"]
RED_STATES = {"红字", "红字发票", "红冲发票", "负数发票", "红票"}
BLUE_STATES = {"", "正常", "蓝字", "蓝字发票", "已红冲", "部分红冲", "全额红冲"}
VOID_STATES = {"作废", "已作废"}
_INDEX = re.compile(r"^invoices\[(\d+)\](?:\.lines\[(\d+)\])?\.?(.*)$")
FIELD_COLUMNS = {
    "invoice_number": "发票号码",
    "issue_time": "开票日期",
    "seller_uscc": "销方识别号",
    "buyer_uscc": "购方识别号",
    "kind": "发票状态",
    "original_invoice_number": "蓝字发票号码",
    "line_number": "序号",
    "tax_code": "税收分类编码",
    "item_name": "货物或应税劳务名称",
    "unit": "单位",
    "quantity": "数量",
    "unit_price": "单价",
    "amount": "金额",
    "tax_rate": "税率",
    "tax_amount": "税额",
    "lines": "发票号码",
}


@dataclass
class Parsed:
    invoices: list[pb.Invoice]
    rows: list[list[int]]  # file row of each line, per invoice
    invoice_rows: list[int]
    skipped_void: int


def read_table(filename: str, content: bytes) -> list[list[Any]]:
    if filename.lower().endswith((".xlsx", ".xlsm")) or content[:2] == b"PK":
        from openpyxl import load_workbook

        try:
            book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        except Exception:
            raise invalid_argument("file", "is not a readable .xlsx workbook") from None
        sheet = book.worksheets[0]
        return _bounded_rows(list(row) for row in sheet.iter_rows(values_only=True))
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = content.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise invalid_argument("file", "CSV must be UTF-8 or GB18030 encoded")
    try:
        return _bounded_rows(csv.reader(io.StringIO(text)))
    except csv.Error:  # e.g. a field larger than csv.field_size_limit()
        raise invalid_argument("file", "is not a readable CSV file") from None


def _bounded_rows(rows: Iterable[list[Any]]) -> list[list[Any]]:
    """At most limits.max_upload_rows rows (plus the header), counted while reading."""
    max_rows = limits.current().max_upload_rows
    table: list[list[Any]] = []
    for row in rows:
        if len(table) > max_rows:
            raise limits.LimitError("file", f"more than {max_rows} rows", "TOO_MANY_ITEMS", limit=str(max_rows))
        table.append(row)
    return table


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _number(value: Any, field: str, violations: list[tuple[str, str]]) -> str:
    """A cell as decimal text; its digits and exponent are bounded before any
    arithmetic or formatting (a cell `1e999999999` is refused, not expanded)."""
    if value is None or value == "":
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        text = str(value)
    else:
        text = str(value).strip().replace(",", "").replace("¥", "").replace("￥", "")
    if text in ("", "-", "—"):
        return ""
    try:
        return format(limits.parse_decimal(text, field), "f")
    except LimitError as error:
        violations.extend(error.field_violations)
        return ""


def _rate(value: Any, field: str, violations: list[tuple[str, str]]) -> str:
    text = _text(value)
    if text in ("", "免税", "不征税", "***"):
        return "0" if text else ""
    try:
        if text.endswith("%"):
            return format(limits.parse_decimal(text[:-1], field) / 100, "f")
        return format(limits.parse_decimal(text, field), "f")
    except LimitError:
        violations.append((field, f"{quote(text)} is not a tax rate"))
        return ""


_DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d", "%Y年%m月%d日")


def _parse_date(text: str) -> datetime | None:
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None


def _time(value: Any, field: str, violations: list[tuple[str, str]], tz: str) -> int:
    """Unix seconds of a date cell in the platform's range (1970..2200): a date
    like 0001-01-01 is the file's mistake, named by row and column."""
    zone = ZoneInfo(tz)
    when = value if isinstance(value, datetime) else _parse_date(_text(value)[:32])
    if when is None:
        violations.append((field, f"{quote(_text(value))} is not a date (YYYY-MM-DD[ HH:MM:SS])"))
        return 0
    # Range-check the wall-clock date first: at year 1 or 9999 the zone offset itself overflows.
    try:
        limits.check_date(when.date(), field)
        return int(limits.check_datetime(when.replace(tzinfo=zone), field).timestamp())
    except LimitError as error:
        violations.extend(error.field_violations)
        return 0


def parse_rows(table: list[list[Any]], tz: str = "Asia/Shanghai") -> Parsed:
    if not table or not any(_text(c) for c in table[0]):
        raise invalid_argument("file", "is empty: a header row is required")
    header = [_text(c) for c in table[0]]
    columns: dict[str, int] = {}
    for canonical, names in ALIASES.items():
        for name in names:
            if name in header:
                columns[canonical] = header.index(name)
                break
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise invalid_arguments([(f"columns.{c}", "required column is missing") for c in missing])
    violations: list[tuple[str, str]] = []
    invoices: dict[str, pb.Invoice] = {}
    rows: dict[str, list[int]] = {}
    first_row: dict[str, int] = {}
    skipped = 0
    for r, raw in enumerate(table[1:], start=2):
        if not any(_text(c) for c in raw):
            continue

        def cell(name: str, raw: list[Any] = raw) -> Any:
            index = columns.get(name)
            return raw[index] if index is not None and index < len(raw) else None

        state = _text(cell("发票状态"))
        if state in VOID_STATES:
            skipped += 1
            continue
        f = f"rows[{r}]"
        number = _text(cell("发票号码"))
        original = _text(cell("蓝字发票号码"))
        if state in RED_STATES or (state not in BLUE_STATES and "红字" in state):
            kind = pb.Invoice.KIND_RED_LETTER
        elif state in BLUE_STATES:
            kind = pb.Invoice.KIND_RED_LETTER if original else pb.Invoice.KIND_NORMAL
        else:
            violations.append((f"{f}.发票状态", f"unknown state {quote(state)}"))
            kind = pb.Invoice.KIND_NORMAL
        issue = _time(cell("开票日期"), f"{f}.开票日期", violations, tz)
        invoice = invoices.get(number)
        if invoice is None:
            invoice = pb.Invoice(
                invoice_number=number,
                seller_uscc=_text(cell("销方识别号")),
                seller_name=_text(cell("销方名称")),
                buyer_uscc=_text(cell("购方识别号")),
                buyer_name=_text(cell("购方名称")),
                kind=kind,
                original_invoice_number=original,
            )
            if issue:
                invoice.issue_time.FromSeconds(issue)
            invoices[number] = invoice
            rows[number] = []
            first_row[number] = r
        else:
            for column, value, existing in (
                ("开票日期", issue, invoice.issue_time.seconds),
                ("销方识别号", _text(cell("销方识别号")), invoice.seller_uscc),
                ("购方识别号", _text(cell("购方识别号")), invoice.buyer_uscc),
                ("发票状态", kind, invoice.kind),
            ):
                if value != existing:
                    violations.append((f"{f}.{column}", f"differs from row {first_row[number]} of the same invoice"))
        line_number_text = _text(cell("序号"))
        line_number = len(invoice.lines) + 1
        if line_number_text:
            if line_number_text.isdigit() and 0 < len(line_number_text) <= 6:
                line_number = int(line_number_text)
            else:
                violations.append((f"{f}.序号", f"{quote(line_number_text)} is not a line number (1-999999)"))
        line = invoice.lines.add(
            line_number=line_number,
            tax_code=_text(cell("税收分类编码")),
            item_name=_text(cell("货物或应税劳务名称")),
            specification=_text(cell("规格型号")),
            unit=_text(cell("单位")),
        )
        for target, column in (
            ("quantity", "数量"),
            ("unit_price", "单价"),
            ("amount", "金额"),
            ("tax_amount", "税额"),
        ):
            value = _number(cell(column), f"{f}.{column}", violations)
            if value:
                getattr(line, target).value = value
        rate = _rate(cell("税率"), f"{f}.税率", violations)
        if rate:
            line.tax_rate.value = rate
        rows[number].append(r)
    if violations:
        raise invalid_arguments(violations[:200])
    if not invoices:
        raise invalid_argument("file", "contains no invoice rows")
    numbers = list(invoices)
    return Parsed([invoices[n] for n in numbers], [rows[n] for n in numbers], [first_row[n] for n in numbers], skipped)


def to_file_fields(error: ServiceError, parsed: Parsed) -> ServiceError:
    """invoices[i].lines[j].quantity -> rows[r].数量, so the enterprise finds the cell."""
    if not error.field_violations:
        return error
    mapped = []
    for field, description in error.field_violations:
        match = _INDEX.match(field)
        if not match:
            mapped.append((field, description))
            continue
        i, j, rest = int(match.group(1)), match.group(2), match.group(3)
        leaf = rest.split(".")[-1] if rest else ""
        row = parsed.rows[i][int(j)] if j is not None else parsed.invoice_rows[i]
        mapped.append((f"rows[{row}].{FIELD_COLUMNS.get(leaf, leaf or '发票号码')}", description))
    converted = invalid_arguments(mapped)
    converted.code, converted.reason = error.code, error.reason
    return converted
