"""Disclosure report (HTML, PDF) and annex (CSV, XLSX) of a book snapshot: golden figures computed by hand.

The book is test_loan_book_api's GOOD_CSV (reporting period 2024, bank b1):
  L1 E1 consented (window 2024): account 1,000 t x 2/50 = 40 t, PCAF 2a (score 2), reduction 50 x 0.04 = 2 t
  L2 E2 window 2023 only: asset estimate 10 MCNY x 900 = 9,000 t x 0.5/10 = 450 t, 3b (score 5)
  L3 E3 only b2's consent: revenue estimate 30 MCNY x 1,900 = 57,000 t x 1/8 (EVIC) = 7,125 t, 3a (score 4)
"""

from __future__ import annotations

import html
import io
import re
from decimal import Decimal as D
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from tests.accounting.test_report import pdf_text, squash, visible_text
from tests.portfolio.world import GOOD_CSV, auth, upload
from tests.support.axe import assert_accessible
from tests.support.pdf import assert_tagged

NAME = "/v1/banks/b1/books/main/snapshots/2024-12-31"


def _report(http: TestClient, **params: str):  # type: ignore[no-untyped-def]
    headers = {**auth("ck_b1"), **({"Accept-Language": params.pop("accept")} if "accept" in params else {})}
    return http.get(f"{NAME}:disclosureReport", params={"reportingPeriod": "2024", **params}, headers=headers)


GOLDEN = [
    # overview: 3 positions, all covered, 3,500,000.00 CNY
    "3,500,000.00",
    # 40 + 450 + 7,125 = 7,615 t
    "7,615.000000",
    # 7,615 / 3.5 MCNY = 2,175.7142857 -> 2,175.714286 t per MCNY
    "2,175.714286",
    # (2 x 2 + 0.5 x 5 + 1 x 4) / 3.5 = 3.00
    "3.00",
    # region 330000: L1 + L2 = 490 t over 2.5 MCNY = 196 t/MCNY; 510000: L3 7,125 t over 1 MCNY
    "490.000000",
    "196.000000",
    "7,125.000000",
    # attributable reduction 0.04 x 50 = 2 t
    "2.000000",
]


def test_report_html_golden_figures_in_chinese_by_default(http: TestClient) -> None:
    assert upload(http, GOOD_CSV).status_code == 201
    response = _report(http)
    assert response.status_code == 200, response.text
    assert response.headers["content-language"] == "zh-CN" and response.headers["content-type"].startswith("text/html")
    text = visible_text(response.text)
    for figure in GOLDEN:
        assert figure in text, figure
    assert "投融资活动的环境影响" in text and "JR/T 0227—2021" in text
    # the data-quality mix with the PCAF table applied: 2a -> 2, 3a -> 4, 3b -> 5, one position each
    assert "PCAF Global GHG Accounting and Reporting Standard Part A" in text
    # versions that reproduce the figures
    snapshot = http.get(NAME, headers=auth("ck_b1")).json()
    for version in (snapshot["digest"], "pcaf-part-a-2022-business-loans-v1", "test-bench-v1", "cn-2024.1"):
        assert version in text, version
    # links to the annex in both formats and to the English page
    assert ":exportPositions?reportingPeriod=2024&amp;format=xlsx" in response.text
    assert "lang=en" in response.text


def test_grade_breakdown_only_with_rating_consent(http: TestClient) -> None:
    """E1 (grade 5) lets b1 see its grade; E2 (grade 2) gave no RATING consent; E3 (grade 4) only to b2."""
    assert upload(http, GOOD_CSV).status_code == 201
    body = http.get(f"{NAME}:financedEmissions", params={"reportingPeriod": "2024"}, headers=auth("ck_b1")).json()
    (scheme,) = body["byGrade"]
    buckets = {b["key"]: b for b in scheme["buckets"]}
    assert scheme["schemeId"] == "zhejiang-carbon-efficiency" and set(buckets) == {"5", "UNRATED"}
    # grade 5: L1 2 MCNY, 40 t -> 20 t/MCNY
    assert (buckets["5"]["positions"], buckets["5"]["outstandingCny"], buckets["5"]["financedTco2"]) == (
        1,
        "2000000.00",
        "40.000000",
    )
    assert buckets["5"]["intensity"] == "20.000000"
    # UNRATED: L2 + L3 = 1.5 MCNY, 450 + 7,125 = 7,575 t -> 5,050 t/MCNY
    assert (buckets["UNRATED"]["positions"], buckets["UNRATED"]["financedTco2"]) == (2, "7575.000000")
    assert buckets["UNRATED"]["intensity"] == "5050.000000"
    # high-carbon (grades 4, 5): only E1 counts for b1 (E3's grade 4 is not b1's to see)
    assert (body["highCarbonOutstandingCny"], body["highCarbonFinancedTco2"]) == ("2000000.00", "40.000000")
    assert body["highCarbonGradesVersion"] == "illustrative-high-carbon-v1"
    text = visible_text(_report(http).text)
    assert "按碳评级" in text and "5,050.000000" in text and "高碳等级敞口" in text


