"""Plain-text tables and JSON output."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field


@dataclass
class Row:
    component: str
    kind: str
    target: str
    status: str
    healthy: bool
    detail: str = ""
    extra: dict[str, object] = field(default_factory=dict)  # raw facts shown in --json (Redis INFO fields)


HEADERS = ("COMPONENT", "KIND", "TARGET", "STATUS", "DETAIL")


def render(rows: Sequence[Row]) -> str:
    cells = [HEADERS] + [(r.component, r.kind, r.target, r.status, r.detail) for r in rows]
    widths = [max(len(str(row[i])) for row in cells) for i in range(len(HEADERS))]
    lines = [
        "  ".join(str(value).ljust(width) for value, width in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    return "\n".join(lines)


def render_json(rows: Sequence[Row]) -> str:
    return json.dumps(
        {"healthy": all(r.healthy for r in rows), "components": [asdict(r) for r in rows]}, indent=2, default=str
    )
