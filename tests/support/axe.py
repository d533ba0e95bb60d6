"""axe-core (the npm package, `make node-tools`) run inside real Chromium pages, at desktop and phone width."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

AXE_JS = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
WIDTHS = (1280, 390)
PHONE_WIDTH = 390


@dataclass(frozen=True)
class Audit:
    page: str
    width: int
    counts: dict[str, int]  # impact -> number of rules violated
    blocking: list[str]  # "rule (impact): first targets" of every violation, whatever its impact
    scroll_width: int


def _source() -> str:
    assert AXE_JS.exists(), f"{AXE_JS} is missing: run `make node-tools`"
    return AXE_JS.read_text(encoding="utf-8")


def audit(page: Any, label: str, width: int) -> Audit:
    """Run axe-core on the page as it is now (evaluated over CDP, so a strict CSP does not block it)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(_source())
    result = page.evaluate(
        "async () => { const r = await axe.run(document, {resultTypes: ['violations']});"
        " return r.violations.map(v => ({id: v.id, impact: v.impact, target: v.nodes.map(n => n.target.join(' '))})); }"
    )
    counts: dict[str, int] = {}
    for violation in result:
        counts[violation["impact"]] = counts.get(violation["impact"], 0) + 1
    blocking = [f"{v['id']} ({v['impact']}): {v['target'][:3]}" for v in result]
    found = Audit(label, width, counts, blocking, int(page.evaluate("document.documentElement.scrollWidth")))
    log = os.environ.get("CARBON_AXE_LOG")  # optional: one JSON line per audit, for the before/after record
    if log:
        with open(log, "a", encoding="utf-8") as out:
            out.write(json.dumps({**found.__dict__, "rules": [v["id"] for v in result]}) + "\n")
    return found


def assert_accessible(page: Any, label: str) -> None:
    """At 1280 and 390 px: zero axe violations of any impact, and nothing wider than a phone at 390 px.

    A phone lays out a page without `<meta name="viewport" content="width=device-width">` at ~980 px and
    shrinks it, so the meta tag is required as well (a resized desktop viewport would not show that).
    """
    viewport = page.evaluate("document.querySelector('meta[name=viewport]')?.content ?? ''")
    assert "width=device-width" in viewport, f"{label}: no <meta name=viewport content=width=device-width>"
    height = page.viewport_size["height"] if page.viewport_size else 900
    original = page.viewport_size
    try:
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": height})
            found = audit(page, label, width)
            assert not found.blocking, f"{label} at {width} px: {found.blocking}"
            if width == PHONE_WIDTH:
                assert found.scroll_width <= PHONE_WIDTH, f"{label} overflows a phone: {found.scroll_width} px"
    finally:
        if original:
            page.set_viewport_size(original)
