"""Carbon account report: HTML with server-side inline SVG charts, and PDF (reportlab)."""

from __future__ import annotations

import html
import io
from dataclasses import dataclass
from decimal import Decimal

from carbon.v1 import accounting_pb2, common_pb2

PALETTE = ["#2e7d32", "#1565c0", "#f9a825", "#6a1b9a", "#c62828", "#00838f", "#4e342e", "#ef6c00", "#546e7a"]
SOURCE_NAMES = {1: "tax invoices", 2: "meters", 3: "declared"}


@dataclass
class ReportContext:
    account: accounting_pb2.Account
    benchmark_intensity: Decimal | None = None  # industry mean tCO2 / 10^4 CNY value added
    benchmark_peers: int = 0
    grade_label: str = ""
    display_name: str = ""


def _d(message: object) -> Decimal | None:
    value = getattr(message, "value", "")
    return Decimal(value) if value else None


def _fmt(value: Decimal | None, places: int = 3) -> str:
    return "—" if value is None else f"{value:,.{places}f}"


def energy_name(value: int) -> str:
    name: str = common_pb2.EnergyType.Name(value)
    return name.removeprefix("ENERGY_TYPE_").lower().replace("_", " ")


def svg_bars(items: list[tuple[str, Decimal]], unit: str, width: int = 520) -> str:
    """Horizontal bar chart."""
    if not items:
        return "<p>no data</p>"
    top = max((v for _, v in items), default=Decimal(0)) or Decimal(1)
    row = 26
    height = row * len(items) + 10
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">']
    for i, (label, value) in enumerate(items):
        w = int(Decimal(width - 260) * max(value, Decimal(0)) / top)
        y = 5 + i * row
        parts.append(f'<text x="0" y="{y + 16}" font-size="12">{html.escape(label)}</text>')
        parts.append(f'<rect x="130" y="{y + 3}" width="{w}" height="18" fill="{PALETTE[i % len(PALETTE)]}"/>')
        parts.append(f'<text x="{136 + w}" y="{y + 16}" font-size="12">{_fmt(value)} {html.escape(unit)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def svg_monthly(monthly: list[tuple[str, Decimal, Decimal]], width: int = 620, height: int = 220) -> str:
    """Stacked columns: Scope 1 (bottom) and Scope 2 per month."""
    if not monthly:
        return "<p>no data</p>"
    top = max((a + b for _, a, b in monthly), default=Decimal(0)) or Decimal(1)
    plot_h = height - 40
    col = (width - 40) // len(monthly)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">']
    parts.append(f'<line x1="30" y1="{plot_h + 5}" x2="{width}" y2="{plot_h + 5}" stroke="#999"/>')
    for i, (month, s1, s2) in enumerate(monthly):
        x = 35 + i * col
        h1 = int(Decimal(plot_h) * max(s1, Decimal(0)) / top)
        h2 = int(Decimal(plot_h) * max(s2, Decimal(0)) / top)
        parts.append(
            f'<rect x="{x}" y="{plot_h + 5 - h1}" width="{col - 6}" height="{h1}" fill="{PALETTE[4]}">'
            f"<title>{month} Scope 1 {_fmt(s1)} tCO2</title></rect>"
        )
        parts.append(
            f'<rect x="{x}" y="{plot_h + 5 - h1 - h2}" width="{col - 6}" height="{h2}" fill="{PALETTE[1]}">'
            f"<title>{month} Scope 2 {_fmt(s2)} tCO2</title></rect>"
        )
        parts.append(f'<text x="{x}" y="{height - 18}" font-size="10">{month[5:] or month}</text>')
    parts.append(
        f'<rect x="35" y="{height - 12}" width="10" height="10" fill="{PALETTE[4]}"/>'
        f'<text x="50" y="{height - 3}" font-size="10">Scope 1</text>'
        f'<rect x="110" y="{height - 12}" width="10" height="10" fill="{PALETTE[1]}"/>'
        f'<text x="125" y="{height - 3}" font-size="10">Scope 2</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _monthly(account: accounting_pb2.Account) -> list[tuple[str, Decimal, Decimal]]:
    return [(m.month, _d(m.scope1_tco2) or Decimal(0), _d(m.scope2_tco2) or Decimal(0)) for m in account.monthly]


def _structure(account: accounting_pb2.Account) -> list[tuple[str, Decimal]]:
    return [(energy_name(s.energy_type), _d(s.tce) or Decimal(0)) for s in account.energy_structure]


def render_html(ctx: ReportContext) -> str:
    a = ctx.account
    uscc = a.name.split("/")[1]
    intensity = _d(a.intensity_value_added)
    bench_rows = [("this enterprise", intensity or Decimal(0))]
    if ctx.benchmark_intensity is not None:
        bench_rows.append((f"industry {a.industry_code} mean", ctx.benchmark_intensity))
    activities = "".join(
        f"<tr><td>{energy_name(x.energy_type)}</td><td>{x.scope}</td>"
        f"<td>{['', 'location', 'market'][x.scope2_method] if x.scope2_method else ''}</td>"
        f"<td class=n>{_fmt(_d(x.quantity))} {html.escape(x.unit)}</td><td>{SOURCE_NAMES.get(x.source, '')}</td>"
        f"<td class=n>{_fmt(_d(x.tco2), 6)}</td><td>{html.escape(x.factor_id)} = {html.escape(x.factor_value.value)} "
        f"{html.escape(x.factor_unit)}</td></tr>"
        for x in a.activities
    )
    flags = ", ".join(a.quality.flags) or "none"
    grade = html.escape(ctx.grade_label) if ctx.grade_label else "not available"
    bench = (
        f"{_fmt(ctx.benchmark_intensity, 6)} ({ctx.benchmark_peers} peers)"
        if ctx.benchmark_intensity is not None
        else f"not published (fewer than 3 peers: {ctx.benchmark_peers})"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Carbon account {html.escape(uscc)} {html.escape(a.period)}</title>
<style>body{{font-family:sans-serif;max-width:900px;margin:2em auto;color:#222}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 6px;font-size:13px}}td.n{{text-align:right}}h2{{margin-top:1.4em}}</style>
</head><body>
<h1>Carbon account report 碳账户报告</h1>
<p><b>{html.escape(ctx.display_name or uscc)}</b> (USCC {html.escape(uscc)}), period <b>{html.escape(a.period)}</b>,
industry {html.escape(a.industry_code)}, province {html.escape(a.province_code)}.
Factor set {html.escape(a.factor_set_version)}; input digest <code>{html.escape(a.input_digest[:16])}…</code></p>
<h2>Emissions by scope</h2>
<table><tr><th>Scope 1</th><th>Scope 2 (location)</th><th>Scope 2 (market)</th><th>Total ({
        "market" if a.scope2_method == 2 else "location"
    }-based)</th><th>Energy (tce)</th></tr>
<tr><td class=n>{_fmt(_d(a.scope1_tco2))}</td><td class=n>{_fmt(_d(a.scope2_location_tco2))}</td>
<td class=n>{_fmt(_d(a.scope2_market_tco2))}</td><td class=n><b>{_fmt(_d(a.total_tco2))}</b></td>
<td class=n>{_fmt(_d(a.energy_tce))}</td></tr></table>
<h2>Emissions by month (tCO2)</h2>{svg_monthly(_monthly(a))}
<h2>Energy structure (tce)</h2>{svg_bars(_structure(a), "tce")}
<h2>Intensity against the industry benchmark (tCO2 / 10<sup>4</sup> CNY value added)</h2>
{svg_bars(bench_rows, "")}
<p>Intensity: revenue {_fmt(_d(a.intensity_revenue), 6)}, value added {_fmt(intensity, 6)}, tax {
        _fmt(_d(a.intensity_tax), 6)
    }. Industry benchmark: {bench}.</p>
<p>Reduction against {html.escape(a.base_period or "—")}: {_fmt(_d(a.reduction_tco2))} tCO2
(rate {_fmt(_d(a.reduction_rate), 4)}).</p>
<h2>Grade</h2><p>{grade}</p>
<h2>Activity and factors</h2>
<table><tr><th>energy</th><th>scope</th><th>method</th><th>quantity</th><th>source</th><th>tCO2</th><th>factor</th></tr>
{activities}</table>
<h2>Data quality</h2>
<p>Score {_fmt(_d(a.quality.score), 3)}, meter coverage {_fmt(_d(a.quality.coverage), 3)}, sources {
        ", ".join(SOURCE_NAMES.get(s, str(s)) for s in a.quality.sources) or "none"
    }, flags {html.escape(flags)}.</p>
</body></html>"""


def render_pdf(ctx: ReportContext) -> bytes:
    from reportlab.graphics.charts.barcharts import VerticalBarChart
    from reportlab.graphics.shapes import Drawing
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    a = ctx.account
    uscc = a.name.split("/")[1]
    styles = getSampleStyleSheet()
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, title=f"Carbon account {uscc} {a.period}", invariant=1)
    story = [
        Paragraph(f"Carbon account report — {html.escape(ctx.display_name or uscc)}", styles["Title"]),
        Paragraph(
            f"USCC {uscc}, period {a.period}, industry {a.industry_code}, factor set {a.factor_set_version}",
            styles["Normal"],
        ),
        Spacer(1, 10),
    ]

    def table(rows: list[list[str]]) -> Table:
        t = Table(rows)
        t.setStyle(
            TableStyle(
                [
                    ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke),
                    ("FONTSIZE", (0, 0), (-1, -1), 8),
                ]
            )
        )
        return t

    story.append(Paragraph("Emissions by scope (tCO2)", styles["Heading2"]))
    story.append(
        table(
            [
                ["Scope 1", "Scope 2 location", "Scope 2 market", "Total", "Energy tce"],
                [
                    _fmt(_d(a.scope1_tco2)),
                    _fmt(_d(a.scope2_location_tco2)),
                    _fmt(_d(a.scope2_market_tco2)),
                    _fmt(_d(a.total_tco2)),
                    _fmt(_d(a.energy_tce)),
                ],
            ]
        )
    )
    monthly = _monthly(a)
    if monthly:
        story.append(Paragraph("Emissions by month (tCO2)", styles["Heading2"]))
        drawing = Drawing(480, 180)
        chart = VerticalBarChart()
        chart.x, chart.y, chart.width, chart.height = 40, 30, 420, 130
        chart.data = [[float(s1) for _, s1, _ in monthly], [float(s2) for _, _, s2 in monthly]]
        chart.categoryAxis.categoryNames = [m[5:] or m for m, _, _ in monthly]
        chart.categoryAxis.style = "stacked"
        chart.bars[0].fillColor = colors.HexColor(PALETTE[4])
        chart.bars[1].fillColor = colors.HexColor(PALETTE[1])
        chart.valueAxis.valueMin = 0
        drawing.add(chart)
        story.append(drawing)
    story.append(Paragraph("Energy structure", styles["Heading2"]))
    story.append(
        table(
            [["energy", "tce", "share"]]
            + [[energy_name(s.energy_type), _fmt(_d(s.tce)), _fmt(_d(s.share), 4)] for s in a.energy_structure]
        )
    )
    story.append(Paragraph("Intensity and benchmark", styles["Heading2"]))
    story.append(
        table(
            [
                ["per 10^4 CNY", "revenue", "value added", "tax", "industry mean (value added)", "grade"],
                [
                    _fmt(_d(a.total_tco2)),
                    _fmt(_d(a.intensity_revenue), 6),
                    _fmt(_d(a.intensity_value_added), 6),
                    _fmt(_d(a.intensity_tax), 6),
                    _fmt(ctx.benchmark_intensity, 6)
                    if ctx.benchmark_intensity is not None
                    else f"n/a ({ctx.benchmark_peers})",
                    ctx.grade_label or "n/a",
                ],
            ]
        )
    )
    story.append(Paragraph("Activities and factors", styles["Heading2"]))
    story.append(
        table(
            [["energy", "scope", "quantity", "tCO2", "factor"]]
            + [
                [
                    energy_name(x.energy_type),
                    str(x.scope),
                    f"{_fmt(_d(x.quantity))} {x.unit}",
                    _fmt(_d(x.tco2), 6),
                    f"{x.factor_id} = {x.factor_value.value} {x.factor_unit}",
                ]
                for x in a.activities
            ]
        )
    )
    story.append(Spacer(1, 8))
    story.append(
        Paragraph(
            f"Data quality: score {_fmt(_d(a.quality.score), 3)}, coverage {_fmt(_d(a.quality.coverage), 3)}, "
            f"flags {', '.join(a.quality.flags) or 'none'}. Input digest {a.input_digest}.",
            styles["Normal"],
        )
    )
    doc.build(story)
    return buffer.getvalue()
