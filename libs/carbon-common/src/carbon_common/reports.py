"""Pieces of the platform's bilingual reports (HTML with inline SVG charts, and PDF), shared by every service
that renders one (accounting's carbon account report, loan-pricing's financed-emissions disclosure).

Chinese is the default language, English on request (`?lang=en` or `Accept-Language`, see `choose_language`).
Charts are drawn server-side as SVG with an accessible title, a value axis and a unit. The PDF is the same
HTML page laid out by WeasyPrint as tagged PDF/UA-1 (structure tree, /Lang, title, figures with Alt text), with
a CJK TrueType font embedded (Debian's fonts-wqy-zenhei, `make cjk-font`), so Chinese names render and can be
extracted everywhere. WeasyPrint (which needs pango) is imported only by `html_to_pdf`.
"""

from __future__ import annotations

import html
import math
import threading
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

PALETTE = ["#2e7d32", "#1565c0", "#b26a00", "#6a1b9a", "#c62828", "#00838f", "#4e342e", "#ef6c00", "#546e7a"]
LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"
HTML_LANG = {"zh": "zh-CN", "en": "en"}
# The CJK TrueType font embedded (subset) in the PDFs; the Debian package is installed by `make cjk-font`.
CJK_FONT_FILES = (Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),)


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


def fmt(value: Decimal | None, places: int = 3) -> str:
    return "—" if value is None else f"{value:,.{places}f}"


@dataclass(frozen=True)
class Chart:
    """A chart's data, titled, with a unit on its value axis."""

    title: str
    unit: str
    categories: list[str]
    series: list[tuple[str, str, list[Decimal]]]  # (name, colour, one value per category), stacked


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


def tick(value: Decimal) -> str:
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
            f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" fill="#333">{tick(value)}</text>'
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
                f"<title>{e(category)} {e(name)}: {fmt(values[k])} {e(chart.unit)}</title></rect>"
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


def svg_bars(chart: Chart, chart_id: str, width: int = 640, highlight_first: bool = True) -> str:
    """Horizontal bars (one series) with a value axis (ticks, unit), labels and an accessible title; the
    first bar in the series colour and the others grey when `highlight_first` (one subject against peers)."""
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
            f"{tick(top * k / 4)}</text>"
        )
    parts.append(
        f'<text x="{label_w + plot_w / 2:.1f}" y="{height - 4}" font-size="11" text-anchor="middle" fill="#333">'
        f"{e(chart.unit)}</text>"
    )
    for k, (category, value) in enumerate(zip(chart.categories, values, strict=True)):
        y = 8 + k * row
        w = float(max(value, Decimal(0)) / top) * plot_w
        colour = chart.series[0][1] if k == 0 or not highlight_first else PALETTE[8]
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 16}" font-size="12" text-anchor="end" fill="#333">{e(category)}</text>'
        )
        parts.append(
            f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="18" fill="{colour}">'
            f"<title>{e(category)}: {fmt(value)} {e(chart.unit)}</title></rect>"
        )
        parts.append(f'<text x="{label_w + w + 6:.1f}" y="{y + 16}" font-size="12" fill="#333">{fmt(value)}</text>')
    parts.append(f'<line x1="{label_w}" y1="4" x2="{label_w}" y2="{plot_bottom}" stroke="#333"/>')
    parts.append("</svg>")
    return "".join(parts)


def html_table(rows: list[list[str]], caption: str, numeric_from: int = 0) -> str:
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
.scroll{max-width:100%;overflow:auto}svg{max-width:100%;height:auto}.lang{text-align:right}
@media (max-width:480px){dl{grid-template-columns:1fr}dd{margin-bottom:6px}}"""


def html_page(lang: str, title: str, body: str, extra_style: str = "") -> str:
    """The document shell shared by the reports and the pages built from them."""
    return f"""<!doctype html>
<html lang="{HTML_LANG[lang]}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{PAGE_STYLE}{extra_style}</style>
</head><body><main>
{body}
</main></body></html>"""


def language_link(lang: str, label: str, href: str) -> str:
    """The link to the same page in the other language (nothing without an href)."""
    if not href:
        return ""
    other = "en" if lang == "zh" else "zh-CN"
    return f'<p class="lang"><a href="{html.escape(href)}" lang="{other}">{html.escape(label)}</a></p>'


def definition_list(pairs: list[tuple[str, str]], element_id: str = "identity") -> str:
    e = html.escape
    return f'<dl id="{element_id}">' + "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in pairs) + "</dl>"


_PDF_LOCK = threading.Lock()
PDF_STYLE = """@page{size:A4;margin:16mm 14mm}
body{font-family:"WenQuanYi Zen Hei",sans-serif;max-width:none;padding:0;font-size:10.5pt}
svg text{font-family:"WenQuanYi Zen Hei",sans-serif}
h1{font-size:18pt}h2{font-size:13pt;break-after:avoid}
.scroll{overflow:visible;break-inside:avoid}table{width:100%}tr,figure,svg{break-inside:avoid}
td,th{font-size:8pt}td.n{white-space:nowrap}"""


def cjk_font_file() -> Path:
    """The CJK font every PDF embeds (checked, so a missing package fails loudly rather than printing boxes)."""
    path = next((p for p in CJK_FONT_FILES if p.exists()), None)
    if path is None:
        raise RuntimeError("no CJK font for the PDF reports: install fonts-wqy-zenhei (`make cjk-font`)")
    return path


def html_to_pdf(page_html: str) -> bytes:
    """The HTML page as a tagged PDF (PDF/UA-1, by WeasyPrint): the same content as the page, with a structure
    tree (headings, lists, tables, figures with the charts' titles as Alt text), /Lang from <html lang>, the
    title from <title>, and the CJK font embedded (subset). Interactive pieces (the language link) are the
    caller's to leave out. WeasyPrint needs pango (Debian's libpango-1.0-0, `make pdf-deps`)."""
    import weasyprint  # imported here: only the services that print PDFs depend on it

    cjk_font_file()  # found by fontconfig under its family name (an @font-face over the .ttc is 20x slower)
    # one layout at a time per process: pango/fontconfig under concurrent threads has crashed WeasyPrint
    # elsewhere, and a report takes well under a second, so requests queue briefly instead
    with _PDF_LOCK:
        document = weasyprint.HTML(string=page_html, base_url=None)
        pdf: bytes = document.write_pdf(stylesheets=[weasyprint.CSS(string=PDF_STYLE)], pdf_variant="pdf/ua-1")
    return pdf
