"""Per-enterprise synthetic data, shaped like what real clients send.

Invoices use real tax classification code prefixes and item-name
abbreviations (see shared/docs/domain.md); readings are 15-minute interval
Wh with a working-day shape (night base load, day-shift plateau, weekends at
60 %). Every number here is synthetic test data, not a factor or a threshold.
"""

from __future__ import annotations

import calendar
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np
from carbon.v1 import ingest_tax_pb2
from carbon_ingest import units
from google.type import decimal_pb2


def _litres_per_tonne(energy_type: str) -> float:
    """Fuel stations invoice by the litre; the generator turns its tonnes into litres with the
    tax conversion standard's density from the platform's units table."""
    density = units.default_table().density(energy_type, units.TAX)
    if density is None or density.litres_per_tonne is None:
        raise LookupError(f"no tax litres-per-tonne density for {energy_type}")
    return float(density.litres_per_tonne)


SHANGHAI = timezone(timedelta(hours=8))
INTERVAL_SECONDS = 900
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


@dataclass(frozen=True)
class Industry:
    code: str  # GB/T 4754
    name: str
    monthly_mwh: tuple[float, float]  # range of typical monthly electricity use
    # Value added per MWh of electricity: sets where an enterprise lands on the
    # carbon-intensity scales (Zhejiang bands at 0.6 and 2.0 tCO2 per 10^4 CNY).
    value_added_per_mwh_cny: tuple[float, float]
    diesel_t_per_month: float
    lng_t_per_month: float


INDUSTRIES: tuple[Industry, ...] = (
    Industry("C2611", "无机酸制造 inorganic acids", (800, 2400), (2500, 9000), 6.0, 40.0),
    Industry("C3011", "水泥制造 cement", (1500, 4000), (1500, 4500), 20.0, 0.0),
    Industry("C1713", "棉印染精加工 cotton dyeing", (300, 900), (3500, 10000), 3.0, 25.0),
    Industry("C3130", "钢压延加工 steel rolling", (2000, 6000), (2000, 6500), 10.0, 60.0),
    Industry("C3982", "电子元件制造 electronic components", (200, 700), (12000, 40000), 1.0, 0.0),
    Industry("C2231", "纸板制造 paperboard", (600, 1800), (3000, 8000), 4.0, 30.0),
)


