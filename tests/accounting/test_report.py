"""The carbon account report (HTML and PDF) as people read it: content, language, and real Chromium with axe-core."""

from __future__ import annotations

import base64
import html
import os
import re
import shutil
import subprocess
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from carbon.v1 import accounting_pb2, common_pb2
from carbon_accounting.report import ReportContext, build_content, render_html, render_pdf
from carbon_common.reports import choose_language
from google.type import decimal_pb2

from tests.support.axe import assert_accessible
from tests.support.pdf import assert_tagged, verapdf_ua1

USCC = "91330100MA2B3C4D5E"
NAME = "浙江示例纺织有限公司"


def _dec(value: str) -> decimal_pb2.Decimal:
    return decimal_pb2.Decimal(value=value)


def sample_account(base_period: str = "") -> accounting_pb2.Account:
    """A year with two energies, twelve months, and optionally a base year."""
    account = accounting_pb2.Account(
        name=f"enterprises/{USCC}/accounts/2024",
        period="2024",
        scope1_tco2=_dec("120.5"),
        scope2_location_tco2=_dec("880.25"),
        scope2_market_tco2=_dec("790"),
        total_tco2=_dec("1000.75"),
        scope2_method=accounting_pb2.Account.SCOPE2_METHOD_LOCATION_BASED,
        energy_tce=_dec("400.1"),
        intensity_revenue=_dec("0.5"),
        intensity_value_added=_dec("1.25"),
        intensity_tax=_dec("8.1"),
        factor_set_version="cn-2024.1",
        input_digest="ab" * 32,
        industry_code="C1711",
        province_code="330000",
    )
    for energy, tce, share in (
        (common_pb2.ENERGY_TYPE_ELECTRICITY, "330.1", "0.825"),
        (common_pb2.ENERGY_TYPE_NATURAL_GAS, "70", "0.175"),
    ):
        account.energy_structure.add(energy_type=energy, tce=_dec(tce), share=_dec(share))
    for month in range(1, 13):
        account.monthly.add(month=f"2024-{month:02d}", scope1_tco2=_dec("10"), scope2_tco2=_dec(str(60 + month)))
    account.activities.add(
        energy_type=common_pb2.ENERGY_TYPE_ELECTRICITY,
        quantity=_dec("1600454"),
        unit="kWh",
        source=common_pb2.DATA_SOURCE_METER,
        scope=2,
        tco2=_dec("880.25"),
        factor_id="grid/2023/east",
        factor_value=_dec("0.55"),
        factor_unit="tCO2/MWh",
        scope2_method=accounting_pb2.Account.SCOPE2_METHOD_LOCATION_BASED,
    )
    account.quality.score.CopyFrom(_dec("0.9"))
    account.quality.coverage.CopyFrom(_dec("0.98"))
    account.quality.sources.append(common_pb2.DATA_SOURCE_METER)
    if base_period:
        account.base_period = base_period
        account.base_total_tco2.CopyFrom(_dec("1100"))
        account.reduction_tco2.CopyFrom(_dec("99.25"))
        account.reduction_rate.CopyFrom(_dec("0.0902"))
    return account


def context(base_period: str = "", lang: str = "zh") -> ReportContext:
    return ReportContext(
        sample_account(base_period), Decimal("1.5"), 7, "2级", display_name=NAME, lang=lang, other_language_href="?x=1"
    )


def visible_text(page_html: str) -> str:
    """The HTML's text as a reader sees it (no tags, no <title> of the document head)."""
    body = page_html.split("<body>", 1)[1]
    body = re.sub(r"<title[^>]*>.*?</title>", "", body)
    return html.unescape(re.sub(r"<[^>]+>", " ", body))


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    tool = shutil.which("pdftotext")
    assert tool, "pdftotext is missing: run `make chromium` (installs poppler-utils)"
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    return subprocess.run([tool, "-enc", "UTF-8", str(path), "-"], check=True, capture_output=True, text=True).stdout


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_language_choice() -> None:
    assert choose_language(None, "") == "zh"
    assert choose_language("en", "zh-CN") == "en"
    assert choose_language(None, "en-GB,en;q=0.9,zh;q=0.5") == "en"
    assert choose_language(None, "fr-FR, en;q=0.3, zh-CN;q=0.8") == "zh"
    assert choose_language(None, "fr-FR, de;q=0.5") == "zh"
    assert choose_language(None, "en;q=0, zh;q=0.1") == "zh"
    assert choose_language(None, "en;q=abc") == "zh"


