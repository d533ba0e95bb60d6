"""Seed real carbon accounts through the real services.

The path is the production one: the enterprise is registered in the consent
service (admin identity), the platform gets an authorised collection consent,
e-invoices go through the real ingest-tax service (which checks that consent
and writes the raw Parquet partitions), and the real accounting service
computes the account (ComputeAccount as a platform service; its event consumer
recomputes the same accounts from ingest-tax's activity events, with the same
input digest).

Invoice figures are chosen so the account comes out at the intended values:

- tCO2 = electricity MWh x the location-based grid factor accounting selects
  for the enterprise's province and the inventory year (read from accounting's
  own factor set with its own selection rules: `carbon_accounting.factors`),
  so kWh = tCO2 / factor x 1000 (6 decimals, exact after accounting's
  half-even rounding to 6 decimals of tCO2 for the figures tests use);
- value added = sales - every purchase (energy and non-energy), revenue =
  sales, tax = output VAT on sales (13 %).

    stack = start_stack(root, ["consent", "ingest-tax", "accounting"])
    seeder = Seeder.for_stack(stack)
    account = seeder.account(uscc, "2023", tco2="150", value_added="1000000")

Also the consent service's own seeding for banks (`ConsentClient`: banks, bank consents, revocation)
and the platform's collection consent alone (`grant_platform`, for the ingestion tests and benchmark).
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import grpc
from carbon.v1 import (
    accounting_pb2,
    accounting_pb2_grpc,
    consent_pb2,
    consent_pb2_grpc,
    enterprise_pb2,
    enterprise_pb2_grpc,
)
from carbon.v1 import ingest_tax_pb2 as tax_pb2
from carbon.v1 import ingest_tax_pb2_grpc as tax_pb2_grpc
from carbon_accounting import factors as fx
from carbon_common.channels import service_channel
from carbon_common.names import uscc_check_char

from carbon_devkit.credentials import ADMIN_TOKEN, SERVICE_SECRET
from carbon_devkit.processes import ServiceProcess
from carbon_devkit.stack import Stack

SHANGHAI = ZoneInfo("Asia/Shanghai")

# 税收分类编码 + item names ingest-tax classifies (see carbon_ingest_tax/data).
ELECTRICITY = ("1100101020000000000", "*供电*电费", "千瓦时")
NON_ENERGY = ("1060511990000000000", "*办公用品*纸", "")
GOODS_SOLD = ("1090000000000000000", "*机械设备*泵", "台")
VAT = Decimal("0.13")
CENT = Decimal("0.01")
MICRO = Decimal("0.000001")


def register_enterprise(
    stub: Any,
    metadata: tuple[tuple[str, str], ...],
    uscc: str,
    industry: str = "C2611",
    province: str = "330000",
    region: str = "330502",
    *,
    display_name: str | None = None,
) -> None:
    """EnterpriseService.CreateEnterprise through the real consent service; ALREADY_EXISTS is fine."""
    try:
        stub.CreateEnterprise(
            enterprise_pb2.CreateEnterpriseRequest(
                enterprise=enterprise_pb2.Enterprise(
                    uscc=uscc,
                    display_name=display_name or f"测试企业 {uscc[-6:]}",
                    industry_code=industry,
                    province_code=province,
                    region_code=region,
                )
            ),
            metadata=metadata,
            timeout=10,
        )
    except grpc.RpcError as error:
        if error.code() != grpc.StatusCode.ALREADY_EXISTS:
            raise


COLLECTION_SCOPES = (consent_pb2.CONSENT_SCOPE_TAX_INVOICES, consent_pb2.CONSENT_SCOPE_ENERGY_METERING)


def consent_request(
    uscc: str,
    grantee: str,
    scopes: Sequence[int],
    purpose: int,
    *,
    window: tuple[datetime, datetime],
    expire_time: datetime,
) -> consent_pb2.CreateConsentRequest:
    """CreateConsent for `grantee` over the data `window` [start, end), with a fresh request id."""
    consent = consent_pb2.Consent(grantee=grantee, scopes=list(scopes), purpose=purpose)
    consent.data_window.start_time.FromDatetime(window[0])
    consent.data_window.end_time.FromDatetime(window[1])
    consent.expire_time.FromDatetime(expire_time)
    return consent_pb2.CreateConsentRequest(parent=f"enterprises/{uscc}", consent=consent, request_id=uuid.uuid4().hex)


def authorise_platform(
    consents: consent_pb2_grpc.ConsentServiceStub,
    admin: tuple[tuple[str, str], ...],
    uscc: str,
    scopes: Sequence[int] = COLLECTION_SCOPES,
    timeout: float = 10,
) -> str:
    """The platform's collection consent (CARBON_ACCOUNTING purpose) created and authorised by the admin for
    the enterprise. The data window reaches back as far as the consent service allows for collection
    (~6 years)."""
    now = datetime.now(UTC)
    created = consents.CreateConsent(
        consent_request(
            uscc,
            "platform",
            scopes,
            consent_pb2.CONSENT_PURPOSE_CARBON_ACCOUNTING,
            window=(now - timedelta(days=2150), now + timedelta(days=1)),
            expire_time=now + timedelta(days=365),
        ),
        metadata=admin,
        timeout=timeout,
    )
    consents.AuthorizeConsent(consent_pb2.AuthorizeConsentRequest(name=created.name), metadata=admin, timeout=timeout)
    return str(created.name)


def grant_platform(
    consent_target: str, uscc: str, scopes: Sequence[int] = COLLECTION_SCOPES, admin_token: str = ADMIN_TOKEN
) -> str:
    """Register `uscc` in the consent service at `consent_target` and authorise the platform's collection."""
    admin = (("authorization", f"Bearer {admin_token}"),)
    with grpc.insecure_channel(consent_target) as channel:
        register_enterprise(enterprise_pb2_grpc.EnterpriseServiceStub(channel), admin, uscc)
        return authorise_platform(consent_pb2_grpc.ConsentServiceStub(channel), admin, uscc, scopes)


