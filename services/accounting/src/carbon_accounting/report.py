"""Carbon account report: HTML with server-side inline SVG charts, and PDF, in Chinese or English.

The content is built once as a `ReportContent` (labels, rows, sentences) and laid out as HTML; the PDF is that
HTML page printed as tagged PDF/UA (carbon_common.reports.html_to_pdf), so both formats say the same.
Chinese is the default language; English on request (`?lang=en` or `Accept-Language`).
Language choice, charts, page shell and PDF pieces are the platform's (carbon_common.reports).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field, replace
from decimal import Decimal

from carbon.v1 import accounting_pb2, common_pb2
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
from carbon_common.reports import fmt as _fmt

# (zh, en) for every fixed piece of text in the report.
TEXT: dict[str, tuple[str, str]] = {
    "title": ("碳账户报告", "Carbon account report"),
    "other_language": ("English", "中文"),
    "enterprise": ("企业名称", "Enterprise"),
    "uscc": ("统一社会信用代码", "Unified social credit code (USCC)"),
    "period": ("核算期间", "Period"),
    "industry": ("行业代码", "Industry code"),
    "province": ("省级行政区代码", "Province code"),
    "factor_set": ("排放因子版本", "Emission factor set"),
    "digest": ("输入摘要", "Input digest"),
    "by_scope": ("按范围排放", "Emissions by scope"),
    "scope1": ("范围一", "Scope 1"),
    "scope2_location": ("范围二（基于位置）", "Scope 2 (location-based)"),
    "scope2_market": ("范围二（基于市场）", "Scope 2 (market-based)"),
    "scope2": ("范围二", "Scope 2"),
    "total_location": ("合计（基于位置）", "Total (location-based)"),
    "total_market": ("合计（基于市场）", "Total (market-based)"),
    "energy_tce": ("综合能耗（吨标准煤）", "Energy use (tce)"),
    "by_month": ("月度排放", "Emissions by month"),
    "month": ("月份", "Month"),
    "structure": ("能源结构", "Energy structure"),
    "energy": ("能源品种", "Energy"),
    "share": ("占比", "Share"),
    "intensity": ("排放强度与行业基准", "Intensity against the industry benchmark"),
    "intensity_unit": ("吨二氧化碳/万元增加值", "tCO₂ per 10⁴ CNY value added"),
    "this_enterprise": ("本企业", "This enterprise"),
    "industry_mean": ("行业 {code} 均值", "Industry {code} mean"),
    "intensity_sentence": (
        "排放强度：每万元营业收入 {revenue}，每万元增加值 {value_added}，每万元税额 {tax} 吨二氧化碳。",
        "Intensity: {revenue} per 10⁴ CNY revenue, {value_added} per 10⁴ CNY value added, {tax} per 10⁴ CNY tax"
        " (tCO₂).",
    ),
    "benchmark_published": ("行业基准：{value}（{peers} 家同业）。", "Industry benchmark: {value} ({peers} peers)."),
    "benchmark_missing": (
        "行业基准暂未发布（同业少于 3 家：{peers} 家）。",
        "Industry benchmark not published (fewer than 3 peers: {peers}).",
    ),
    "reduction": ("减排", "Reduction"),
    "reduced": (
        "与基准年 {base}（{base_total} 吨二氧化碳）相比，减少 {amount} 吨二氧化碳，降幅 {rate}。",
        "Against base year {base} ({base_total} tCO₂): {amount} tCO₂ less, a reduction of {rate}.",
    ),
    "increased": (
        "与基准年 {base}（{base_total} 吨二氧化碳）相比，增加 {amount} 吨二氧化碳，增幅 {rate}。",
        "Against base year {base} ({base_total} tCO₂): {amount} tCO₂ more, an increase of {rate}.",
    ),
    "no_base_year": (
        "尚无基准年：平台有了该企业更早一个完整年度的核算后，才计算减排量。",
        "No base year yet: the reduction is computed once an earlier full year of this enterprise has been accounted.",
    ),
    "grade": ("碳评级", "Carbon grade"),
    "grade_missing": ("暂无评级。", "Not available."),
    "activities": ("活动数据与排放因子", "Activity data and emission factors"),
    "scope": ("范围", "Scope"),
    "method": ("方法", "Method"),
    "quantity": ("活动量", "Quantity"),
    "source": ("数据来源", "Source"),
    "emissions": ("排放量（吨二氧化碳）", "Emissions (tCO₂)"),
    "factor": ("排放因子", "Emission factor"),
    "location": ("位置", "location"),
    "market": ("市场", "market"),
    "quality": ("数据质量", "Data quality"),
    "quality_sentence": (
        "质量评分 {score}，电表覆盖率 {coverage}，数据来源：{sources}，标记：{flags}。",
        "Score {score}, meter coverage {coverage}, sources: {sources}, flags: {flags}.",
    ),
    "none": ("无", "none"),
    "no_data": ("无数据", "no data"),
    "unit_tco2": ("吨二氧化碳", "tCO₂"),
    "unit_tce": ("吨标准煤", "tce"),
}

ENERGY_NAMES: dict[int, tuple[str, str]] = {
    common_pb2.ENERGY_TYPE_ELECTRICITY: ("电力", "electricity"),
    common_pb2.ENERGY_TYPE_HEAT: ("热力", "heat"),
    common_pb2.ENERGY_TYPE_NATURAL_GAS: ("天然气", "natural gas"),
    common_pb2.ENERGY_TYPE_LNG: ("液化天然气", "LNG"),
    common_pb2.ENERGY_TYPE_LPG: ("液化石油气", "LPG"),
    common_pb2.ENERGY_TYPE_GASOLINE: ("汽油", "gasoline"),
    common_pb2.ENERGY_TYPE_DIESEL: ("柴油", "diesel"),
    common_pb2.ENERGY_TYPE_KEROSENE: ("煤油", "kerosene"),
    common_pb2.ENERGY_TYPE_FUEL_OIL: ("燃料油", "fuel oil"),
    common_pb2.ENERGY_TYPE_RAW_COAL: ("原煤", "raw coal"),
    common_pb2.ENERGY_TYPE_WASHED_COAL: ("洗精煤", "washed coal"),
    common_pb2.ENERGY_TYPE_COKE: ("焦炭", "coke"),
    common_pb2.ENERGY_TYPE_COKE_OVEN_GAS: ("焦炉煤气", "coke oven gas"),
    common_pb2.ENERGY_TYPE_CRUDE_OIL: ("原油", "crude oil"),
    common_pb2.ENERGY_TYPE_GREEN_ELECTRICITY: ("绿色电力", "green electricity"),
}
SOURCE_NAMES: dict[int, tuple[str, str]] = {
    common_pb2.DATA_SOURCE_TAX_INVOICE: ("税务发票", "tax invoices"),
    common_pb2.DATA_SOURCE_METER: ("计量表", "meters"),
    common_pb2.DATA_SOURCE_DECLARED: ("企业申报", "declared"),
}


@dataclass
class ReportContext:
    account: accounting_pb2.Account
    benchmark_intensity: Decimal | None = None  # industry mean tCO2 / 10^4 CNY value added
    benchmark_peers: int = 0
    grade_label: str = ""
    display_name: str = ""  # the enterprise's registered name
    lang: str = DEFAULT_LANGUAGE
    other_language_href: str = ""  # the same report in the other language (keeps a signed link's query)


def _d(message: object) -> Decimal | None:
    value = getattr(message, "value", "")
    return Decimal(value) if value else None


def _percent(value: Decimal | None) -> str:
    return "—" if value is None else f"{abs(value) * 100:,.2f}%"


@dataclass(frozen=True)
class ReportContent:
    """Everything both formats show, in one language."""

    lang: str
    title: str
    identity: list[tuple[str, str]]
    scope_table: list[list[str]]
    monthly: Chart
    structure: Chart
    structure_table: list[list[str]]
    intensity: Chart
    intensity_sentences: list[str]
    reduction_sentence: str
    grade: str
    activities_table: list[list[str]]
    quality_sentence: str
    headings: dict[str, str] = field(default_factory=dict)


def build_content(ctx: ReportContext) -> ReportContent:
    lang = ctx.lang if ctx.lang in LANGUAGES else DEFAULT_LANGUAGE
    i = LANGUAGES.index(lang)

    def t(key: str, **values: str) -> str:
        return TEXT[key][i].format(**values)

    def energy(value: int) -> str:
        names = ENERGY_NAMES.get(value)
        return names[i] if names else common_pb2.EnergyType.Name(value).removeprefix("ENERGY_TYPE_").lower()

    a = ctx.account
    uscc = a.name.split("/")[1]
    identity = [
        (t("enterprise"), ctx.display_name or "—"),
        (t("uscc"), uscc),
        (t("period"), a.period),
        (t("industry"), a.industry_code),
        (t("province"), a.province_code),
        (t("factor_set"), a.factor_set_version),
        (t("digest"), a.input_digest[:16] + "…" if a.input_digest else "—"),
    ]
    total = t("total_market") if a.scope2_method == accounting_pb2.Account.SCOPE2_METHOD_MARKET_BASED else None
    scope_table = [
        [t("scope1"), t("scope2_location"), t("scope2_market"), total or t("total_location"), t("energy_tce")],
        [
            _fmt(_d(a.scope1_tco2)),
            _fmt(_d(a.scope2_location_tco2)),
            _fmt(_d(a.scope2_market_tco2)),
            _fmt(_d(a.total_tco2)),
            _fmt(_d(a.energy_tce)),
        ],
    ]
    months = list(a.monthly)
    monthly = Chart(
        t("by_month"),
        t("unit_tco2"),
        [m.month[5:] or m.month for m in months],
        [
            (t("scope1"), PALETTE[4], [_d(m.scope1_tco2) or Decimal(0) for m in months]),
            (t("scope2"), PALETTE[1], [_d(m.scope2_tco2) or Decimal(0) for m in months]),
        ],
    )
    shares = list(a.energy_structure)
    structure = Chart(
        t("structure"),
        t("unit_tce"),
        [energy(s.energy_type) for s in shares],
        [(t("structure"), PALETTE[0], [_d(s.tce) or Decimal(0) for s in shares])],
    )
    structure_table = [[t("energy"), t("unit_tce"), t("share")]] + [
        [energy(s.energy_type), _fmt(_d(s.tce)), _percent(_d(s.share))] for s in shares
    ]
    intensity_value = _d(a.intensity_value_added)
    bench_categories = [t("this_enterprise")]
    bench_values = [intensity_value or Decimal(0)]
    if ctx.benchmark_intensity is not None:
        bench_categories.append(t("industry_mean", code=a.industry_code))
        bench_values.append(ctx.benchmark_intensity)
    intensity = Chart(
        t("intensity"), t("intensity_unit"), bench_categories, [(t("intensity"), PALETTE[5], bench_values)]
    )
    intensity_sentences = [
        t(
            "intensity_sentence",
            revenue=_fmt(_d(a.intensity_revenue), 6),
            value_added=_fmt(intensity_value, 6),
            tax=_fmt(_d(a.intensity_tax), 6),
        ),
        t("benchmark_published", value=_fmt(ctx.benchmark_intensity, 6), peers=str(ctx.benchmark_peers))
        if ctx.benchmark_intensity is not None
        else t("benchmark_missing", peers=str(ctx.benchmark_peers)),
    ]
    reduction = _d(a.reduction_tco2)
    if a.base_period and reduction is not None:
        reduction_sentence = t(
            "reduced" if reduction >= 0 else "increased",
            base=a.base_period,
            base_total=_fmt(_d(a.base_total_tco2)),
            amount=_fmt(abs(reduction)),
            rate=_percent(_d(a.reduction_rate)),
        )
    else:
        reduction_sentence = t("no_base_year")
    methods = {1: t("location"), 2: t("market")}
    activities_table = [
        [t("energy"), t("scope"), t("method"), t("quantity"), t("source"), t("emissions"), t("factor")]
    ] + [
        [
            energy(x.energy_type),
            str(x.scope),
            methods.get(x.scope2_method, ""),
            f"{_fmt(_d(x.quantity))} {x.unit}",
            SOURCE_NAMES[x.source][i] if x.source in SOURCE_NAMES else "",
            _fmt(_d(x.tco2), 6),
            f"{x.factor_id} = {x.factor_value.value} {x.factor_unit}",
        ]
        for x in a.activities
    ]
    sources = "、" if lang == "zh" else ", "
    quality_sentence = t(
        "quality_sentence",
        score=_fmt(_d(a.quality.score), 3),
        coverage=_percent(_d(a.quality.coverage)),
        sources=sources.join(SOURCE_NAMES[s][i] for s in a.quality.sources if s in SOURCE_NAMES) or t("none"),
        flags=", ".join(a.quality.flags) or t("none"),
    )
    headings = {
        key: t(key)
        for key in ("by_scope", "by_month", "structure", "intensity", "reduction", "grade", "activities", "quality")
    }
    headings["other_language"] = t("other_language")
    return ReportContent(
        lang=lang,
        title=t("title"),
        identity=identity,
        scope_table=scope_table,
        monthly=monthly,
        structure=structure,
        structure_table=structure_table,
        intensity=intensity,
        intensity_sentences=intensity_sentences,
        reduction_sentence=reduction_sentence,
        grade=ctx.grade_label or t("grade_missing"),
        activities_table=activities_table,
        quality_sentence=quality_sentence,
        headings=headings,
    )


def language_switch(c: ReportContent, href: str) -> str:
    return language_link(c.lang, c.headings["other_language"], href)


def identity_list(c: ReportContent) -> str:
    return definition_list(c.identity)


def account_sections(c: ReportContent, grades_html: str) -> str:
    """Emissions, charts, intensity, reduction, grades (given), activities and quality."""
    e = html.escape
    h = c.headings
    return f"""<h2>{e(h["by_scope"])}</h2>{html_table(c.scope_table, f"{h['by_scope']} ({c.monthly.unit})")}
