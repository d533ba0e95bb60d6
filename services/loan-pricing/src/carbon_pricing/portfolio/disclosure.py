"""The financed-emissions section of a bank's environmental disclosure, and its annex of every position.

Laid out as the part of a JR/T 0227-2021 (金融机构环境信息披露指南) disclosure on the environmental impact
of investment and financing activities (金融机构投融资活动的环境影响): the book's overall figures, the
carbon emissions financed (PCAF Part A, business loans and unlisted equity), breakdowns, the data-quality
mix with the PCAF score table applied, the reduction attributable to the book (碳减排支持工具 reporting),
method and sources, and the versions that reproduce every figure. HTML and PDF carry the same content
(`DisclosureContent`), in Chinese by default or English; the annex (every position's calculation) is CSV
or XLSX. Rendering pieces are the platform's (carbon_common.reports).
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

import polars as pl
from carbon_common.reports import (
    DEFAULT_LANGUAGE,
    LANGUAGES,
    PALETTE,
    Chart,
    definition_list,
    html_page,
    html_table,
    html_to_pdf,
    language_link,
    svg_bars,
    svg_columns,
)

from carbon_pricing.portfolio.core import Financed
from carbon_pricing.portfolio.domain import (
    Benchmarks,
    PcafTable,
    change_between,
    cny,
    economic_intensity_micro,
    tco2,
)

# (zh, en) of every fixed piece of text.
TEXT: dict[str, tuple[str, str]] = {
    "title": ("投融资活动的环境影响：贷款碳排放", "Environmental impact of financing: financed emissions"),
    "standard": (
        "本节按《金融机构环境信息披露指南》（JR/T 0227—2021）“金融机构投融资活动的环境影响”部分编制；"
        "碳排放按 PCAF《全球温室气体核算和报告标准》A 部分（企业贷款与非上市股权）计算。",
        "This section follows the part on the environmental impact of investment and financing activities of the"
        " PBoC Guidelines for financial institutions' environmental information disclosure (JR/T 0227-2021);"
        " emissions are computed per PCAF Global GHG Accounting and Reporting Standard Part A (business loans and"
        " unlisted equity).",
    ),
    "other_language": ("English", "中文"),
    "institution": ("金融机构", "Financial institution"),
    "book": ("贷款簿", "Loan book"),
    "snapshot": ("贷款簿快照", "Book snapshot"),
    "period": ("报告期（排放年度）", "Reporting period (emissions year)"),
    "overview": ("整体投融资情况与碳排放", "Book overview and financed emissions"),
    "figure": ("指标", "Figure"),
    "value": ("数值", "Value"),
    "positions": ("贷款笔数", "Positions"),
    "covered": ("已计算排放的笔数", "Positions with financed emissions"),
    "outstanding": ("贷款余额（元）", "Outstanding (CNY)"),
    "financed": ("融资排放（吨二氧化碳当量）", "Financed emissions (tCO₂e)"),
    "intensity": ("经济排放强度（吨二氧化碳当量/百万元）", "Economic intensity (tCO₂e per million CNY)"),
    "score": ("加权数据质量评分（1 最优，5 最差）", "Weighted data-quality score (1 best, 5 worst)"),
    "from_accounts": ("基于企业碳账户（经授权）", "From borrowers' carbon accounts (consented)"),
    "estimated": ("估算（未授权或无账户）", "Estimated (no consent or no account)"),
    "not_covered": ("无法估算（行业无基准）", "Not estimated (no industry benchmark)"),
    "reduction": ("可归因于贷款的碳减排量（吨二氧化碳当量）", "Reduction attributable to the book (tCO₂e)"),
    "reduction_sentence": (
        "按归因因子分摊借款企业相对基准年的减排量，可归因于本贷款簿的碳减排量为 {amount} 吨二氧化碳当量"
        "（用于碳减排支持工具相关披露）。",
        "The borrowers' reductions against their base years, attributed by the same factors, give {amount} tCO₂e"
        " attributable to this book (for carbon emission reduction facility reporting).",
    ),
    "by_industry": ("按行业", "By industry"),
    "by_region": ("按地区", "By region"),
    "key_industry": ("行业代码", "Industry code"),
    "key_region": ("行政区划代码", "Region code"),
    "intensity_by_industry": ("各行业经济排放强度", "Economic intensity by industry"),
    "by_grade": ("按碳评级", "By carbon grade"),
    "key_grade": ("等级", "Grade"),
    "grade_scheme": ("评级方案 {scheme}", "Scheme {scheme}"),
    "grade_mix": ("评级分布（{scheme}）", "Grade mix ({scheme})"),
    "grade_note": (
        "仅在企业对本机构的“评级”授权覆盖评级所依据的核算期间时显示其等级，其余计为 UNRATED。",
        "A borrower's grade is shown only where its RATING consent to this institution covers the period the"
        " rating was computed from; the others count as UNRATED.",
    ),
    "high_carbon": (
        "高碳等级敞口（{version}）：贷款余额 {outstanding} 元，融资排放 {financed} 吨二氧化碳当量。",
        "High-carbon grade exposure ({version}): outstanding {outstanding} CNY, financed emissions {financed} tCO₂e.",
    ),
    "intensity_unit": ("吨二氧化碳当量/百万元", "tCO₂e per million CNY"),
    "quality": ("数据质量", "Data quality"),
    "pcaf_option": ("PCAF 选项", "PCAF option"),
    "quality_score": ("评分", "Score"),
    "basis": ("数据基础", "Basis"),
    "quality_mix": ("按数据质量评分的贷款余额", "Outstanding by data-quality score"),
    "unit_million": ("百万元", "million CNY"),
    "score_label": ("评分 {score}", "score {score}"),
    "unscored": ("未估算", "not estimated"),
    "yoy": ("同比变化", "Year on year"),
    "yoy_sentence": (
        "与 {snapshot}（{period} 年度）相比：融资排放 {before} → {now} 吨二氧化碳当量（{ratio}）；"
        "经济排放强度 {ibefore} → {inow}（{iratio}）。",
        "Against {snapshot} ({period}): financed emissions {before} → {now} tCO₂e ({ratio}); economic intensity"
        " {ibefore} → {inow} ({iratio}).",
    ),
    "method": ("方法与数据来源", "Method and sources"),
    "method_attribution": (
        "归因因子 = 贷款余额 ÷（借款企业所有者权益 + 负债）；上市企业为贷款余额 ÷ 企业价值（EVIC）；上限为 1。"
        "融资排放 = 归因因子 × 借款企业报告期范围一 + 范围二排放。",
        "Attribution factor = outstanding ÷ (borrower's total equity + debt); listed borrowers: outstanding ÷ EVIC;"
        " capped at 1. Financed emissions = attribution factor × the borrower's Scope 1 + 2 emissions of the"
        " reporting period.",
    ),
    "method_consent": (
        "仅在企业授予本机构“碳账户”范围的授权且授权数据期间覆盖整个报告期时，使用平台核算的企业碳账户"
        "（PCAF 2a；经第三方核查为 1a）；否则按本机构提供的营业收入（3a）或资产（3b）乘以平台行业排放强度"
        "基准估算，并逐笔标注原因。",
        "A borrower's platform carbon account is used (PCAF 2a; 1a when third-party verified) only where the"
        " enterprise granted this institution a carbon-account consent whose data window covers the whole"
        " reporting period; otherwise the emissions are estimated from the institution's revenue (3a) or asset"
        " (3b) figures and the platform's industry intensity benchmarks, and each position says why.",
    ),
    "method_rounding": (
        "金额以分、排放以百万分之一吨的整数计算，每个商的结果按银行家舍入法舍入一次。",
        "Amounts are computed in fen and emissions in micro-tonnes as integers; each quotient is rounded once,"
        " half to even.",
    ),
    "pcaf_table": ("数据质量评分表：{source}。{note}", "Data-quality score table: {source}. {note}"),
    "benchmarks": (
        "行业排放强度基准：版本 {version}（{status}），来源：{source}。",
        "Industry intensity benchmarks: version {version} ({status}), source: {source}.",
    ),
    "illustrative": (
        "注意：所用基准为示意值，不得作为正式披露数据。",
        "Caution: the benchmarks used are illustrative values, not fit for a published disclosure.",
    ),
    "versions": ("复现所需版本", "Versions that reproduce these figures"),
    "snapshot_digest": ("快照摘要", "Snapshot digest"),
    "snapshot_time": ("快照创建时间", "Snapshot created"),
    "pcaf_version": ("PCAF 评分表版本", "PCAF table version"),
    "benchmark_version": ("行业基准版本", "Benchmark version"),
    "factor_sets": ("排放因子版本", "Emission factor sets"),
    "accounts_used": ("使用的企业碳账户数", "Borrower accounts used"),
    "reproduce": (
        "逐笔计算（含各账户输入摘要与授权）见附件：{csv} 或 {xlsx}。以同一快照、报告期和上述版本重新计算，结果相同。",
        "Every position's calculation (with each account's input digest and consent) is in the annex: {csv} or"
        " {xlsx}. Recomputing from the same snapshot, reporting period and the versions above gives the same"
        " figures.",
    ),
    "none": ("无", "none"),
}


def _t(lang: str, key: str, **values: str) -> str:
    return TEXT[key][LANGUAGES.index(lang)].format(**values)


def _micro(value: int | None, places: int = 6) -> str:
    return "—" if value is None else f"{tco2(value):,.{places}f}"


def _money(fen_amount: int) -> str:
    return f"{cny(fen_amount):,.2f}"


def _ratio(value: int | None) -> str:
    return "—" if value is None else f"{tco2(value) * 100:+,.2f}%"


@dataclass(frozen=True)
class DisclosureContent:
    """Everything both formats show, in one language."""

    lang: str
    title: str
    standard: str
    identity: list[tuple[str, str]]
    overview: list[list[str]]
    by_industry: list[list[str]]
    by_region: list[list[str]]
    intensity_chart: Chart
    quality_chart: Chart
    quality_table: list[list[str]]
    reduction_sentence: str
    yoy_sentence: str
    grade_tables: list[tuple[str, list[list[str]]]]  # (scheme, rows)
    grade_charts: list[Chart]
    grade_sentences: list[str]
    method: list[str]
    versions: list[tuple[str, str]]
    reproduce: str
    headings: dict[str, str]


def score_buckets(rows: pl.DataFrame) -> dict[int | None, tuple[int, int, int]]:
    """PCAF score -> (positions, outstanding fen, financed micro-t); None = not estimated."""
    grouped = rows.group_by("data_quality_score").agg(
        pl.len().alias("n"),
        pl.col("outstanding_fen").sum().alias("out"),
        pl.col("financed_micro").sum().alias("fin"),
    )
    return {(None if s is None else int(s)): (int(n), int(o or 0), int(f or 0)) for s, n, o, f in grouped.iter_rows()}


def build_content(
    result: Financed,
    pcaf: PcafTable,
    benchmarks: Benchmarks,
    lang: str = DEFAULT_LANGUAGE,
    annex_links: tuple[str, str] = ("", ""),
) -> DisclosureContent:
    lang = lang if lang in LANGUAGES else DEFAULT_LANGUAGE

    def t(key: str, **values: str) -> str:
        return _t(lang, key, **values)

    totals = result.totals
    rows = result.rows
    parts = result.snapshot.split("/")  # banks/{bank}/books/{book}/snapshots/{date}
    from_accounts = rows.filter(pl.col("method") == "ACCOUNT").height
    estimated = rows.filter(pl.col("estimated") & pl.col("financed_micro").is_not_null()).height
    identity = [
        (t("institution"), f"banks/{parts[1]}"),
        (t("book"), parts[3]),
        (t("snapshot"), parts[5]),
        (t("period"), result.period),
    ]
    overview = [
        [t("figure"), t("value")],
        [t("positions"), f"{totals.positions:,}"],
        [t("covered"), f"{totals.covered:,}"],
        [t("outstanding"), _money(totals.outstanding_fen)],
        [t("financed"), _micro(totals.financed_micro)],
        [t("intensity"), _micro(totals.intensity_micro)],
        [
            t("score"),
            "—" if totals.weighted_score_centi is None else f"{cny(totals.weighted_score_centi):.2f}",
        ],
        [t("from_accounts"), f"{from_accounts:,}"],
        [t("estimated"), f"{estimated:,}"],
        [t("not_covered"), f"{totals.positions - totals.covered:,}"],
        [t("reduction"), _micro(totals.attributable_reduction_micro)],
    ]

    def buckets(key_label: str, items: dict[str, tuple[int, int, int]]) -> list[list[str]]:
        head = [t(key_label), t("positions"), t("outstanding"), t("financed"), t("intensity")]
        return [head] + [
            [k, f"{n:,}", _money(o), _micro(f), _micro(economic_intensity_micro(f, o))]
            for k, (n, o, f) in sorted(items.items())
        ]

    industries = sorted(totals.by_industry.items())
    intensity_chart = Chart(
        t("intensity_by_industry"),
        t("intensity_unit"),
        [k for k, _ in industries],
        [
            (
                t("intensity"),
                PALETTE[5],
                [tco2(economic_intensity_micro(f, o) or 0) for _, (_, o, f) in industries],
            )
        ],
    )
    scores = score_buckets(rows)
    ordered = sorted(scores.items(), key=lambda item: (item[0] is None, item[0] or 0))
    quality_chart = Chart(
        t("quality_mix"),
        t("unit_million"),
        [t("score_label", score=str(s)) if s is not None else t("unscored") for s, _ in ordered],
        [(t("quality_mix"), PALETTE[1], [cny(o) / 1_000_000 for _, (_, o, _) in ordered])],
    )
    used = {str(o) for o in rows["pcaf_option"].unique().to_list() if o}
    quality_table = [[t("pcaf_option"), t("quality_score"), t("basis"), t("positions")]] + [
        [
            option,
            str(pcaf.scores[option]),
            pcaf.basis.get(option, ""),
            f"{rows.filter(pl.col('pcaf_option') == option).height:,}",
        ]
        for option in sorted(pcaf.scores)
        if option in used or option in ("1a", "2a", "3a", "3b")
    ]
    yoy_sentence = ""
    if result.previous is not None:
        before = result.previous.totals
        change = change_between(
            totals.financed_micro, before.financed_micro, totals.intensity_micro, before.intensity_micro
        )
        yoy_sentence = t(
            "yoy_sentence",
            snapshot=result.previous.snapshot.rsplit("/", 1)[-1],
            period=result.previous.period,
            before=_micro(before.financed_micro),
            now=_micro(totals.financed_micro),
            ratio=_ratio(change.financed_change_ratio_micro),
            ibefore=_micro(before.intensity_micro),
            inow=_micro(totals.intensity_micro),
            iratio=_ratio(change.intensity_change_ratio_micro),
        )
    grade_tables: list[tuple[str, list[list[str]]]] = []
    grade_charts: list[Chart] = []
    grade_sentences: list[str] = []
    if result.grades is not None:
        for scheme, items in sorted(result.grades.by_grade.items()):
            grade_tables.append((t("grade_scheme", scheme=scheme), buckets("key_grade", dict(items))))
            ordered_grades = sorted(items.items())
            grade_charts.append(
                Chart(
                    t("grade_mix", scheme=scheme),
                    t("unit_million"),
                    [g for g, _ in ordered_grades],
                    [(t("outstanding"), PALETTE[2], [cny(o) / 1_000_000 for _, (_, o, _) in ordered_grades])],
                )
            )
        grade_sentences = [
            t("grade_note"),
            t(
                "high_carbon",
                version=result.high_carbon_version,
                outstanding=_money(result.grades.high_carbon_outstanding_fen),
                financed=_micro(result.grades.high_carbon_financed_micro),
            ),
        ]
    method = [
        t("method_attribution"),
        t("method_consent"),
        t("method_rounding"),
        t("pcaf_table", source=pcaf.source, note=pcaf.note),
        t("benchmarks", version=benchmarks.version, status=benchmarks.status or "—", source=benchmarks.source or "—"),
    ]
    if result.benchmark_illustrative:
        method.append(t("illustrative"))
    factor_sets = sorted({str(v) for v in rows["factor_set_version"].unique().to_list() if v})
    versions = [
        (t("snapshot"), result.snapshot),
        (t("snapshot_digest"), result.snapshot_digest or "—"),
        (t("snapshot_time"), result.snapshot_create_time or "—"),
        (t("period"), result.period),
        (t("pcaf_version"), result.pcaf_version),
        (t("benchmark_version"), result.benchmark_version),
        (t("factor_sets"), ", ".join(factor_sets) or t("none")),
        (t("accounts_used"), f"{from_accounts:,}"),
    ]
    headings = {
        key: t(key)
        for key in (
            "overview",
            "by_industry",
            "by_region",
            "by_grade",
            "quality",
            "reduction",
            "yoy",
            "method",
            "versions",
        )
    }
    headings["other_language"] = t("other_language")
    return DisclosureContent(
        lang=lang,
        title=t("title"),
        standard=t("standard"),
        identity=identity,
        overview=overview,
        by_industry=buckets("key_industry", dict(totals.by_industry)),
        by_region=buckets("key_region", dict(totals.by_region)),
        intensity_chart=intensity_chart,
        quality_chart=quality_chart,
        quality_table=quality_table,
        reduction_sentence=t("reduction_sentence", amount=_micro(totals.attributable_reduction_micro)),
        yoy_sentence=yoy_sentence,
        grade_tables=grade_tables,
        grade_charts=grade_charts,
        grade_sentences=grade_sentences,
        method=method,
        versions=versions,
        reproduce=t("reproduce", csv=annex_links[0] or "CSV", xlsx=annex_links[1] or "XLSX"),
        headings=headings,
    )


def render_html(c: DisclosureContent, other_language_href: str = "", annex_links: tuple[str, str] = ("", "")) -> str:
    e = html.escape
    h = c.headings
    annex = " ".join(
        f'<a href="{e(href)}">{label}</a>' for href, label in zip(annex_links, ("CSV", "XLSX"), strict=True) if href
    )
    yoy = f'<h2>{e(h["yoy"])}</h2><p id="yoy">{e(c.yoy_sentence)}</p>' if c.yoy_sentence else ""
    body = f"""{language_link(c.lang, h["other_language"], other_language_href)}<h1>{e(c.title)}</h1>