@pytest.mark.parametrize(
    ("base", "lang", "sentence"),
    [
        ("", "zh", "尚无基准年"),
        ("", "en", "No base year yet"),
        ("2023", "zh", "与基准年 2023（1,100.000 吨二氧化碳）相比，减少 99.250 吨二氧化碳，降幅 9.02%。"),
        ("2023", "en", "Against base year 2023 (1,100.000 tCO₂): 99.250 tCO₂ less, a reduction of 9.02%."),
    ],
)
def test_html_and_pdf_say_the_same(base: str, lang: str, sentence: str, tmp_path: Path) -> None:
    ctx = context(base, lang)
    content = build_content(ctx)
    page = render_html(ctx)
    text = visible_text(page)
    assert f'<html lang="{"zh-CN" if lang == "zh" else "en"}">' in page
    assert sentence in content.reduction_sentence and sentence in text
    assert "—:" not in text and "against —" not in text.lower()
    # the name and the USCC, each once
    assert text.count(NAME) == 1 and text.count(USCC) == 1
    title = "碳账户报告" if lang == "zh" else "Carbon account report"
    assert f"<h1>{title}</h1>" in page
    if lang == "zh":
        assert "Carbon account" not in text and "Scope 1" not in text and "范围一" in text
    else:
        assert "碳账户" not in text and "范围一" not in text and "Scope 1" in text
    # charts: a title each, a value axis with its unit, axis ticks, and category labels
    charts = re.findall(r"<svg [^>]*>.*?</svg>", page, flags=re.S)
    assert len(charts) == 3
    for chart, unit in zip(charts, (content.monthly.unit, content.structure.unit, content.intensity.unit), strict=True):
        assert re.search(r"role=\"img\" aria-labelledby=\"([\w-]+)-title\"><title id=\"\1-title\">", chart)
        assert f">{unit}</text>" in chart
        assert ">0</text>" in chart
    assert ">12</text>" in charts[0] and ">100</text>" in charts[0]  # months 01..12; the axis tops at 100 tCO2

    pdf = render_pdf(ctx)
    assert pdf.startswith(b"%PDF")
    extracted = squash(pdf_text(pdf, tmp_path))
    for fact in (
        title,
        NAME,
        USCC,
        sentence,
        content.scope_table[0][0],
        "1,000.750",  # total
        content.intensity_sentences[1],
        content.quality_sentence,
    ):
        assert squash(fact) in extracted, fact
    assert extracted.count(USCC) == 1
    # the PDF is the HTML page: every piece of text outside the charts is in it (the charts are figures, below)
    printed = render_html(replace(ctx, other_language_href=""))
    outside_charts = re.sub(r"<svg .*?</svg>|<title>.*?</title>", "", printed.split("<body>", 1)[1], flags=re.S)
    for piece in re.split(r"<[^>]+>", outside_charts):
        assert squash(html.unescape(piece)) in extracted, piece
    # tagged (PDF/UA-1): structure tree, /Lang, headings, tables, figures whose Alt text is the HTML chart's title
    tagged = assert_tagged(pdf, "zh-CN" if lang == "zh" else "en", tmp_path)
    assert tagged.tags["H1"] == 1 and tagged.tags["H2"] == 8
    charts = (content.monthly, content.structure, content.intensity)
    assert tagged.figure_alts == [f"{chart.title} ({chart.unit})" for chart in charts]
    assert tagged.tags["Table"] >= 3  # by scope, energy structure, activities


def _pixels_of(page, png: bytes, rgb: tuple[int, int, int]) -> int:  # type: ignore[no-untyped-def]
    """Pixels of colour `rgb` in a screenshot, decoded by the browser itself."""
    return int(
        page.evaluate(
            """async ([src, rgb]) => {
                const img = new Image(); img.src = src; await img.decode();
                const c = document.createElement('canvas'); c.width = img.width; c.height = img.height;
                const ctx = c.getContext('2d'); ctx.drawImage(img, 0, 0);
                const d = ctx.getImageData(0, 0, c.width, c.height).data;
                let n = 0;
                for (let i = 0; i < d.length; i += 4) {
                    const near = (k) => Math.abs(d[i + k] - rgb[k]) < 12;
                    if (near(0) && near(1) && near(2)) n++;
                }
                return n;
            }""",
            ["data:image/png;base64," + base64.b64encode(png).decode(), list(rgb)],
        )
    )