<h2>{e(h["by_month"])}</h2>{svg_columns(c.monthly, "chart-monthly")}
<h2>{e(h["structure"])}</h2>{svg_bars(c.structure, "chart-structure")}
{html_table(c.structure_table, h["structure"], 1)}
<h2>{e(h["intensity"])}</h2>{svg_bars(c.intensity, "chart-intensity")}
{"".join(f"<p>{e(s)}</p>" for s in c.intensity_sentences)}
<h2>{e(h["reduction"])}</h2><p id="reduction">{e(c.reduction_sentence)}</p>
<h2>{e(h["grade"])}</h2>{grades_html}
<h2>{e(h["activities"])}</h2>{html_table(c.activities_table, h["activities"], 3)}
<h2>{e(h["quality"])}</h2><p id="quality">{e(c.quality_sentence)}</p>"""


def render_html(ctx: ReportContext) -> str:
    c = build_content(ctx)
    heading_name = ctx.display_name or c.identity[1][1]  # the name, or the USCC when the registry had none
    body = (
        f"{language_switch(c, ctx.other_language_href)}<h1>{html.escape(c.title)}</h1>\n{identity_list(c)}\n"
        + account_sections(c, f'<p id="grade">{html.escape(c.grade)}</p>')
    )
    return html_page(c.lang, f"{c.title} · {heading_name} · {ctx.account.period}", body)


def render_pdf(ctx: ReportContext) -> bytes:
    """The HTML report itself as tagged PDF (the same content; no language link on paper)."""
    return html_to_pdf(render_html(replace(ctx, other_language_href="")))


def energy_name(value: int) -> str:
    """English name of an energy type (logs, CSV)."""
    names = ENERGY_NAMES.get(value)
    return names[1] if names else common_pb2.EnergyType.Name(value).removeprefix("ENERGY_TYPE_").lower()
