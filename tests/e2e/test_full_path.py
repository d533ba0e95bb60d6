"""The whole flow across six service processes over real gRPC and REST.

consent recorded -> e-invoices and meter readings ingested -> accounting
computes emissions with real factors -> rating grades under the Zhejiang
carbon-efficiency code -> loan-pricing quotes through the Wuyi 减碳贷 Rego
policy. Plus the refusals without consent and a graceful SIGTERM shutdown.

The numbers for enterprise H are computed by hand below from the factor
files (services/accounting/.../factors/cn-2024.1) and the scheme file
(services/rating/.../schemes/zhejiang-carbon-efficiency.yaml).
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import grpc
import httpx
import pytest
from carbon.v1 import (
    accounting_pb2,
    accounting_pb2_grpc,
    common_pb2,
    ingest_energy_pb2,
    ingest_energy_pb2_grpc,
    ingest_tax_pb2,
    ingest_tax_pb2_grpc,
    rating_pb2,
    rating_pb2_grpc,
)
from carbon_common import events
from carbon_common.errors import from_rpc_error
from carbon_common.telemetry import read_span_file
from carbon_devkit.credentials import ADMIN_TOKEN
from carbon_devkit.stack import Stack as Platform
from carbon_devkit.stack import start_platform
from carbon_synth import make_uscc
from google.type import decimal_pb2

from tests.support import fresh

pytestmark = pytest.mark.e2e

SHANGHAI = timezone(timedelta(hours=8))
YEAR = 2024
INDUSTRY = "C2611"
# Hand-computed expectations for enterprise H (inventory year 2024, Zhejiang 330000).
#
# Electricity: a meter reading 34,000 Wh every 15 minutes all of 2024
#   366 days x 96 intervals = 35,136 intervals; 35,136 x 34 kWh = 1,194,624 kWh = 1,194.624 MWh.
#   Monthly invoices bill exactly the same kWh (days x 96 x 34 = days x 3,264 kWh), so the sources agree.
#   Grid factor: rule "same" wants data year 2024, absent -> newest earlier, 2023; no province row
#   for 330000 in 2023 -> its grid region "east" (grid_regions.csv) -> 0.5500 tCO2/MWh (grid.csv).
#   Scope 2 (location) = 1,194.624 x 0.5500 = 657.0432 tCO2.
# Diesel: 11,760 L, stored as litres by ingest-tax; accounting's default density is the accounting
#   guideline's 0.84 t/m3 (carbon_ingest/data/units.yaml): 11,760 L x 0.84 t/m3 / 1,000 L/m3 = 9.8784 t.
#   Scope 1 = 9.8784 t x 43.33 GJ/t x 0.02020 tC/GJ x 0.98 x 44/12   (fuels.csv)
#           = 428.031072 GJ x 0.0202 = 8.6462276544 tC; x 0.98 = 8.473303101312 tC;
#             x 44/12 = 31.068778038144 tCO2 -> 31.068778 (6 decimals, half-even).
# Total = 657.0432 + 31.068778 = 688.111978 tCO2.
# Value added = sales - purchases (excl. VAT) = 13,000,000 - (597,312 electricity + 82,320 diesel
#   + 2,320,368 materials) = 10,000,000 CNY = 1,000 x 10^4 CNY.
# L = 688.111978 / 1,000 = 0.688112 tCO2 per 10^4 CNY value added (<= 2.0 and > 0.6: medium-carbon).
#
# Four peers in C2611, value added 1,000 x 10^4 CNY each, electricity only:
#   2,000,000 / 1,000,000 / 3,000,000 / 1,500,000 kWh x 0.55 = 1,100 / 550 / 1,650 / 825 tCO2.
# Industry average L (ratio of sums, 5 enterprises = min_sample) =
#   (688.111978 + 1,100 + 550 + 1,650 + 825) / 5,000 = 4,813.111978 / 5,000 = 0.962622 (6 dp).
# K = L / average = 0.688111978 / 0.9626223956 = 0.7148... -> 0.6 < K <= 0.8 -> grade 2.
# Wuyi 减碳贷 (policies/products/wuyi_jiantandai/data.json): grade 2 -> APPROVE, -50 bp;
#   no 2023 account, so no reduction and no credit-line increase.
#   Final rate = 3.45 % - 0.50 % = 2.95 %.
EXPECTED_SCOPE1 = Decimal("31.068778")
EXPECTED_SCOPE2 = Decimal("657.0432")
EXPECTED_TOTAL = Decimal("688.111978")
EXPECTED_VALUE_ADDED = Decimal("10000000")
EXPECTED_L = Decimal("0.688112")
EXPECTED_BENCHMARK = Decimal("0.962622")
PEER_KWH = (2_000_000, 1_000_000, 3_000_000, 1_500_000)
WH_PER_INTERVAL = 34_000
KWH_PER_DAY = WH_PER_INTERVAL * 96 // 1000  # 3,264

H = make_uscc("330781", 1, 2024)  # 330781: Wuyi county, Jinhua
PEERS = [make_uscc("330781", 10 + i, 2024) for i in range(len(PEER_KWH))]
NO_CONSENT = make_uscc("330781", 99, 2024)
GRID = ("国网浙江省电力有限公司", make_uscc("330000", 1, 1))
FUEL = ("中国石化销售股份有限公司浙江石油分公司", make_uscc("330000", 2, 1))
GOODS = ("杭州示例材料有限公司", make_uscc("330100", 3, 1))
CUSTOMER = ("下游客户有限公司", make_uscc("330100", 4, 1))


def dec(value: Decimal | int | str) -> decimal_pb2.Decimal:
    return decimal_pb2.Decimal(value=format(Decimal(value), "f"))


def invoice(
    number: str,
    month: int,
    seller: tuple[str, str],
    buyer: tuple[str, str],
    code: str,
    item: str,
    unit: str,
    quantity: Decimal,
    price: Decimal,
    rate: str = "0.13",
) -> ingest_tax_pb2.Invoice:
    amount = (quantity * price).quantize(Decimal("0.01"))
    line = ingest_tax_pb2.InvoiceLine(
        line_number=1,
        tax_code=code,
        item_name=item,
        unit=unit,
        quantity=dec(quantity),
        unit_price=dec(price),
        amount=dec(amount),
        tax_rate=dec(rate),
        tax_amount=dec((amount * Decimal(rate)).quantize(Decimal("0.01"))),
    )
    result = ingest_tax_pb2.Invoice(
        invoice_number=number,
        seller_name=seller[0],
        seller_uscc=seller[1],
        buyer_name=buyer[0],
        buyer_uscc=buyer[1],
        kind=ingest_tax_pb2.Invoice.KIND_NORMAL,
        lines=[line],
    )
    result.issue_time.FromDatetime(datetime(YEAR, month, 15, 10, tzinfo=SHANGHAI).astimezone(UTC))
    return result


def electricity(uscc: str, month: int, kwh: int, serial: int) -> ingest_tax_pb2.Invoice:
    return invoice(
        f"2433078100{serial:04d}{month:02d}0001"[:20],
        month,
        GRID,
        ("e", uscc),
        "1100101020000000000",
        "*供电*电费",
        "千瓦时",
        Decimal(kwh),
        Decimal("0.5"),
    )


def h_invoices() -> list[ingest_tax_pb2.Invoice]:
    me = ("企业H有限公司", H)
    result = [electricity(H, m, calendar.monthrange(YEAR, m)[1] * KWH_PER_DAY, 1) for m in range(1, 13)]
    result.append(
        invoice(
            "24330781000100000002",
            3,
            FUEL,
            me,
            "1070101030100000000",
            "*成品油*车用柴油0#",
            "升",
            Decimal(11_760),
            Decimal(7),
        )
    )
    result.append(
        invoice(
            "24330781000100000003",
            5,
            GOODS,
            me,
            "1080204010000000000",
            "*钢材*热轧钢板",
            "吨",
            Decimal(580_092),
            Decimal(4),
        )
    )
    result.append(
        invoice(
            "24330781000100000004",
            12,
            me,
            CUSTOMER,
            "1090000000000000000",
            "*产品*硫酸",
            "批",
            Decimal(1),
            Decimal(13_000_000),
        )
    )
    return result


def peer_invoices(uscc: str, kwh: int, serial: int) -> list[ingest_tax_pb2.Invoice]:
    me = (f"同业{serial}有限公司", uscc)
    electricity_cost = Decimal(kwh) * Decimal("0.5")
    return [
        electricity(uscc, 6, kwh, serial),
        invoice(
            f"2433078100{serial:04d}000009",
            12,
            me,
            CUSTOMER,
            "1090000000000000000",
            "*产品*硫酸",
            "批",
            Decimal(1),
            Decimal(10_000_000) + electricity_cost,
        ),
    ]


def readings(month: int) -> tuple[list[int], list[int]]:
    start = datetime(YEAR, month, 1, tzinfo=SHANGHAI)
    count = calendar.monthrange(YEAR, month)[1] * 96
    first = int(start.timestamp())
    return [first + 900 * i for i in range(count)], [WH_PER_INTERVAL] * count


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    # Starting six services is slow on a loaded two-core machine (imports alone took 31 s at load 46).
    running = start_platform(tmp_path_factory.mktemp("platform"), wait=120)
    yield running
    codes = running.stop()
    assert all(code == 0 for code in codes.values()), f"unclean shutdown on SIGTERM: {codes}"


def rest(method: str, url: str, token: str, extra_headers: dict[str, str] | None = None, **kwargs: object) -> dict:
    """One call (to loan-pricing: retried while its consent projection is stale, tests.support.fresh)."""
    headers = {"authorization": f"Bearer {token}", **(extra_headers or {})}
    response = fresh.rest(lambda: httpx.request(method, url, headers=headers, timeout=30, **kwargs))
    assert response.status_code in (200, 201), f"{method} {url}: {response.status_code} {response.text}"
    return response.json()


def error_reason(response: httpx.Response) -> str:
    return next(d["reason"] for d in response.json()["error"]["details"] if "reason" in d)


def test_consent_ingest_account_rate_quote(platform: Platform) -> None:
    consent = platform.http("consent")
    now = datetime.now(UTC).replace(microsecond=0)
    window = {"startTime": f"{YEAR - 1}-12-31T16:00:00Z", "endTime": (now + timedelta(days=30)).isoformat()}
    expire = (now + timedelta(days=90)).isoformat()

    # 1. Enterprises and their collection consents (H, four peers); one enterprise without.
    for uscc in (H, *PEERS, NO_CONSENT):
        rest(
            "POST",
            f"{consent}/v1/enterprises",
            ADMIN_TOKEN,
            json={
                "uscc": uscc,
                "displayName": f"企业 {uscc}",
                "industryCode": INDUSTRY,
                "provinceCode": "330000",
                "regionCode": "330781",
            },
        )
    for uscc in (H, *PEERS):
        rest(
            "POST",
            f"{consent}/v1/enterprises/{uscc}/consents:grant",
            ADMIN_TOKEN,
            json={
                "grantee": "platform",
                "scopes": ["TAX_INVOICES", "ENERGY_METERING"],
                "purpose": "CARBON_ACCOUNTING",
                "dataWindow": window,
                "expireTime": expire,
            },
        )

    # 2. Ingestion over gRPC.
    tax = ingest_tax_pb2_grpc.TaxIngestionServiceStub(platform.channel("ingest-tax"))
    energy = ingest_energy_pb2_grpc.EnergyIngestionServiceStub(platform.channel("ingest-energy"))
    tax.IngestInvoices(
        ingest_tax_pb2.IngestInvoicesRequest(
            parent=f"enterprises/{H}", invoices=h_invoices(), request_id="h-invoices-2024"
        ),
        timeout=30,
    )
    for serial, (uscc, kwh) in enumerate(zip(PEERS, PEER_KWH, strict=True), start=2):
        tax.IngestInvoices(
            ingest_tax_pb2.IngestInvoicesRequest(
                parent=f"enterprises/{uscc}", invoices=peer_invoices(uscc, kwh, serial), request_id=f"peer-{serial}"
            ),
            timeout=30,
        )
    energy.CreateMeter(
        ingest_energy_pb2.CreateMeterRequest(
            parent=f"enterprises/{H}",
            meter_id="incomer-1",
            meter=ingest_energy_pb2.Meter(
                energy_type=common_pb2.ENERGY_TYPE_ELECTRICITY,
                reading_kind=ingest_energy_pb2.Meter.READING_KIND_INTERVAL,
                time_zone="Asia/Shanghai",
                interval_seconds=900,
            ),
        ),
        timeout=30,
    )
    batches = []
    for month in range(1, 13):
        ts, wh = readings(month)
        batches.append(
            ingest_energy_pb2.ReadingBatch(
                meter=f"enterprises/{H}/meters/incomer-1", request_id=f"h-{month}", timestamps=ts, values=wh
            )
        )
    stored = energy.StreamReadings(iter(batches), timeout=60)
    assert stored.readings_stored == 366 * 96

    # Without a collection consent, ingestion is refused with a clear reason.
    with pytest.raises(grpc.RpcError) as refused:
        tax.IngestInvoices(
            ingest_tax_pb2.IngestInvoicesRequest(
                parent=f"enterprises/{NO_CONSENT}", invoices=peer_invoices(NO_CONSENT, 1000, 9), request_id="x"
            ),
            timeout=30,
        )
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert from_rpc_error(refused.value).reason == "CONSENT_REQUIRED"

    # 3. Accounting recomputes from the ingestion events.
    accounting = accounting_pb2_grpc.AccountingServiceStub(platform.channel("accounting"))
    account = wait_for_account(accounting, H, lambda a: Decimal(a.total_tco2.value) == EXPECTED_TOTAL)
    assert Decimal(account.scope1_tco2.value) == EXPECTED_SCOPE1
    assert Decimal(account.scope2_location_tco2.value) == EXPECTED_SCOPE2
    assert Decimal(account.value_added_cny.value) == EXPECTED_VALUE_ADDED
    assert Decimal(account.intensity_value_added.value).quantize(Decimal("0.000001"), ROUND_HALF_EVEN) == EXPECTED_L
    assert account.factor_set_version
    location = accounting_pb2.Account.SCOPE2_METHOD_LOCATION_BASED
    grid = [
        a
        for a in account.activities
        if a.energy_type == common_pb2.ENERGY_TYPE_ELECTRICITY and a.scope2_method == location
    ]
    assert [Decimal(a.factor_value.value) for a in grid] == [Decimal("0.55")]
    assert grid[0].factor_source and grid[0].factor_id
    for uscc, kwh in zip(PEERS, PEER_KWH, strict=True):
        expected = Decimal(kwh) / 1000 * Decimal("0.55")
        wait_for_account(accounting, uscc, lambda a, e=expected: Decimal(a.total_tco2.value) == e)

    # 4. Rating under the Zhejiang carbon-efficiency code.
    rating_stub = rating_pb2_grpc.RatingServiceStub(platform.channel("rating"))
    rating = wait_for(
        lambda: benchmark_of(
            rating_stub.GetRating(
                rating_pb2.GetRatingRequest(
                    name=f"enterprises/{H}/ratings/zhejiang-carbon-efficiency", period=str(YEAR)
                ),
                timeout=10,
            )
        ),
        EXPECTED_BENCHMARK,
    )
    assert rating.grade == "2", rating
    assert rating.scheme_version and rating.factor_set_version == account.factor_set_version
    assert "medium" in rating.grade_label.lower()
    assert rating.explanation

    # 5. A bank asks for access; the enterprise authorises on its one-click page.
    bank = rest("POST", f"{consent}/v1/banks", ADMIN_TOKEN, json={"bankId": "wuyi-rcb", "displayName": "武义农商银行"})
    bank_key = bank["apiKey"]
    requested = rest(
        "POST",
        f"{consent}/v1/enterprises/{H}/consents",
        bank_key,
        json={
            "grantee": "banks/wuyi-rcb",
            "scopes": ["RATING", "CARBON_ACCOUNT"],
            "purpose": "CREDIT_ASSESSMENT",
            "dataWindow": window,
            "expireTime": expire,
        },
    )
    assert not requested.get("authorizationUri")  # the bank never holds the enterprise's link
    consent_id = requested["name"].rsplit("/", 1)[1]
    delivered = rest("POST", f"{consent}/v1/enterprises/{H}/consents/{consent_id}:authorizationLink", ADMIN_TOKEN)
    link = urlparse(delivered["uri"])
    clicked = httpx.post(
        f"{consent}{link.path}", data={"token": parse_qs(link.query)["token"][0], "decision": "authorize"}
    )
    assert clicked.status_code in (200, 303)
    fresh.after_consent_change(time.monotonic())  # pricing decides on its projection of consent's events

    # 6. The quote, through the Rego policy.
    pricing = platform.http("loan-pricing")
    body = {
        "request_id": "wuyi-h-1",
        "product": "wuyi_jiantandai",
        "enterprise": f"enterprises/{H}",
        "amount_cny": "3000000.00",
        "tenor_months": 12,
        "reference_rate_pct": "3.45",
    }
    caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736"  # the bank's own trace, W3C traceparent
    quote = rest(
        "POST",
        f"{pricing}/v1/banks/wuyi-rcb/quotes",
        bank_key,
        json=body,
        extra_headers={"traceparent": f"00-{caller_trace}-00f067aa0ba902b7-01"},
    )
    assert quote["decision"] == "APPROVE", quote
    assert quote["rate_adjustment_bp"] == -50
    assert Decimal(quote["final_rate_pct"]) == Decimal("2.95")
    assert quote["grade"] == "2"
    assert quote["scheme_id"] == "zhejiang-carbon-efficiency" and quote["scheme_version"]
    assert quote["account_period"] == str(YEAR)
    assert quote["policy_bundle_version"] and quote["decision_log_hash"]

    # One trace across the hops the quote caused: the REST edge, then (asynchronously) consent's audit of
    # the access decision, carried with the quote on carbon:events:access. Rating and accounting are not
    # called: pricing reads the published rating from its projection.
    for service, name in (("loan-pricing", "quotes"), ("consent", f"{events.ACCESS.name} audit")):
        wait_for_span(platform.span_file(service), caller_trace, name)

    # Without the enterprise's access consent the bank is refused.
    refused_quote = fresh.rest(
        lambda: httpx.post(
            f"{pricing}/v1/banks/wuyi-rcb/quotes",
            headers={"authorization": f"Bearer {bank_key}"},
            json={**body, "request_id": "wuyi-peer-1", "enterprise": f"enterprises/{PEERS[0]}"},
            timeout=30,
        )
    )
    assert refused_quote.status_code == 403
    assert error_reason(refused_quote) == "CONSENT_REQUIRED"


def wait_for_span(path: Path, trace_id: str, name: str, timeout: float = 10.0) -> None:
    """A span of `trace_id` whose name contains `name` was recorded by that process."""
    deadline = time.monotonic() + timeout
    names: list[str] = []
    while time.monotonic() < deadline:
        names = [span["name"] for span in read_span_file(path) if span["trace_id"] == trace_id]
        if any(name in recorded for recorded in names):
            return
        time.sleep(0.2)
    raise AssertionError(f"no {name!r} span of trace {trace_id} in {path.name}; spans of the trace: {names}")


def benchmark_of(rating: rating_pb2.Rating) -> tuple[rating_pb2.Rating, Decimal | None]:
    k = next((i for i in rating.indicators if i.id == "K"), None)
    return rating, (Decimal(k.benchmark.value) if k is not None and k.benchmark.value else None)


def wait_for(fetch, expected: Decimal, timeout: float = 60.0) -> rating_pb2.Rating:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            rating, benchmark = fetch()
        except grpc.RpcError as error:
            # FAILED_PRECONDITION until the peers' accounts reach the rating population.
            if error.code() != grpc.StatusCode.FAILED_PRECONDITION:
                raise
            last, benchmark = error, None
            time.sleep(0.5)
            continue
        last = rating
        if benchmark is not None and benchmark.quantize(Decimal("0.000001"), ROUND_HALF_EVEN) == expected:
            return rating
        time.sleep(0.5)
    raise AssertionError(f"benchmark never reached {expected}: {last}")


def wait_for_account(stub: accounting_pb2_grpc.AccountingServiceStub, uscc: str, ready, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            account = stub.GetAccount(
                accounting_pb2.GetAccountRequest(name=f"enterprises/{uscc}/accounts/{YEAR}"), timeout=10
            )
            last = account
            if ready(account):
                return account
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.NOT_FOUND:
                raise
            last = error
        time.sleep(0.3)
    raise AssertionError(f"account of {uscc} not as expected after {timeout}s: {last}")