def make_uscc(serial: int, prefix: str = "91330500MA") -> str:
    first = f"{prefix}{serial:0{17 - len(prefix)}d}"
    return first + uscc_check_char(first)


SUPPLIER = make_uscc(9_000_001, "91330000MA")
CUSTOMER = make_uscc(9_000_002, "91330000MA")


def grid_factor(province: str, year: int, selection: fx.Selection | None = None) -> Decimal:
    """The location-based grid factor (tCO2/MWh) accounting uses for `province` in inventory `year`."""
    factor_set = fx.load_factor_set()
    return fx.grid_factor(factor_set, "location", province, year, selection or fx.Selection()).value


def electricity_kwh(tco2: Decimal | str, province: str, year: int, selection: fx.Selection | None = None) -> Decimal:
    """kWh whose Scope 2 (location) emissions are `tco2`."""
    return (Decimal(tco2) * 1000 / grid_factor(province, year, selection)).quantize(MICRO, ROUND_HALF_EVEN)


def _money(value: Decimal) -> str:
    return format(value.quantize(CENT, ROUND_HALF_EVEN), "f")


def _line(n: int, item: tuple[str, str, str], amount: Decimal, quantity: Decimal | None = None) -> tax_pb2.InvoiceLine:
    code, name, unit = item
    line = tax_pb2.InvoiceLine(line_number=n, tax_code=code, item_name=name, unit=unit)
    if quantity is not None:
        line.quantity.value = format(quantity, "f")
    line.amount.value = _money(amount)
    line.tax_amount.value = _money(amount * VAT)
    return line


_serials = itertools.count(1)


def _invoice_number() -> str:
    return f"{24330000000000000000 + next(_serials) * 7919 + uuid.uuid4().int % 7919}"


