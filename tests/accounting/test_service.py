"""The accounting service as a real process: events -> stored account -> gRPC/REST with consent."""

from __future__ import annotations

import html
import random
import re
import time
from collections.abc import Iterator
from decimal import Decimal as D
from pathlib import Path

import grpc
import httpx
import pytest
import redis
from carbon.v1 import accounting_pb2, accounting_pb2_grpc, consent_pb2
from carbon_accounting.account_page import sign_account_page_link
from carbon_devkit.ports import free_port
from carbon_devkit.processes import ServiceProcess, start_service
from grpc_status import rpc_status

from tests.accounting.parquet_data import full_meter, invoice, write_invoices, write_readings
from tests.consent.helpers import (  # noqa: F401  (fixture)
    SERVICE_SECRET,
    Edge,
    access_consent,
    admin_md,
    bank_md,
    consent_process,
    make_uscc,
    seed,
    service_md,
)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("carbon-data")


@pytest.fixture(scope="module")
def accounting(
    consent_process: Edge,  # noqa: F811
    redis_server: str,
    data_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ServiceProcess]:
    process = start_service(
        "accounting",
        {
            "CARBON_REDIS_URL": f"{redis_server}/0",
            "CARBON_SERVICE_SECRET": SERVICE_SECRET,
            "CARBON_CONSENT_TARGET": consent_process.process.target,
            "CARBON_RATING_TARGET": f"127.0.0.1:{free_port()}",
            "CARBON_DATA_DIR": str(data_dir),
            "CARBON_EVENTS_BLOCK_MS": "200",
        },
        tmp_path_factory.mktemp("accounting-logs"),
    )
    yield process
    assert process.stop() == 0, process.logs()


def error_reason(error: grpc.RpcError) -> str:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    from google.rpc import error_details_pb2

    for detail in status.details if status else []:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info.reason
    return ""


def wait_for_account(stub: accounting_pb2_grpc.AccountingServiceStub, name: str) -> accounting_pb2.Account:
    deadline = time.monotonic() + 30
    while True:
        try:
            return stub.GetAccount(
                accounting_pb2.GetAccountRequest(name=name), metadata=service_md("rating", "accounting")
            )
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.NOT_FOUND or time.monotonic() > deadline:
                raise
        time.sleep(0.1)