def uscc_check_char(first17: str) -> str:
    total = sum(USCC_ALPHABET.index(ch) * w for ch, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def make_uscc(region_code: str, serial: int, seed: int) -> str:
    """A USCC with a valid check digit: 91 (enterprise) + region + org code."""
    digest = hashlib.sha256(f"{seed}:{serial}".encode()).digest()
    org = "".join(USCC_ALPHABET[b % 31] for b in digest[:9])
    first17 = f"91{region_code}{org}"
    return first17 + uscc_check_char(first17)


def _with_check(code17: str) -> str:
    return code17 + uscc_check_char(code17)


# Suppliers the invoices name as sellers (synthetic codes with valid check digits).
GRID_SUPPLIER = ("国网浙江省电力有限公司", _with_check("91330000142911000"))
FUEL_SUPPLIER = ("中国石化销售股份有限公司浙江石油分公司", _with_check("91330000704200000"))
GAS_SUPPLIER = ("浙江省天然气开发有限公司", _with_check("91330000746300000"))
GOODS_SUPPLIER = ("杭州示例材料有限公司", _with_check("91330100700000000"))


@dataclass(frozen=True)
class SynthEnterprise:
    uscc: str
    display_name: str
    industry: Industry
    province_code: str
    region_code: str
    scale: float  # multiplies the industry's typical volumes
    seed: int

    @property
    def name(self) -> str:
        return f"enterprises/{self.uscc}"

    @property
    def meter_id(self) -> str:
        return "main-incomer"


def _dec(value: Decimal) -> decimal_pb2.Decimal:
    return decimal_pb2.Decimal(value=format(value, "f"))


def _q(value: float | Decimal, places: str) -> Decimal:
    return Decimal(str(value)).quantize(Decimal(places), rounding=ROUND_HALF_EVEN)


@dataclass
class Region:
    seed: int
    year: int
    enterprises: list[SynthEnterprise]

    def months(self) -> list[str]:
        return [f"{self.year}-{m:02d}" for m in range(1, 13)]

    def month_bounds(self, month: str) -> tuple[datetime, datetime]:
        year, mon = (int(p) for p in month.split("-"))
        start = datetime(year, mon, 1, tzinfo=SHANGHAI)
        days = calendar.monthrange(year, mon)[1]
        return start, start + timedelta(days=days)

    def readings(self, enterprise: SynthEnterprise, month: str) -> tuple[np.ndarray, np.ndarray]:
        """15-minute interval starts (Unix s) and interval Wh for the main meter."""
        start, end = self.month_bounds(month)
        count = int((end - start).total_seconds()) // INTERVAL_SECONDS
        ts = int(start.timestamp()) + np.arange(count, dtype=np.int64) * INTERVAL_SECONDS
        local = ts + 8 * 3600
        hour = (local % 86400) / 3600.0
        weekday = ((local // 86400) + 3) % 7  # 1970-01-01 was a Thursday (3)
        shape = 0.45 + 0.55 * ((hour >= 8) & (hour < 20)) + 0.15 * ((hour >= 20) & (hour < 23))
        shape = shape * np.where(weekday >= 5, 0.6, 1.0)
        rng = np.random.default_rng([self.seed, enterprise.seed, int(month.replace("-", ""))])
        shape = shape * rng.uniform(0.92, 1.08, count)
        target_wh = self.monthly_mwh(enterprise, month) * 1_000_000
        wh = np.rint(shape / shape.sum() * target_wh).astype(np.int64)
        return ts, wh

    def monthly_mwh(self, enterprise: SynthEnterprise, month: str) -> float:
        low, high = enterprise.industry.monthly_mwh
        rng = np.random.default_rng([self.seed, enterprise.seed, 7])
        base = rng.uniform(low, high) * enterprise.scale
        season = 1.0 + 0.12 * np.cos((int(month[5:]) - 7) / 12 * 2 * np.pi)  # summer peak
        return float(base * season)

    def invoices(self, enterprise: SynthEnterprise, month: str) -> list[ingest_tax_pb2.Invoice]:
        """A month of the enterprise's purchase and sales e-invoices."""
        rng = np.random.default_rng([self.seed, enterprise.seed, int(month.replace("-", "")), 1])
        start, _ = self.month_bounds(month)
        issue = start + timedelta(days=27, hours=10)
        # 20-digit 数电发票 numbers: year, region, enterprise, month, sequence.
        tag = f"{str(self.year)[2:]}{enterprise.region_code[:4]}{enterprise.seed:06d}{month.replace('-', '')}"
        result: list[ingest_tax_pb2.Invoice] = []

        def invoice(
            number: str,
            seller: tuple[str, str],
            buyer: tuple[str, str],
            lines: list[ingest_tax_pb2.InvoiceLine],
            kind: int = ingest_tax_pb2.Invoice.KIND_NORMAL,
            original: str = "",
        ) -> ingest_tax_pb2.Invoice:
            inv = ingest_tax_pb2.Invoice(
                invoice_number=number,
                seller_name=seller[0],
                seller_uscc=seller[1],
                buyer_name=buyer[0],
                buyer_uscc=buyer[1],
                kind=kind,
                original_invoice_number=original,
                lines=lines,
            )
            inv.issue_time.FromDatetime(issue.astimezone(UTC))
            return inv

        def line(
            n: int, code: str, item: str, spec: str, unit: str, qty: Decimal, price: Decimal, rate: str
        ) -> ingest_tax_pb2.InvoiceLine:
            amount = _q(qty * price, "0.01")
            return ingest_tax_pb2.InvoiceLine(
                line_number=n,
                tax_code=code,
                item_name=item,
                specification=spec,
                unit=unit,
                quantity=_dec(qty),
                unit_price=_dec(price),
                amount=_dec(amount),
                tax_rate=_dec(Decimal(rate)),
                tax_amount=_dec(_q(amount * Decimal(rate), "0.01")),
            )

        me = (enterprise.display_name, enterprise.uscc)
        # Electricity bill: kWh as billed (the meter total within billing noise).
        kwh = _q(self.monthly_mwh(enterprise, month) * 1000 * rng.uniform(0.995, 1.005), "1")
        result.append(
            invoice(
                f"{tag}01",
                GRID_SUPPLIER,
                me,
                [line(1, "1100101020000000000", "*供电*电费", "10kV", "千瓦时", kwh, Decimal("0.6512"), "0.13")],
            )
        )
        diesel_t = enterprise.industry.diesel_t_per_month * enterprise.scale
        if diesel_t:
            litres = _q(diesel_t * _litres_per_tonne("diesel") * rng.uniform(0.8, 1.2), "1")
            result.append(
                invoice(
                    f"{tag}02",
                    FUEL_SUPPLIER,
                    me,
                    [line(1, "1070101030100000000", "*成品油*车用柴油0#", "0#", "升", litres, Decimal("7.21"), "0.13")],
                )
            )
        lng_t = enterprise.industry.lng_t_per_month * enterprise.scale
        if lng_t:
            tonnes = _q(lng_t * rng.uniform(0.8, 1.2), "0.001")
            result.append(
                invoice(
                    f"{tag}03",
                    GAS_SUPPLIER,
                    me,
                    [line(1, "1100202030000000000", "*液化天然气*LNG", "", "吨", tonnes, Decimal("5200"), "0.09")],
                )
            )
        if month.endswith("-06"):
            # A duplicated bill and the red-letter invoice (红字发票) that reverses it.
            dup = f"{tag}06"
            extra = _q(kwh / 10, "1")
            result.append(
                invoice(
                    dup,
                    GRID_SUPPLIER,
                    me,
                    [line(1, "1100101020000000000", "*供电*电费", "10kV", "千瓦时", extra, Decimal("0.6512"), "0.13")],
                )
            )
            result.append(
                invoice(
                    f"{tag}07",
                    GRID_SUPPLIER,
                    me,
                    [line(1, "1100101020000000000", "*供电*电费", "10kV", "千瓦时", -extra, Decimal("0.6512"), "0.13")],
                    kind=ingest_tax_pb2.Invoice.KIND_RED_LETTER,
                    original=dup,
                )
            )
        # Value added this month, at the enterprise's own efficiency (drawn once).
        low, high = enterprise.industry.value_added_per_mwh_cny
        efficiency = np.random.default_rng([self.seed, enterprise.seed, 11]).uniform(low, high)
        value_added = self.monthly_mwh(enterprise, month) * efficiency * rng.uniform(0.95, 1.05)
        # Raw materials: not energy, so only counted (data minimisation).
        goods = _q(value_added * rng.uniform(1.0, 1.8), "1")
        result.append(
            invoice(
                f"{tag}04",
                GOODS_SUPPLIER,
                me,
                [
                    line(
                        1,
                        "1080204010000000000",
                        "*钢材*热轧钢板",
                        "Q235",
                        "吨",
                        _q(goods / 4000, "0.001"),
                        Decimal("4000"),
                        "0.13",
                    )
                ],
            )
        )
        # Own sales: revenue = value added + everything bought (excl. VAT).
        bought = sum(
            (Decimal(ln.amount.value) for inv in result if inv.buyer_uscc == enterprise.uscc for ln in inv.lines),
            Decimal(0),
        )
        revenue = _q(Decimal(str(value_added)) + bought, "0.01")
        customer = ("下游客户有限公司", make_uscc(enterprise.region_code, 999_999, self.seed))
        result.append(
            invoice(
                f"{tag}05",
                me,
                customer,
                [
                    line(
                        1,
                        "1090000000000000000",
                        f"*产品*{enterprise.industry.name.split()[0]}",
                        "",
                        "批",
                        Decimal(1),
                        revenue,
                        "0.13",
                    )
                ],
            )
        )
        return result


def generate_region(
    seed: int = 7, enterprises: int = 12, year: int = 2024, province_code: str = "330000", region_code: str = "330800"
) -> Region:
    rng = np.random.default_rng(seed)
    members = []
    for serial in range(enterprises):
        industry = INDUSTRIES[serial % len(INDUSTRIES)]
        members.append(
            SynthEnterprise(
                uscc=make_uscc(region_code, serial, seed),
                display_name=f"衢州示例{industry.name.split()[0]}{serial:03d}有限公司",
                industry=industry,
                province_code=province_code,
                region_code=region_code,
                scale=float(rng.uniform(0.5, 1.6)),
                seed=serial,
            )
        )
    return Region(seed=seed, year=year, enterprises=members)
