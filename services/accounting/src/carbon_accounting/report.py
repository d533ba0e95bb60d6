"""Carbon account report: HTML with server-side inline SVG charts, and PDF (reportlab), in Chinese or English.

Both formats carry the same content, built once as a `ReportContent` (labels, rows, sentences) and then laid
out as HTML or PDF. Chinese is the default language; English on request (`?lang=en` or `Accept-Language`).
The PDF embeds a CJK TrueType font (Debian's fonts-wqy-zenhei, installed by `make chromium`), so Chinese
enterprise names render everywhere; ReportLab (open source) cannot write a PDF structure tree, so the PDF
carries /Lang, title, subject and extractable text but is not a tagged PDF.
"""

from __future__ import annotations

import html
import io
import math
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from carbon.v1 import accounting_pb2, common_pb2

PALETTE = ["#2e7d32", "#1565c0", "#b26a00", "#6a1b9a", "#c62828", "#00838f", "#4e342e", "#ef6c00", "#546e7a"]
LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"
HTML_LANG = {"zh": "zh-CN", "en": "en"}
# A TrueType CJK font embedded (subset) in the PDF; the Debian package is installed by `make chromium`.
CJK_FONT_FILES = (Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),)
CJK_FONT = "WenQuanYiZenHei"

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


def choose_language(requested: str | None, accept_language: str = "") -> str:
    """`?lang=` wins; else the first of zh/en in the Accept-Language preference order; else Chinese."""
    if requested in LANGUAGES:
        return requested
    preferences: list[tuple[float, int, str]] = []
    for index, item in enumerate(accept_language[:512].split(",")):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        primary = tag.strip().split("-")[0].lower()
        if primary in LANGUAGES and quality > 0:
            preferences.append((-quality, index, primary))
    return min(preferences)[2] if preferences else DEFAULT_LANGUAGE


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


def _fmt(value: Decimal | None, places: int = 3) -> str:
    return "—" if value is None else f"{value:,.{places}f}"


def _percent(value: Decimal | None) -> str:
    return "—" if value is None else f"{abs(value) * 100:,.2f}%"


@dataclass(frozen=True)
class Chart:
    """A chart's data, titled, with a unit on its value axis."""

    title: str
    unit: str
    categories: list[str]
    series: list[tuple[str, str, list[Decimal]]]  # (name, colour, one value per category), stacked


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


def nice_ceiling(value: Decimal) -> Decimal:
    """The smallest 1, 2 or 5 x 10^n at or above `value` (the top of a value axis)."""
    if value <= 0:
        return Decimal(1)
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        candidate = Decimal(step).scaleb(exponent)
        if candidate >= value:
            return candidate
    return Decimal(10).scaleb(exponent)  # pragma: no cover - the loop always returns


def _tick(value: Decimal) -> str:
    return f"{value.normalize():,f}" if value == value.to_integral_value() else f"{value.normalize():f}"


def svg_columns(chart: Chart, chart_id: str, width: int = 640, height: int = 260) -> str:
    """Stacked columns with a value axis (ticks, unit), category labels, legend and an accessible title."""
    if not chart.categories:
        return f"<p>{html.escape(chart.title)}: —</p>"
    e = html.escape
    left, top_pad, bottom, right = 64, 16, 56, 8
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    totals = [sum((s[2][k] for s in chart.series), Decimal(0)) for k in range(len(chart.categories))]
    top = nice_ceiling(max(totals))
    step = plot_w / len(chart.categories)
    parts = [
        f'<svg id="{chart_id}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-labelledby="{chart_id}-title">',
        f'<title id="{chart_id}-title">{e(chart.title)} ({e(chart.unit)})</title>',
    ]
    for k in range(5):  # value axis: 0, 1/4 .. top
        value = top * k / 4
        y = top_pad + plot_h - plot_h * k / 4
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" fill="#333">{_tick(value)}</text>'
        )
    parts.append(
        f'<text transform="translate(14 {top_pad + plot_h / 2:.1f}) rotate(-90)" font-size="11" '
        f'text-anchor="middle" fill="#333">{e(chart.unit)}</text>'
    )
    parts.append(
        f'<line x1="{left}" y1="{top_pad + plot_h}" x2="{width - right}" y2="{top_pad + plot_h}" stroke="#333"/>'
    )
    parts.append(f'<line x1="{left}" y1="{top_pad}" x2="{left}" y2="{top_pad + plot_h}" stroke="#333"/>')
    for k, category in enumerate(chart.categories):
        x = left + k * step + step * 0.15
        base = Decimal(0)
        for name, colour, values in chart.series:
            value = max(values[k], Decimal(0))
            y0 = top_pad + plot_h - float(base / top) * plot_h
            h = float(value / top) * plot_h
            parts.append(
                f'<rect x="{x:.1f}" y="{y0 - h:.1f}" width="{step * 0.7:.1f}" height="{h:.1f}" fill="{colour}">'
                f"<title>{e(category)} {e(name)}: {_fmt(values[k])} {e(chart.unit)}</title></rect>"
            )
            base += value
        parts.append(
            f'<text x="{x + step * 0.35:.1f}" y="{top_pad + plot_h + 16}" font-size="11" text-anchor="middle" '
            f'fill="#333">{e(category)}</text>'
        )
    x = left
    for name, colour, _ in chart.series:
        parts.append(f'<rect x="{x}" y="{height - 16}" width="12" height="12" fill="{colour}"/>')
        parts.append(f'<text x="{x + 16}" y="{height - 6}" font-size="12" fill="#333">{e(name)}</text>')
        x += 24 + 13 * len(name)
    parts.append("</svg>")
    return "".join(parts)