def test_event_driven_account_consent_and_report(
    accounting: ServiceProcess,
    consent_process: Edge,  # noqa: F811
    redis_server: str,
    data_dir: Path,
) -> None:
    s = seed(consent_process)  # Zhejiang (330000), industry C2611
    uscc = s["uscc"]
    write_readings(data_dir, "2024-01", full_meter(uscc, "m1", "2024-01", 1000), name=f"{uscc}-r")
    write_invoices(
        data_dir,
        "2024-01",
        [
            invoice(uscc, "P1", "purchase", "electricity", "3000", "kWh", "1950.00", "253.50"),
            invoice(uscc, "S1", "sale", None, None, "", "100000.00", "13000.00"),
        ],
        name=f"{uscc}-i",
    )
    client = redis.Redis.from_url(f"{redis_server}/0")
    client.xadd(
        "carbon:events:activity",
        {"uscc": uscc, "source": "readings", "months": "2024-01", "batch": "b1", "time": str(int(time.time()))},
    )
    channel = grpc.insecure_channel(accounting.target)
    stub = accounting_pb2_grpc.AccountingServiceStub(channel)
    name = f"enterprises/{uscc}/accounts/2024-01"
    account = wait_for_account(stub, name)
    # meters cover the month (2976 of 2976 slots) -> meters chosen: 2.976 MWh x 0.5500 (East 2023) = 1.6368
    assert D(account.total_tco2.value) == D("1.6368")
    assert account.factor_set_version == "cn-2024.1" and account.industry_code == "C2611"
    assert account.cross_checks[0].chosen == 2  # DATA_SOURCE_METER
    # revenue 100,000 -> 1.6368 / 10 = 0.16368 tCO2 per 10^4 CNY
    assert D(account.intensity_revenue.value) == D("0.16368")
    year = wait_for_account(stub, f"enterprises/{uscc}/accounts/2024")
    # the year: meters cover 2976 of 35136 slots (< 0.95) -> invoices: 3 MWh x 0.55 = 1.65, METER_GAPS
    assert D(year.total_tco2.value) == D("1.65")
    assert "METER_GAPS" in year.quality.flags
    announced = [f for _id, f in client.xrange("carbon:events:accounts") if f[b"uscc"] == uscc.encode()]
    assert {f[b"period"] for f in announced} >= {b"2024-01", b"2024"}

    # recompute with unchanged inputs: same digest, the stored account is kept bit for bit
    again = stub.ComputeAccount(
        accounting_pb2.ComputeAccountRequest(name=name), metadata=service_md("rating", "accounting")
    )
    assert again.SerializeToString(deterministic=True) == account.SerializeToString(deterministic=True)
    listed = stub.ListAccounts(
        accounting_pb2.ListAccountsRequest(parent=f"enterprises/{uscc}"), metadata=service_md("rating", "accounting")
    )
    assert [a.period for a in listed.accounts] == ["2024", "2024-01"]

    # banks: no consent -> denied; bad key -> unauthenticated; consent -> allowed
    with pytest.raises(grpc.RpcError) as denied:
        stub.GetAccount(accounting_pb2.GetAccountRequest(name=name), metadata=bank_md(s["key_a"]))
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert error_reason(denied.value) == "CONSENT_REQUIRED"
    with pytest.raises(grpc.RpcError) as anon:
        stub.GetAccount(accounting_pb2.GetAccountRequest(name=name), metadata=bank_md("ck_nope"))
    assert anon.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.RpcError) as not_service:
        stub.ComputeAccount(accounting_pb2.ComputeAccountRequest(name=name), metadata=bank_md(s["key_a"]))
    assert not_service.value.code() == grpc.StatusCode.UNAUTHENTICATED

    base = f"{accounting.http_base}/v1/enterprises/{uscc}/accounts/2024-01/report"
    headers = {"authorization": f"Bearer {s['key_a']}"}
    assert httpx.get(base, headers=headers, timeout=10).status_code == 403
    consent = consent_process.consents.CreateConsent(
        consent_pb2.CreateConsentRequest(
            parent=f"enterprises/{uscc}",
            consent=access_consent(
                s["bank_a"], scopes=(consent_pb2.CONSENT_SCOPE_CARBON_ACCOUNT, consent_pb2.CONSENT_SCOPE_REPORT)
            ),
        ),
        metadata=bank_md(s["key_a"]),
    )
    consent_process.consents.AuthorizeConsent(
        consent_pb2.AuthorizeConsentRequest(name=consent.name), metadata=admin_md()
    )
    seen = stub.GetAccount(accounting_pb2.GetAccountRequest(name=name), metadata=bank_md(s["key_a"]))
    assert seen.input_digest == account.input_digest

    page = httpx.get(base, headers=headers, timeout=10)
    assert page.status_code == 200 and "<svg" in page.text and "1.637" in page.text
    # Chinese by default, with the registered name; English by ?lang=en or Accept-Language
    assert '<html lang="zh-CN">' in page.text and "衢州示例化工有限公司" in page.text and "尚无基准年" in page.text
    assert page.headers["content-language"] == "zh-CN" and 'href="?lang=en"' in page.text
    english = httpx.get(base, params={"lang": "en"}, headers=headers, timeout=10)
    assert '<html lang="en">' in english.text and "No base year yet" in english.text
    assert 'href="?lang=zh"' in english.text
    preferred = httpx.get(base, headers={**headers, "accept-language": "en-GB,en;q=0.9"}, timeout=10)
    assert preferred.headers["content-language"] == "en"
    assert httpx.get(base, params={"lang": "fr"}, headers=headers, timeout=10).status_code == 400

    # the enterprise's own page, by a signed link: the year first, both periods listed, reports linked
    expires = int(time.time()) + 600
    own = f"{accounting.http_base}/enterprises/{uscc}/carbon-account"
    link = {"expires": expires, "signature": sign_account_page_link(SERVICE_SECRET, uscc, expires)}
    mine = httpx.get(own, params=link, timeout=10)
    assert mine.status_code == 200, mine.text
    assert "我的碳账户" in mine.text and "衢州示例化工有限公司" in mine.text and "1.650" in mine.text
    assert 'aria-current="page">2024<' in mine.text and ">2024-01<" in mine.text
    month = httpx.get(own, params={**link, "period": "2024-01", "lang": "en"}, timeout=10)
    assert "My carbon account" in month.text and "1.637" in month.text
    report_href = re.search(r'id="report-pdf" href="([^"]+)"', month.text)
    assert report_href
    signed_pdf = httpx.get(accounting.http_base + html.unescape(report_href.group(1)), timeout=20)
    assert signed_pdf.status_code == 200 and signed_pdf.content.startswith(b"%PDF")
    forged = httpx.get(own, params={**link, "signature": "0" * 64}, timeout=10)
    assert forged.status_code == 401 and forged.json()["error"]["details"][0]["reason"] == "LINK_INVALID"
    other_uscc = make_uscc(random.Random(7))
    assert other_uscc != uscc
    other = httpx.get(f"{accounting.http_base}/enterprises/{other_uscc}/carbon-account", params=link, timeout=10)
    assert other.status_code == 401  # a link is for one enterprise only
    pdf = httpx.get(base, params={"format": "pdf"}, headers=headers, timeout=20)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert httpx.get(base, timeout=10).status_code == 401
    other = httpx.get(base, headers={"authorization": f"Bearer {s['key_b']}"}, timeout=10)
    assert other.status_code == 403 and other.json()["error"]["status"] == "PERMISSION_DENIED"

    # the account page lists the enterprise's consents (from consent); an authorised one has a revoke form
    # that posts to consent's own management flow, which revokes it
    card = re.search(
        r'<li class="consent" data-consent="' + re.escape(consent.name) + r'">.*?'
        r'<form method="post" action="([^"]+)">(.*?)</form>',
        mine.text,
        re.S,
    )
    assert card, mine.text[-3000:]
    fields = {k: html.unescape(v) for k, v in re.findall(r'name="(\w+)" value="([^"]*)"', card.group(2))}
    assert fields["action"] == "revoke" and fields["consent"] == consent.name and fields["token"]
    assert 'id="manage-consents"' in mine.text
    revoked = httpx.post(html.unescape(card.group(1)), data=fields, timeout=10)
    assert revoked.status_code == 303 and "/consents/manage?" in revoked.headers["location"]
    after = consent_process.consents.GetConsent(consent_pb2.GetConsentRequest(name=consent.name), metadata=admin_md())
    assert after.state == consent_pb2.Consent.STATE_REVOKED
    assert httpx.get(base, headers=headers, timeout=10).status_code == 403  # the bank's access stopped
    page_after = httpx.get(own, params=link, timeout=10).text
    assert "已撤销" in page_after
    channel.close()
