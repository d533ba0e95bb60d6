"""The loan book in the real loan-pricing process, with real consent, ingest-tax and accounting
processes and Redis: accounts reach the book through the accounts stream projection, consent
decisions come from the consent service for the reporting year, both edges, tenant isolation."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import grpc
import httpx
import pytest
from carbon.v1 import consent_pb2, portfolio_pb2, portfolio_pb2_grpc
from carbon_common.consent_gate import PERIOD_ZONE

from tests.pricing.stack import CONSENT_ADMIN, SERVICE_SECRET, ConsentClient, Stack, access_audited, start_stack
from tests.pricing.support import uscc
from tests.support import fresh
from tests.support.seed import Seeder

pytestmark = [pytest.mark.e2e]

BANK, OTHER = "book-bank", "other-book-bank"
E1, E2, E3 = uscc(950), uscc(951), uscc(952)
CSV = "\n".join(
    [
        "position_id,enterprise,product,outstanding_cny,equity_plus_debt_cny,revenue_cny,industry_code,region_code",
        f"L1,{E1},loan,2000000.00,50000000.00,,C2611,330000",
        f"L2,{E2},loan,500000.00,10000000.00,,C2611,330000",
        f"L3,{E3},loan,1000000.00,4000000.00,30000000.00,C2611,330000",
    ]
).encode()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(tmp_path_factory.mktemp("books-e2e"), peers=("consent", "ingest-tax", "accounting", "rating"))
    try:
        yield running
    finally:
        running.stop()


def _grant_2023_only(consent: ConsentClient, enterprise: str, key: str) -> None:
    """A CARBON_ACCOUNT consent whose data window is the year 2023 (China time): it misses 2024."""
    now = datetime.now(UTC)
    request = consent_pb2.Consent(
        grantee=f"banks/{BANK}",
        scopes=[consent_pb2.CONSENT_SCOPE_CARBON_ACCOUNT],
        purpose=consent_pb2.CONSENT_PURPOSE_CREDIT_ASSESSMENT,
    )
    request.data_window.start_time.FromDatetime(datetime(2023, 1, 1, tzinfo=PERIOD_ZONE))
    request.data_window.end_time.FromDatetime(datetime(2024, 1, 1, tzinfo=PERIOD_ZONE))
    request.expire_time.FromDatetime(now + timedelta(days=90))
    created = consent.consents.CreateConsent(
        consent_pb2.CreateConsentRequest(
            parent=f"enterprises/{enterprise}", consent=request, request_id=uuid.uuid4().hex
        ),
        metadata=(("authorization", f"Bearer {key}"),),
    )
    consent.consents.AuthorizeConsent(consent_pb2.AuthorizeConsentRequest(name=created.name), metadata=consent.admin)


def test_financed_emissions_over_real_services(stack: Stack) -> None:
    consent = ConsentClient(stack.processes["consent"].target)
    keys = {BANK: consent.create_bank(BANK), OTHER: consent.create_bank(OTHER)}
    seeder = Seeder(
        stack.processes["consent"].target,
        stack.processes["ingest-tax"].target,
        stack.processes["accounting"].target,
        admin_token=CONSENT_ADMIN,
        service_secret=SERVICE_SECRET,
    )
    try:
        for e in (E1, E2, E3):
            seeder.account(e, 2024, tco2="1000", value_added="5000000", revenue="8000000")
    finally:
        seeder.close()
    # E1: window covers 2024; RATING too (the re-pricing run below may quote it)
    consent.grant(
        E1, BANK, keys[BANK], scopes=(consent_pb2.CONSENT_SCOPE_CARBON_ACCOUNT, consent_pb2.CONSENT_SCOPE_RATING)
    )
    _grant_2023_only(consent, E2, keys[BANK])
    consent.grant(E3, OTHER, keys[OTHER], scopes=(consent_pb2.CONSENT_SCOPE_CARBON_ACCOUNT,))  # another bank's
    fresh.after_consent_change(time.monotonic())  # pricing decides on its projection of consent's events

    base = f"{stack.pricing.http_base}/v1/banks/{BANK}/books/main/snapshots"
    auth = {"Authorization": f"Bearer {keys[BANK]}"}
    created = fresh.rest(
        lambda: httpx.post(
            f"{base}:upload",
            params={"snapshotId": "2024-12-31"},
            content=CSV,
            headers={**auth, "Content-Type": "text/csv"},
        )
    )
    assert created.status_code == 201, created.text

    # The account reaches pricing through the accounts stream: wait until L1 is computed from it.
    url = f"{base}/2024-12-31:financedEmissions"
    deadline = time.monotonic() + 60
    while True:
        body = fresh.rest(lambda: httpx.get(url, params={"reportingPeriod": "2024"}, headers=auth, timeout=30)).json()
        by_id = {p["positionId"]: p for p in body["positionEmissions"]}
        if by_id["L1"]["method"] == "ACCOUNT" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    # L1: 1,000 t x 2/50 = 40 t, from the account (2a, score 2), consent named
    assert (by_id["L1"]["method"], by_id["L1"]["financedTco2"], by_id["L1"]["dataQualityScore"]) == (
        "ACCOUNT",
        "40.000000",
        2,
    )
    assert by_id["L1"]["consent"].startswith(f"enterprises/{E1}/consents/") and by_id["L1"]["accountDigest"]
    # L2: the window (2023) misses 2024 -> estimate, no account digest
    assert (by_id["L2"]["method"], by_id["L2"]["consentReason"], by_id["L2"]["accountDigest"]) == (
        "ASSET_ESTIMATE",
        "CONSENT_DATA_WINDOW",
        "",
    )
    # L3: only another bank holds a consent -> CONSENT_REQUIRED, revenue estimate
    assert (by_id["L3"]["method"], by_id["L3"]["consentReason"]) == ("REVENUE_ESTIMATE", "CONSENT_REQUIRED")

    stub = portfolio_pb2_grpc.LoanBookServiceStub(grpc.insecure_channel(stack.pricing.target))
    name = f"banks/{BANK}/books/main/snapshots/2024-12-31"
    result = fresh.grpc_call(
        lambda: stub.ComputeFinancedEmissions(
            portfolio_pb2.ComputeFinancedEmissionsRequest(name=name, reporting_period="2024"),
            metadata=(("authorization", f"Bearer {keys[BANK]}"),),
        )
    )
    assert result.financed_tco2.value == body["financedTco2"]
    with pytest.raises(grpc.RpcError) as denied:
        fresh.grpc_call(
            lambda: stub.GetBookSnapshot(
                portfolio_pb2.GetBookSnapshotRequest(name=name), metadata=(("authorization", f"Bearer {keys[OTHER]}"),)
            )
        )
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    other = fresh.rest(
        lambda: httpx.get(url, params={"reportingPeriod": "2024"}, headers={"Authorization": f"Bearer {keys[OTHER]}"})
    )
    assert other.status_code == 403

    # Every decision the book took in pricing's projection is in consent's audit chain, once each.
    audited = [b for b in access_audited(stack.redis_url) if b["grantee"] == f"banks/{BANK}"]
    assert {b["enterprise"] for b in audited if b["scope"] == "CARBON_ACCOUNT"} >= {
        f"enterprises/{e}" for e in (E1, E2, E3)
    }
    assert any(b["enterprise"] == f"enterprises/{E1}" and b["allowed"] for b in audited)
    assert any(b["enterprise"] == f"enterprises/{E2}" and b["reason"] == "CONSENT_DATA_WINDOW" for b in audited)
    ids = [b["decision_id"] for b in audited]
    assert len(ids) == len(set(ids))

    # The disclosure report and its annex from the real process (CJK PDF font, openpyxl).
    report = fresh.rest(
        lambda: httpx.get(
            f"{url.rsplit(':', 1)[0]}:disclosureReport", params={"reportingPeriod": "2024"}, headers=auth, timeout=60
        )
    )
    assert report.status_code == 200 and "投融资活动的环境影响" in report.text
    pdf = fresh.rest(
        lambda: httpx.get(
            f"{url.rsplit(':', 1)[0]}:disclosureReport",
            params={"reportingPeriod": "2024", "format": "pdf", "lang": "en"},
            headers=auth,
            timeout=60,
        )
    )
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")

    # A re-pricing run executed by the service's worker: polled until it is done.
    runs = f"{stack.pricing.http_base}/v1/banks/{BANK}/repricingRuns"
    started = fresh.rest(
        lambda: httpx.post(
            runs,
            json={"snapshot": name, "product": "quzhou_tanrongyi", "referenceRatePct": "3.45"},
            headers=auth,
            timeout=30,
        )
    )
    assert started.status_code == 201, started.text
    run_url = f"{stack.pricing.http_base}/v1/{started.json()['name']}"
    deadline = time.monotonic() + 120
    while True:
        run = fresh.rest(lambda: httpx.get(run_url, headers=auth, timeout=30)).json()
        if run["state"] in ("SUCCEEDED", "FAILED") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert run["state"] == "SUCCEEDED", (run["state"], run["error"])
    # E1 (RATING consent) is quoted; E2's consent to this bank lacks the RATING scope; E3 has none with it
    assert (run["positionsDone"], run["priced"], run["notPriced"]) == (
        3,
        1,
        {"CONSENT_REQUIRED": 1, "CONSENT_SCOPE": 1},
    )
    other_run = fresh.rest(lambda: httpx.get(run_url, headers={"Authorization": f"Bearer {keys[OTHER]}"}))
    assert other_run.status_code == 403