def year_invoices(
    uscc: str,
    year: int,
    *,
    kwh: Decimal,
    sales: Decimal | None,
    purchases: Decimal,
    issued: datetime | None = None,
) -> list[tax_pb2.Invoice]:
    """One electricity (+ other purchases) invoice bought and, when `sales` is given, one sale, in mid-year."""
    moment = issued or datetime(year, 6, 15, 10, 0, tzinfo=SHANGHAI)
    electricity_amount = min(purchases, (kwh * Decimal("0.6")).quantize(CENT)) if purchases > 0 else Decimal(0)
    lines = [_line(1, ELECTRICITY, electricity_amount, kwh)]
    if purchases - electricity_amount > 0:
        lines.append(_line(2, NON_ENERGY, purchases - electricity_amount))
    invoices = [
        tax_pb2.Invoice(
            invoice_number=_invoice_number(),
            seller_uscc=SUPPLIER,
            buyer_uscc=uscc,
            kind=tax_pb2.Invoice.KIND_NORMAL,
            lines=lines,
        )
    ]
    if sales is not None:
        invoices.append(
            tax_pb2.Invoice(
                invoice_number=_invoice_number(),
                seller_uscc=uscc,
                buyer_uscc=CUSTOMER,
                kind=tax_pb2.Invoice.KIND_NORMAL,
                lines=[_line(1, GOODS_SOLD, sales, Decimal(1))],
            )
        )
    for invoice in invoices:
        invoice.issue_time.FromDatetime(moment.astimezone(UTC))
    return invoices


@dataclass
class Seeder:
    """Registers enterprises, grants the platform's collection consent, ingests and computes."""

    consent_target: str
    ingest_tax_target: str
    accounting_target: str
    admin_token: str = ADMIN_TOKEN
    service_secret: str = SERVICE_SECRET
    caller: str = "operator"  # a catalog principal
    selection: fx.Selection = field(default_factory=fx.Selection)
    _granted: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._consent_channel = grpc.insecure_channel(self.consent_target)
        self.enterprises = enterprise_pb2_grpc.EnterpriseServiceStub(self._consent_channel)
        self.consents = consent_pb2_grpc.ConsentServiceStub(self._consent_channel)
        self._tax_channel = service_channel(self.ingest_tax_target, self.caller, self.service_secret)
        self.tax = tax_pb2_grpc.TaxIngestionServiceStub(self._tax_channel)
        self._accounting_channel = service_channel(self.accounting_target, self.caller, self.service_secret)
        self.accounting = accounting_pb2_grpc.AccountingServiceStub(self._accounting_channel)
        self.admin = (("authorization", f"Bearer {self.admin_token}"),)

    @classmethod
    def for_services(cls, services: Mapping[str, ServiceProcess], caller: str = "operator") -> Seeder:
        """A seeder for stack-started services (the dev-kit credentials)."""
        return cls(
            services["consent"].target, services["ingest-tax"].target, services["accounting"].target, caller=caller
        )

    @classmethod
    def for_stack(cls, stack: Stack, caller: str = "operator") -> Seeder:
        return cls.for_services(stack.services, caller)

    def close(self) -> None:
        for channel in (self._consent_channel, self._tax_channel, self._accounting_channel):
            channel.close()

    # -- consent ------------------------------------------------------------
    def register(self, uscc: str, *, industry: str = "C2611", province: str = "330000", region: str = "330502") -> None:
        """CreateEnterprise with the admin identity (ALREADY_EXISTS is fine)."""
        register_enterprise(self.enterprises, self.admin, uscc, industry, province, region)

    def grant_platform(self, uscc: str, scopes: Sequence[int] = COLLECTION_SCOPES) -> str:
        """The platform's collection consent (CARBON_ACCOUNTING purpose), authorised by the admin for the enterprise."""
        name = authorise_platform(self.consents, self.admin, uscc, scopes)
        self._granted.add(uscc)
        return name

    def enterprise(
        self, uscc: str, *, industry: str = "C2611", province: str = "330000", region: str = "330502"
    ) -> None:
        """Register and grant once."""
        if uscc not in self._granted:
            self.register(uscc, industry=industry, province=province, region=region)
            self.grant_platform(uscc)

    # -- ingestion and accounts ---------------------------------------------
    def ingest(self, uscc: str, invoices: list[tax_pb2.Invoice]) -> tax_pb2.IngestInvoicesResponse:
        response = self.tax.IngestInvoices(
            tax_pb2.IngestInvoicesRequest(parent=f"enterprises/{uscc}", invoices=invoices, request_id=uuid.uuid4().hex),
            timeout=30,
        )
        if response.quarantined:
            raise AssertionError(f"ingest-tax quarantined seed lines: {list(response.quarantined)}")
        return response

    def ingest_year(
        self,
        uscc: str,
        year: str | int,
        *,
        tco2: Decimal | str,
        value_added: Decimal | str | None,
        revenue: Decimal | str | None = None,
        province: str = "330000",
    ) -> Decimal:
        """Invoices of one year giving `tco2` and `value_added` (None: no sales, so no economics). Returns kWh."""
        year = int(year)
        kwh = electricity_kwh(tco2, province, year, self.selection)
        if value_added is None:
            sales, purchases = None, (kwh * Decimal("0.6")).quantize(CENT)
        else:
            va = Decimal(value_added)
            sales = Decimal(revenue) if revenue is not None else va * 2
            purchases = sales - va
            if purchases < 0:
                raise ValueError("value added cannot exceed revenue")
        self.ingest(uscc, year_invoices(uscc, year, kwh=kwh, sales=sales, purchases=purchases))
        return kwh

    def compute(self, uscc: str, period: str) -> accounting_pb2.Account:
        """ComputeAccount as a platform service (same digest as the event-driven recompute)."""
        return self.accounting.ComputeAccount(
            accounting_pb2.ComputeAccountRequest(name=f"enterprises/{uscc}/accounts/{period}"), timeout=60
        )

    def account(
        self,
        uscc: str,
        year: str | int,
        *,
        tco2: Decimal | str,
        value_added: Decimal | str | None,
        revenue: Decimal | str | None = None,
        industry: str = "C2611",
        province: str = "330000",
        region: str = "330502",
    ) -> accounting_pb2.Account:
        """Register + consent (once), ingest one year's invoices, compute the annual account and check it."""
        self.enterprise(uscc, industry=industry, province=province, region=region)
        self.ingest_year(uscc, year, tco2=tco2, value_added=value_added, revenue=revenue, province=province)
        account = self.compute(uscc, str(year))
        if Decimal(account.total_tco2.value) != Decimal(tco2):
            raise AssertionError(f"{account.name}: total_tco2 {account.total_tco2.value} != {tco2}")
        if value_added is not None and Decimal(account.value_added_cny.value) != Decimal(value_added):
            raise AssertionError(f"{account.name}: value_added {account.value_added_cny.value} != {value_added}")
        return account