def svg_bars(chart: Chart, chart_id: str, width: int = 640) -> str:
    """Horizontal bars (one series) with a value axis (ticks, unit), labels and an accessible title."""
    if not chart.categories:
        return f"<p>{html.escape(chart.title)}: —</p>"
    e = html.escape
    label_w, right, row, axis_h = 150, 110, 28, 40
    plot_w = width - label_w - right
    values = chart.series[0][2]
    top = nice_ceiling(max(values))
    height = row * len(values) + axis_h + 8
    plot_bottom = row * len(values) + 8
    parts = [
        f'<svg id="{chart_id}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-labelledby="{chart_id}-title">',
        f'<title id="{chart_id}-title">{e(chart.title)} ({e(chart.unit)})</title>',
    ]
    for k in range(5):
        x = label_w + plot_w * k / 4
        parts.append(f'<line x1="{x:.1f}" y1="4" x2="{x:.1f}" y2="{plot_bottom}" stroke="#ddd"/>')
        parts.append(
            f'<text x="{x:.1f}" y="{plot_bottom + 14}" font-size="11" text-anchor="middle" fill="#333">'
            f"{_tick(top * k / 4)}</text>"
        )
    parts.append(
        f'<text x="{label_w + plot_w / 2:.1f}" y="{height - 4}" font-size="11" text-anchor="middle" fill="#333">'
        f"{e(chart.unit)}</text>"
    )
    for k, (category, value) in enumerate(zip(chart.categories, values, strict=True)):
        y = 8 + k * row
        w = float(max(value, Decimal(0)) / top) * plot_w
        colour = chart.series[0][1] if k == 0 else PALETTE[8]
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 16}" font-size="12" text-anchor="end" fill="#333">{e(category)}</text>'
        )
        parts.append(
            f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="18" fill="{colour}">'
            f"<title>{e(category)}: {_fmt(value)} {e(chart.unit)}</title></rect>"
        )
        parts.append(f'<text x="{label_w + w + 6:.1f}" y="{y + 16}" font-size="12" fill="#333">{_fmt(value)}</text>')
    parts.append(f'<line x1="{label_w}" y1="4" x2="{label_w}" y2="{plot_bottom}" stroke="#333"/>')
    parts.append("</svg>")
    return "".join(parts)


def _html_table(rows: list[list[str]], caption: str, numeric_from: int = 0) -> str:
    e = html.escape
    head = "".join(f'<th scope="col">{e(c)}</th>' for c in rows[0])
    body = "".join(
        "<tr>" + "".join(f"<td{' class=n' if j >= numeric_from else ''}>{e(c)}</td>" for j, c in enumerate(r)) + "</tr>"
        for r in rows[1:]
    )
    return f'<div class="scroll" tabindex="0"><table><caption>{e(caption)}</caption><tr>{head}</tr>{body}</table></div>'