<p>{e(c.standard)}</p>
{definition_list(c.identity)}
<h2>{e(h["overview"])}</h2>{html_table(c.overview, h["overview"], 1)}
<h2>{e(h["by_industry"])}</h2>{svg_bars(c.intensity_chart, "chart-intensity", highlight_first=False)}
{html_table(c.by_industry, h["by_industry"], 1)}
<h2>{e(h["by_region"])}</h2>{html_table(c.by_region, h["by_region"], 1)}
{grades_html(c)}
<h2>{e(h["quality"])}</h2>{svg_columns(c.quality_chart, "chart-quality")}
{html_table(c.quality_table, h["quality"], 1)}
<h2>{e(h["reduction"])}</h2><p id="reduction">{e(c.reduction_sentence)}</p>
{yoy}
<h2>{e(h["method"])}</h2>{"".join(f"<p>{e(s)}</p>" for s in c.method)}
<h2>{e(h["versions"])}</h2>{definition_list(c.versions, "versions")}
<p id="annex">{e(c.reproduce)} {annex}</p>"""
    return html_page(c.lang, f"{c.title} · {c.identity[0][1]} · {c.identity[2][1]} · {c.identity[3][1]}", body)


def grades_html(c: DisclosureContent) -> str:
    """By grade under each scheme (charts and tables) and the high-carbon exposure; empty without grades."""
    if not c.grade_sentences:
        return ""
    e = html.escape
    parts = [f"<h2>{e(c.headings['by_grade'])}</h2>"]
    for k, (chart, (caption, rows)) in enumerate(zip(c.grade_charts, c.grade_tables, strict=True)):
        parts.append(svg_columns(chart, f"chart-grades-{k}"))
        parts.append(html_table(rows, caption, 1))
    parts += [f'<p class="grades">{e(sentence)}</p>' for sentence in c.grade_sentences]
    return "\n".join(parts)


def render_pdf(c: DisclosureContent) -> bytes:
    """The HTML report itself as tagged PDF (the same content; no language or annex links on paper)."""
    return html_to_pdf(render_html(c))


# ---------------------------------------------------------------- annex: every position's calculation

EXPORT_COLUMNS = (
    "position_id",
    "enterprise",
    "product",
    "industry",
    "region",
    "outstanding_cny",
    "attribution_denominator_cny",
    "attribution_factor",
    "attribution_capped",
    "method",
    "estimated",
    "estimate_reason",
    "consent",
    "consent_reason",
    "pcaf_option",
    "data_quality_score",
    "borrower_scope12_tco2",
    "financed_tco2",
    "attributable_reduction_tco2",
    "account_digest",
    "factor_set_version",
    "benchmark_version",
    "reporting_period",
    "pcaf_table_version",
)
Cell = str | Decimal | int | bool | None


def export_rows(result: Financed) -> Iterator[list[Cell]]:
    """One typed row per position (EXPORT_COLUMNS): exact Decimals, None for no value."""

    def micro(value: int | None) -> Decimal | None:
        return None if value is None else tco2(value)

    for r in result.rows.iter_rows(named=True):
        yield [
            r["position_id"],
            f"enterprises/{r['uscc']}",
            r["product"],
            r["industry"],
            r["region"],
            cny(r["outstanding_fen"]),
            cny(r["denominator_fen"]),
            micro(r["attribution_micro"]),
            bool(r["attribution_capped"]),
            r["method"],
            bool(r["estimated"]),
            r["estimate_reason"],
            r["consent"],
            r["consent_reason"],
            r["pcaf_option"],
            None if r["data_quality_score"] is None else int(r["data_quality_score"]),
            micro(r["borrower_micro"]),
            micro(r["financed_micro"]),
            micro(r["reduction_micro"]),
            r["account_digest"],
            r["factor_set_version"],
            r["benchmark_version"],
            result.period,
            result.pcaf_version,
        ]


def _text(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def positions_csv(result: Financed) -> str:
    """Every position's calculation (inputs, method, consent, versions) as CSV."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    for row in export_rows(result):
        writer.writerow([_text(v) for v in row])
    return out.getvalue()


def positions_xlsx(result: Financed, content: DisclosureContent) -> bytes:
    """The same rows as the CSV in an .xlsx workbook (numbers as exact decimals), plus a sheet with the
    report's figures, method and versions."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("positions")
    sheet.append(list(EXPORT_COLUMNS))
    for row in export_rows(result):
        sheet.append([v if not isinstance(v, str) or v else None for v in row])
    about = book.create_sheet("report")
    about.append([content.title])
    for key, value in content.identity + content.versions:
        about.append([key, value])
    for line in content.overview[1:]:
        about.append(line)
    for sentence in (content.reduction_sentence, content.yoy_sentence, *content.method, content.reproduce):
        if sentence:
            about.append([sentence])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