def test_report_in_english_by_query_or_accept_language(http: TestClient) -> None:
    assert upload(http, GOOD_CSV).status_code == 201
    for response in (_report(http, lang="en"), _report(http, accept="en-GB,en;q=0.9,zh;q=0.5")):
        assert response.status_code == 200 and response.headers["content-language"] == "en"
        text = visible_text(response.text)
        assert "Financed emissions (tCO₂e)" in text and "7,615.000000" in text
    assert _report(http, lang="fr").status_code == 400


def test_report_pdf_says_the_same(http: TestClient, tmp_path: Path) -> None:
    assert upload(http, GOOD_CSV).status_code == 201
    for lang, title in (("zh", "投融资活动的环境影响"), ("en", "Environmental impact of financing")):
        response = _report(http, format="pdf", lang=lang)
        assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
        text = squash(pdf_text(response.content, tmp_path))
        assert squash(title) in text
        for figure in GOLDEN:
            assert figure in text, (lang, figure)
        # tagged PDF/UA-1 like the carbon account report: the HTML's charts are figures with their titles as Alt
        tagged = assert_tagged(response.content, "zh-CN" if lang == "zh" else "en", tmp_path)
        html_titles = re.findall(r'<title id="chart-[\w-]+-title">([^<]+)</title>', _report(http, lang=lang).text)
        assert html_titles and tagged.figure_alts == [html.unescape(t) for t in html_titles]


def test_annex_xlsx_matches_the_csv(http: TestClient) -> None:
    assert upload(http, GOOD_CSV).status_code == 201
    params = {"reportingPeriod": "2024", "format": "xlsx"}
    response = http.get(f"{NAME}:exportPositions", params=params, headers=auth("ck_b1"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(io.BytesIO(response.content), read_only=True)
    rows = list(book["positions"].iter_rows(values_only=True))
    header, body = rows[0], rows[1:]
    by_id = {r[0]: dict(zip(header, r, strict=True)) for r in body}
    assert D(str(by_id["L1"]["financed_tco2"])) == D("40") and by_id["L1"]["pcaf_option"] == "2a"
    assert D(str(by_id["L3"]["attribution_denominator_cny"])) == D("8000000")  # EVIC
    assert D(str(by_id["L2"]["financed_tco2"])) == D("450") and by_id["L2"]["consent_reason"] == "CONSENT_DATA_WINDOW"
    assert by_id["L2"]["estimated"] is True and by_id["L1"]["account_digest"].startswith("sha256:")
    csv_text = http.get(f"{NAME}:exportPositions", params={"reportingPeriod": "2024"}, headers=auth("ck_b1")).text
    assert csv_text.splitlines()[0].split(",") == list(header)
    report = [r for r in book["report"].iter_rows(values_only=True)]
    assert any(r[0] == "Snapshot digest" for r in report)


def test_report_and_annex_are_tenant_isolated(http: TestClient) -> None:
    assert upload(http, GOOD_CSV).status_code == 201
    for path, params in (
        (":disclosureReport", {"reportingPeriod": "2024"}),
        (":disclosureReport", {"reportingPeriod": "2024", "format": "pdf"}),
        (":exportPositions", {"reportingPeriod": "2024", "format": "xlsx"}),
    ):
        other = http.get(f"{NAME}{path}", params=params, headers=auth("ck_b2"))
        assert other.status_code == 403 and other.json()["error"]["details"][0]["reason"] == "CROSS_TENANT"
        assert http.get(f"{NAME}{path}", params=params).status_code == 401


@pytest.mark.browser
def test_report_page_in_chromium(browser, http: TestClient, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert upload(http, GOOD_CSV).status_code == 201
    for lang in ("zh", "en"):
        html_text = _report(http, lang=lang).text
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        try:
            page.set_content(html_text)
            assert_accessible(page, f"disclosure report {lang}")
            page.screenshot(path=str(tmp_path / f"disclosure-{lang}.png"), full_page=True)
        finally:
            page.close()