PAGE_STYLE = """*{box-sizing:border-box}
body{font-family:system-ui,"Noto Sans CJK SC","WenQuanYi Zen Hei",sans-serif;max-width:900px;margin:0 auto;
padding:1rem;color:#222;line-height:1.5}
table{border-collapse:collapse}caption{text-align:left;font-weight:600;padding:4px 0}
td,th{border:1px solid #ccc;padding:3px 6px;font-size:13px}td.n{text-align:right}h2{margin-top:1.4em}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px}dt{font-weight:600}
dd{margin:0;overflow-wrap:anywhere}nav a{display:inline-block;min-height:44px;padding:10px 8px}
.scroll{max-width:100%;overflow-x:auto}svg{max-width:100%;height:auto}.lang{text-align:right}
.grade-card,li.consent{border:1px solid #ccc;border-radius:6px;padding:4px 12px;margin:8px 0}
.grade-card h3{font-size:1.05rem;margin:.4em 0}ul.consents{list-style:none;padding:0}
#manage-consents{display:inline-block;min-height:44px;padding:10px 8px}
button{min-height:44px;padding:8px 16px;font-size:1rem;border-radius:4px;border:1px solid #b71c1c;
background:#b71c1c;color:#fff;cursor:pointer}
@media (max-width:480px){dl{grid-template-columns:1fr}dd{margin-bottom:6px}}"""


def html_page(lang: str, title: str, body: str) -> str:
    """The document shell shared by the report and the enterprise's account page."""
    return f"""<!doctype html>
<html lang="{HTML_LANG[lang]}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{PAGE_STYLE}</style>
</head><body><main>
{body}
</main></body></html>"""


def language_switch(c: ReportContent, href: str) -> str:
    if not href:
        return ""
    other, label = "en" if c.lang == "zh" else "zh-CN", html.escape(c.headings["other_language"])
    return f'<p class="lang"><a href="{html.escape(href)}" lang="{other}">{label}</a></p>'


def identity_list(c: ReportContent) -> str:
    e = html.escape
    return '<dl id="identity">' + "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in c.identity) + "</dl>"


def account_sections(c: ReportContent, grades_html: str) -> str:
    """Emissions, charts, intensity, reduction, grades (given), activities and quality."""
    e = html.escape
    h = c.headings
    return f"""<h2>{e(h["by_scope"])}</h2>{_html_table(c.scope_table, f"{h['by_scope']} ({c.monthly.unit})")}
<h2>{e(h["by_month"])}</h2>{svg_columns(c.monthly, "chart-monthly")}
<h2>{e(h["structure"])}</h2>{svg_bars(c.structure, "chart-structure")}
{_html_table(c.structure_table, h["structure"], 1)}
<h2>{e(h["intensity"])}</h2>{svg_bars(c.intensity, "chart-intensity")}
{"".join(f"<p>{e(s)}</p>" for s in c.intensity_sentences)}
<h2>{e(h["reduction"])}</h2><p id="reduction">{e(c.reduction_sentence)}</p>
<h2>{e(h["grade"])}</h2>{grades_html}
<h2>{e(h["activities"])}</h2>{_html_table(c.activities_table, h["activities"], 3)}
<h2>{e(h["quality"])}</h2><p id="quality">{e(c.quality_sentence)}</p>"""


def render_html(ctx: ReportContext) -> str:
    c = build_content(ctx)
    heading_name = ctx.display_name or c.identity[1][1]  # the name, or the USCC when the registry had none
    body = (
        f"{language_switch(c, ctx.other_language_href)}<h1>{html.escape(c.title)}</h1>\n{identity_list(c)}\n"
        + account_sections(c, f'<p id="grade">{html.escape(c.grade)}</p>')
    )
    return html_page(c.lang, f"{c.title} · {heading_name} · {ctx.account.period}", body)


def _cjk_font() -> str:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if CJK_FONT not in pdfmetrics.getRegisteredFontNames():
        path = next((p for p in CJK_FONT_FILES if p.exists()), None)
        if path is None:
            raise RuntimeError(f"no CJK font for the PDF report: install fonts-wqy-zenhei (`make chromium`): {path}")
        pdfmetrics.registerFont(TTFont(CJK_FONT, str(path), subfontIndex=0))
    return CJK_FONT