class ConsentClient:
    """Seeds and operates the consent service through its real gRPC API: banks, their consents."""

    def __init__(self, target: str, admin_token: str = ADMIN_TOKEN) -> None:
        self.channel = grpc.insecure_channel(target)
        self.banks = consent_pb2_grpc.BankServiceStub(self.channel)
        self.consents = consent_pb2_grpc.ConsentServiceStub(self.channel)
        self.enterprises = enterprise_pb2_grpc.EnterpriseServiceStub(self.channel)
        self.admin = (("authorization", f"Bearer {admin_token}"),)

    def create_bank(self, bank_id: str) -> str:
        """CreateBank; the bank's API key."""
        response = self.banks.CreateBank(
            consent_pb2.CreateBankRequest(bank_id=bank_id, bank=consent_pb2.Bank(display_name=bank_id)),
            metadata=self.admin,
        )
        return str(response.api_key)

    def create_enterprise(
        self, uscc: str, industry: str = "C3011", province: str = "330000", region: str = "330800"
    ) -> None:
        register_enterprise(self.enterprises, self.admin, uscc, industry, province, region)

    def grant(
        self,
        uscc: str,
        bank_id: str,
        api_key: str,
        *,
        authorize: bool = True,
        scopes: tuple[int, ...] = (consent_pb2.CONSENT_SCOPE_RATING,),
    ) -> str:
        """The bank requests an access consent; the enterprise (admin acting for it) authorises it."""
        now = datetime.now(UTC)
        created = self.consents.CreateConsent(
            consent_request(
                uscc,
                f"banks/{bank_id}",
                scopes,
                consent_pb2.CONSENT_PURPOSE_CREDIT_ASSESSMENT,
                window=(now - timedelta(days=3 * 365), now + timedelta(days=30)),
                expire_time=now + timedelta(days=90),
            ),
            metadata=(("authorization", f"Bearer {api_key}"),),
        )
        if authorize:
            self.consents.AuthorizeConsent(consent_pb2.AuthorizeConsentRequest(name=created.name), metadata=self.admin)
        return str(created.name)

    def revoke(self, name: str) -> None:
        self.consents.RevokeConsent(consent_pb2.RevokeConsentRequest(name=name, reason="test"), metadata=self.admin)
