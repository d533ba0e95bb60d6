"""`make demo`: a small synthetic region through the running stack.

Acts as the platform operator (admin token from .run/secrets.env), a bank
(API key it is issued) and each enterprise (clicking its signed one-click
link). Everything goes through the services' real gRPC and REST edges. Ends with the bank's loan
book: its financed emissions from the consented accounts, and where its disclosure report is.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlparse

import grpc
import httpx
from carbon.v1 import (
    accounting_pb2,
    accounting_pb2_grpc,
    common_pb2,
    ingest_energy_pb2,
    ingest_energy_pb2_grpc,
    ingest_tax_pb2,
    ingest_tax_pb2_grpc,
)
from carbon_common.channels import service_channel
from carbon_devkit.local import PORTS, local_secrets
from carbon_synth import generate_region

CONSENT = f"http://127.0.0.1:{PORTS['consent'][1]}"
PRICING = f"http://127.0.0.1:{PORTS['loan-pricing'][1]}"
BANK_ID = "qujiang-rcb"
PRODUCT = "quzhou_tanrongyi"


def fail(message: str) -> None:
    print(f"demo: {message}", file=sys.stderr)
    sys.exit(1)


def checked(response: httpx.Response, *ok: int) -> dict:
    if response.status_code not in (ok or (200, 201)):
        fail(f"{response.request.method} {response.request.url} -> {response.status_code}: {response.text}")
    return response.json()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--enterprises", type=int, default=12)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--year", type=int, default=2024)
    args = parser.parse_args()

    secrets = local_secrets()
    admin = {"authorization": f"Bearer {secrets['CARBON_ADMIN_TOKEN']}"}
    http = httpx.Client(timeout=30)
    try:
        http.get(f"{CONSENT}/healthz").raise_for_status()
    except httpx.HTTPError:
        fail("the stack is not running: start it with `make run` in another terminal")

    region = generate_region(seed=args.seed, enterprises=args.enterprises, year=args.year)
    run = uuid.uuid4().hex[:8]
    now = datetime.now(UTC).replace(microsecond=0)
    expire = (now + timedelta(days=180)).isoformat().replace("+00:00", "Z")
    # Data from Shanghai midnight of 1 January through the consent's expiry.
    window = {"startTime": f"{args.year - 1}-12-31T16:00:00Z", "endTime": expire}

    # 1. The bank is onboarded and gets its API key once.
    bank = checked(
        http.post(
            f"{CONSENT}/v1/banks",
            headers=admin,
            json={"bankId": f"{BANK_ID}-{run}", "displayName": "衢江农商银行 Qujiang RCB"},
        ),
        201,
    )
    bank_id, bank_key = bank["bank"]["name"].split("/")[1], bank["apiKey"]
    as_bank = {"authorization": f"Bearer {bank_key}"}
    print(f"bank {bank_id} onboarded (API key issued once, not shown)")

    secret = secrets["CARBON_SERVICE_SECRET"]
    tax = ingest_tax_pb2_grpc.TaxIngestionServiceStub(
        service_channel(f"127.0.0.1:{PORTS['ingest-tax'][0]}", "tax-feed", secret)
    )
    energy = ingest_energy_pb2_grpc.EnergyIngestionServiceStub(
        service_channel(f"127.0.0.1:{PORTS['ingest-energy'][0]}", "meter-feed", secret)
    )
    accounting = accounting_pb2_grpc.AccountingServiceStub(
        service_channel(f"127.0.0.1:{PORTS['accounting'][0]}", "operator", secret)
    )

    without_consent = region.enterprises[-1]
    for e in region.enterprises:
        body = {
            "uscc": e.uscc,
            "displayName": e.display_name,
            "industryCode": e.industry.code,
            "provinceCode": e.province_code,
            "regionCode": e.region_code,
        }
        checked(http.post(f"{CONSENT}/v1/enterprises", headers=admin, json=body), 201, 409)
        # 2. One-click collection consent for the platform (recorded as an admin grant in the audit log).
        checked(
            http.post(
                f"{CONSENT}/v1/enterprises/{e.uscc}/consents:grant",
                headers=admin,
                json={
                    "grantee": "platform",
                    "scopes": ["TAX_INVOICES", "ENERGY_METERING"],
                    "purpose": "CARBON_ACCOUNTING",
                    "dataWindow": window,
                    "expireTime": expire,
                    "requestId": f"collect-{run}-{e.uscc}",
                },
            ),
            201,
        )

    # 3. Ingestion: a year of e-invoices and 15-minute readings per enterprise.
    readings = 0
    for e in region.enterprises:
        for month in region.months():
            tax.IngestInvoices(
                ingest_tax_pb2.IngestInvoicesRequest(
                    parent=e.name, invoices=region.invoices(e, month), request_id=f"inv-{e.uscc}-{month}"
                ),
                timeout=60,
            )
        meter = f"{e.name}/meters/{e.meter_id}"
        try:
            energy.CreateMeter(
                ingest_energy_pb2.CreateMeterRequest(
                    parent=e.name,
                    meter_id=e.meter_id,
                    meter=ingest_energy_pb2.Meter(
                        energy_type=common_pb2.ENERGY_TYPE_ELECTRICITY,
                        reading_kind=ingest_energy_pb2.Meter.READING_KIND_INTERVAL,
                        time_zone="Asia/Shanghai",
                        interval_seconds=900,
                    ),
                ),
                timeout=30,
            )
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.ALREADY_EXISTS:
                raise

        def batches(e=e, meter=meter):
            for month in region.months():
                ts, wh = region.readings(e, month)
                yield ingest_energy_pb2.ReadingBatch(
                    meter=meter, request_id=f"rd-{e.uscc}-{month}", timestamps=ts.tolist(), values=wh.tolist()
                )

        response = energy.StreamReadings(batches(), timeout=120)
        readings += sum(batch.readings for batch in response.batches)
    print(f"ingested {len(region.enterprises) * 12} invoice batches and {readings:,} meter readings")

    # 4. Accounting recomputes from the ingestion events; wait until every account is stable.
    accounts: dict[str, accounting_pb2.Account] = {}
    deadline = time.monotonic() + 120
    while len(accounts) < len(region.enterprises) and time.monotonic() < deadline:
        for e in region.enterprises:
            try:
                account = accounting.GetAccount(
                    accounting_pb2.GetAccountRequest(name=f"{e.name}/accounts/{args.year}"), timeout=10
                )
            except grpc.RpcError as error:
                if error.code() != grpc.StatusCode.NOT_FOUND:
                    raise
                continue
            if Decimal(account.quality.coverage.value or 0) >= Decimal("0.99"):  # a whole year of readings in
                accounts[e.uscc] = account
        time.sleep(0.5)
    if len(accounts) < len(region.enterprises):
        fail(f"only {len(accounts)} of {len(region.enterprises)} accounts were computed in 120 s")

    # 5. The bank asks each enterprise (but one) for access; each enterprise clicks its one-click link.
    for e in region.enterprises:
        if e is without_consent:
            continue
        consent = checked(
            http.post(
                f"{CONSENT}/v1/enterprises/{e.uscc}/consents",
                headers=as_bank,
                json={
                    "grantee": f"banks/{bank_id}",
                    "scopes": ["CARBON_ACCOUNT", "RATING", "REPORT"],
                    "purpose": "CREDIT_ASSESSMENT",
                    "dataWindow": window,
                    "expireTime": expire,
                    "requestId": f"access-{run}-{e.uscc}",
                },
            ),
            201,
        )
        # The platform delivers the one-click link to the enterprise (never to the bank).
        consent_id = consent["name"].rsplit("/", 1)[1]
        delivered = checked(
            http.post(f"{CONSENT}/v1/enterprises/{e.uscc}/consents/{consent_id}:authorizationLink", headers=admin)
        )
        link = urlparse(delivered["uri"])
        token = parse_qs(link.query)["token"][0]
        response = http.post(f"{CONSENT}{link.path}", data={"token": token, "decision": "authorize"})
        if response.status_code not in (200, 303):
            fail(f"authorising {e.uscc} failed: {response.status_code}")

    # 6. Quotes through the bank product's Rego policy.
    rows = []
    for e in region.enterprises:
        response = http.post(
            f"{PRICING}/v1/banks/{bank_id}/quotes",
            headers=as_bank,
            json={
                "request_id": f"q-{run}-{e.uscc}",
                "product": PRODUCT,
                "enterprise": e.name,
                "amount_cny": "5000000.00",
                "tenor_months": 12,
                "reference_rate_pct": "3.45",
            },
        )
        account = accounts[e.uscc]
        if response.status_code == 200 or response.status_code == 201:
            q = response.json()
            outcome = (q["grade"] or "-", q["decision"], f"{q['rate_adjustment_bp']:+d}", q["final_rate_pct"])
        else:
            error = response.json()["error"]
            reason = next((d.get("reason") for d in error.get("details", []) if "reason" in d), error["status"])
            outcome = ("-", f"refused: {reason}", "", "")
        rows.append((e, account, *outcome))

    print(f"\n{PRODUCT} quotes for {bank_id}, reference rate 3.45 % (LPR + spread), 5,000,000 CNY, 12 months\n")
    row = "{:<19} {:<7} {:>12} {:>17} {:<12} {:<26} {:>5} {:>7}"
    print(row.format("USCC", "industry", f"tCO2 {args.year}", "tCO2/10^4 CNY VA", "grade", "decision", "bp", "rate %"))
    for e, account, grade, decision, bp, rate in rows:
        total = f"{Decimal(account.total_tco2.value or '0'):,.1f}"
        intensity = account.intensity_value_added.value or "-"
        print(row.format(e.uscc, e.industry.code, total, intensity, grade, decision, bp, rate))
    print(f"\n{without_consent.uscc} granted the bank no access, so its quote is refused.")

    # 7. The bank's loan book: one position per enterprise, uploaded as CSV, and its financed emissions.
    book = f"{PRICING}/v1/banks/{bank_id}/books/main/snapshots"
    snapshot = f"{args.year}-12-31"
    lines = ["position_id,enterprise,product,outstanding_cny,equity_plus_debt_cny,industry_code,region_code"]
    for number, e in enumerate(region.enterprises, start=1):
        lines.append(f"L{number:03d},{e.uscc},{PRODUCT},5000000.00,200000000.00,{e.industry.code},{e.region_code}")
    checked(
        http.post(
            f"{book}:upload",
            params={"snapshotId": snapshot},
            headers={**as_bank, "content-type": "text/csv"},
            content="\n".join(lines).encode(),
        ),
        200,
        201,
    )
    financed = checked(
        http.get(f"{book}/{snapshot}:financedEmissions", params={"reportingPeriod": args.year}, headers=as_bank)
    )
    print(
        f"\nloan book banks/{bank_id}/books/main, snapshot {snapshot}: {financed['positions']} positions, "
        f"{Decimal(financed['outstandingCny']):,.0f} CNY outstanding"
    )
    print(
        f"financed emissions {args.year} (PCAF Part A): {financed['financedTco2']} tCO2, "
        f"{financed['economicIntensity']} tCO2 per million CNY lent, "
        f"weighted data-quality score {financed['weightedDataQualityScore']}; "
        f"{financed['fromAccounts']} from carbon accounts under consent, {financed['estimated']} estimated "
        f"from the bank's figures, {financed['positions'] - financed['covered']} without a figure"
    )
    print(f"disclosure report: {book}/{snapshot}:disclosureReport?reportingPeriod={args.year} (bank API key)")
    print(f"portfolio page:    {PRICING}/bank/portfolio (sign in with the bank's API key)")


if __name__ == "__main__":
    main()