def render_pdf(ctx: ReportContext) -> bytes:
    from reportlab.graphics.charts.barcharts import HorizontalBarChart, VerticalBarChart
    from reportlab.graphics.shapes import Drawing, Rect, String
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    c = build_content(ctx)
    h = c.headings
    font = _cjk_font()
    base = getSampleStyleSheet()
    styles = {
        name: ParagraphStyle(f"cjk-{name}", parent=base[name], fontName=font, wordWrap="CJK")
        for name in ("Title", "Heading2", "Normal")
    }
    buffer = io.BytesIO()
    uscc = c.identity[1][1]
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        title=f"{c.title} · {c.identity[0][1]} · {uscc} · {c.identity[2][1]}",
        subject=c.title,
        author="carbon platform",
        lang=HTML_LANG[c.lang],
        invariant=1,
        initialFontName=font,  # else every page also references Helvetica (not embedded)
    )

    def para(text: str, style: str = "Normal") -> Paragraph:
        return Paragraph(html.escape(text), styles[style])

    def table(rows: list[list[str]]) -> Table:
        cell = ParagraphStyle("cjk-cell", parent=styles["Normal"], fontSize=8, leading=10)
        t = Table([[Paragraph(html.escape(v), cell) for v in r] for r in rows], repeatRows=1)
        t.setStyle(
            TableStyle(
                [
                    ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke),
                    ("FONTNAME", (0, 0), (-1, -1), font),
                ]
            )
        )
        return t

    def caption(drawing: Drawing, chart: Chart, x: float, y: float) -> None:
        drawing.add(String(x, y, f"{chart.title} ({chart.unit})", fontName=font, fontSize=10))

    story: list[object] = [para(c.title, "Title"), table([[k, v] for k, v in c.identity]), Spacer(1, 8)]
    story += [para(h["by_scope"], "Heading2"), table(c.scope_table)]
    if c.monthly.categories:
        story.append(para(h["by_month"], "Heading2"))
        drawing = Drawing(480, 200, initialFontName=font)
        chart = VerticalBarChart()
        chart.x, chart.y, chart.width, chart.height = 50, 40, 410, 130
        chart.data = [[float(v) for v in values] for _, _, values in c.monthly.series]
        chart.categoryAxis.categoryNames = c.monthly.categories
        chart.categoryAxis.style = "stacked"
        chart.categoryAxis.labels.fontName = font
        chart.valueAxis.valueMin = 0
        chart.valueAxis.labels.fontName = font
        for k, (_, colour, _) in enumerate(c.monthly.series):
            chart.bars[k].fillColor = colors.HexColor(colour)
        drawing.add(chart)
        caption(drawing, c.monthly, 50, 185)
        legend_x = 50.0
        for name, colour, _ in c.monthly.series:
            drawing.add(Rect(legend_x, 8, 8, 8, fillColor=colors.HexColor(colour), strokeColor=None))
            drawing.add(String(legend_x + 12, 8, name, fontName=font, fontSize=9))
            legend_x += 90
        story.append(drawing)

    def bars(chart: Chart) -> Drawing | None:
        """Horizontal bars with a value axis and a caption naming the unit."""
        if not chart.categories:
            return None
        rows = len(chart.categories)
        drawing = Drawing(480, 40 + 24 * rows, initialFontName=font)
        plot = HorizontalBarChart()
        plot.x, plot.y, plot.width, plot.height = 140, 20, 320, 24 * rows
        plot.data = [[float(v) for v in chart.series[0][2]]]
        plot.categoryAxis.categoryNames = chart.categories
        plot.categoryAxis.labels.fontName = font
        plot.valueAxis.valueMin = 0
        plot.valueAxis.labels.fontName = font
        plot.bars[0].fillColor = colors.HexColor(chart.series[0][1])
        drawing.add(plot)
        caption(drawing, chart, 140, 24 * rows + 26)
        return drawing

    story.append(para(h["structure"], "Heading2"))
    story += [d for d in (bars(c.structure),) if d is not None]
    story.append(table(c.structure_table))
    story.append(para(h["intensity"], "Heading2"))
    story += [d for d in (bars(c.intensity),) if d is not None]
    story += [para(s) for s in c.intensity_sentences]
    story += [para(h["reduction"], "Heading2"), para(c.reduction_sentence)]
    story += [para(h["grade"], "Heading2"), para(c.grade)]
    story += [para(h["activities"], "Heading2"), table(c.activities_table)]
    story += [para(h["quality"], "Heading2"), para(c.quality_sentence)]
    doc.build(story)
    return buffer.getvalue()


def energy_name(value: int) -> str:
    """English name of an energy type (logs, CSV)."""
    names = ENERGY_NAMES.get(value)
    return names[1] if names else common_pb2.EnergyType.Name(value).removeprefix("ENERGY_TYPE_").lower()