@pytest.mark.browser
def test_report_page_in_chromium(browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    for width in (1280, 390):
        page = browser.new_page(viewport={"width": width, "height": 900})
        try:
            for ctx in (context(), context("2023", "en")):
                page.set_content(render_html(ctx))
                assert_accessible(page, f"report {ctx.lang} base={ctx.account.base_period or 'none'}")
                chart = page.locator("#chart-monthly")
                box = chart.bounding_box()
                assert box and box["x"] >= 0 and box["x"] + box["width"] <= width  # the chart fits the screen
                shot = chart.screenshot()
                (tmp_path / f"monthly-{ctx.lang}-{width}.png").write_bytes(shot)
                scope2_blue, scope1_red = (0x15, 0x65, 0xC0), (0xC6, 0x28, 0x28)
                # the columns are painted: scope 2 (60+ t a month) dominates scope 1 (10 t)
                assert _pixels_of(page, shot, scope2_blue) > 4 * _pixels_of(page, shot, scope1_red) > 0
                page.screenshot(path=str(tmp_path / f"report-{ctx.lang}-{width}.png"), full_page=True)
        finally:
            page.close()


def account_page(lang: str = "zh") -> str:
    from carbon_accounting.account_page import AccountPage, ConsentItem, Consents, SchemeGrade, render_account_page

    grades = [
        SchemeGrade(
            "浙江碳效码 Zhejiang carbon efficiency",
            ("高碳3级", "high-carbon grade 3"),
            ("碳效值 K=1.25，高于 1.2 的阈值", "carbon efficiency K=1.25 is above the 1.2 threshold"),
            ("K > 1.2",),
            "42.5",
            ("升至2级：K <= 0.8（当前1.25，需降低0.45）。", "To reach grade 2: K <= 0.8 (now 1.25, lower it by 0.45)."),
            colour="#fdd835",  # the scheme's colour of grade 3
        )
    ]
    consents = Consents(
        (
            ConsentItem(
                f"enterprises/{USCC}/consents/c1",
                "banks/demo-bank",
                (("碳账户", "Carbon account"), ("碳评级", "Carbon rating")),
                ("已授权", "Authorised"),
                True,
                "2025-06-30",
            ),
            ConsentItem(
                f"enterprises/{USCC}/consents/c0",
                "banks/old",
                (("碳账户", "Carbon account"),),
                ("已撤销", "Revoked"),
                False,
                "2024-01-01",
            ),
        ),
        "https://consent.example/consents/manage?token=lk_abc",
    )
    periods = [("2024", "?period=2024"), ("2024-12", "?period=2024-12")]
    page = AccountPage(
        USCC, NAME, lang, periods, context("2023", lang), grades, ("/r?x", "/r?x&format=pdf"), "?lang=other", consents
    )
    return render_account_page(page)


def test_account_page_content() -> None:
    zh, en = visible_text(account_page("zh")), visible_text(account_page("en"))
    assert "我的碳账户" in zh and NAME in zh and zh.count(USCC) == 1 and "高碳3级" in zh and "高于 1.2 的阈值" in zh
    assert "My carbon account" in en and "high-carbon grade 3" in en and "above the 1.2 threshold" in en
    assert "我的碳账户" not in en and "K > 1.2" in en and "2024-12" in en
    assert 'aria-current="page">2024<' in account_page("zh")
    # what would move it up a grade, and the consents with revoke (through consent's own manage flow)
    assert "如何升一级" in zh and "需降低0.45" in zh and "lower it by 0.45" in en
    assert "我的授权" in zh and "碳账户、碳评级" in zh and "My consents" in en
    markup = account_page("zh")
    assert markup.count('name="action" value="revoke"') == 1  # only the authorised consent
    assert 'action="https://consent.example/consents/manage/action"' in markup
    assert 'name="token" value="lk_abc"' in markup and f'value="enterprises/{USCC}/consents/c1"' in markup


@pytest.mark.browser
def test_account_page_in_chromium(browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        for lang in ("zh", "en"):
            page.set_content(account_page(lang))
            assert_accessible(page, f"enterprise account page {lang}")
            for link in ("#report-html", "#report-pdf", "button.revoke", "#manage-consents"):
                box = page.locator(link).bounding_box()
                assert box and box["height"] >= 44 and box["x"] + box["width"] <= 390, link  # thumb-sized, on screen
            page.screenshot(path=str(tmp_path / f"account-{lang}-390.png"), full_page=True)
            shots = os.environ.get("CARBON_SCREENSHOTS")
            if shots:
                for width in (1280, 390):
                    page.set_viewport_size({"width": width, "height": 900})
                    page.screenshot(path=f"{shots}/account-{lang}-{width}.png", full_page=True)
                page.set_viewport_size({"width": 390, "height": 844})
    finally:
        page.close()


def test_account_page_link_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from urllib.parse import parse_qs, urlsplit

    from carbon_accounting.account_page import main, sign_account_page_link
    from carbon_common.http import EXAMPLE_USCC

    monkeypatch.setenv("CARBON_SERVICE_SECRET", "cli-test-secret-0123456789")
    assert main([EXAMPLE_USCC, "--base-url", "https://accounting.example/", "--days", "7"]) == 0
    link = urlsplit(capsys.readouterr().out.strip())
    assert (link.netloc, link.path) == ("accounting.example", f"/enterprises/{EXAMPLE_USCC}/carbon-account")
    query = {k: v[0] for k, v in parse_qs(link.query).items()}
    expires = int(query["expires"])
    assert query["signature"] == sign_account_page_link("cli-test-secret-0123456789", EXAMPLE_USCC, expires)
    wrong = EXAMPLE_USCC[:-1] + ("0" if EXAMPLE_USCC[-1] != "0" else "1")  # wrong check character
    with pytest.raises(SystemExit):
        main([wrong, "--base-url", "https://x"])


def test_the_pdf_judge_rejects_the_same_page_untagged(tmp_path: Path) -> None:
    """veraPDF is no rubber stamp: the very same page printed without tags fails PDF/UA-1."""
    import weasyprint

    path = tmp_path / "untagged.pdf"
    path.write_bytes(weasyprint.HTML(string=render_html(context())).write_pdf())
    with pytest.raises(AssertionError, match="Content shall be marked as Artifact or tagged"):
        verapdf_ua1(path)
