"""Code plug-ins for exotic scheme logic: entry point group `carbon.rating.schemes`.

A distribution declares e.g.

    [project.entry-points."carbon.rating.schemes"]
    my-logic = "my_package.scheme:MyLogic"

and a scheme version document selects it with
`grading: {method: plugin, plugin: my-logic, params: {...}}`. The object (or
class, instantiated without arguments) provides:

- `validate(params, indicator_ids, grade_ids) -> list[(field, message)]`
- `grade(params, values: dict[indicator id, Fraction | None]) -> PluginDecision`

Indicators are still computed by the platform (metric catalogue,
benchmarks), so a plug-in only decides the grade; it must be pure and
deterministic. The vectorised preview calls it per row.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from importlib.metadata import entry_points
from typing import Any, Protocol

GROUP = "carbon.rating.schemes"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PluginDecision:
    grade: str | None
    score: Fraction | None = None
    deciding: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()


class SchemePlugin(Protocol):
    def validate(
        self, params: Mapping[str, Any], indicator_ids: Sequence[str], grade_ids: Sequence[str]
    ) -> list[tuple[str, str]]: ...

    def grade(self, params: Mapping[str, Any], values: Mapping[str, Fraction | None]) -> PluginDecision: ...


def load_plugins(group: str = GROUP) -> dict[str, SchemePlugin]:
    found: dict[str, SchemePlugin] = {}
    for entry in entry_points(group=group):
        try:
            target = entry.load()
            found[entry.name] = target() if isinstance(target, type) else target
        except Exception:  # a broken plug-in must not take the service down
            log.exception("cannot load scheme plug-in", extra={"plugin": entry.name})
    return found
