"""Scheme documents as the editor sees them (pure): text <-> document, form fields <-> document, diffs.

Form fields are named by the document path the JSON Schema reports errors at (`display_name.zh`,
`grading.bands[2].value`), so a validation error lands beside its field without any mapping table.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import yaml
from carbon_common.errors import invalid_argument, invalid_arguments

from carbon_rating import scheme as sc

CHINA = timezone(timedelta(hours=8))
# Fields whose form value is a list of codes, written "3308, 3309".
LIST_FIELDS = re.compile(r"^(jurisdiction\.region_prefixes|benchmark\.population_region_prefixes)$")
INTEGER_FIELDS = re.compile(r"^(benchmark\.min_sample|indicators\[\d+\]\.window)$")
BOOLEAN_FIELDS = re.compile(r"\.if_missing$")
# Optional fields an empty input removes (a band without op/value is the "otherwise" band).
OPTIONAL_FIELDS = re.compile(
    r"(^description$|\.unit$|\.window$|\.missing_score$|\.if_missing$|^grades\[\d+\]\.colour$"
    r"|bands\[\d+\]\.(op|value|grade|id|score)$"
    r"|cutoffs\[\d+\]\.(op|value)$|^benchmark\.min_sample$)"
)
SOURCES_FIELD = "sources"  # a textarea, one "field path: source" per line
PARAMS_FIELD = "grading.params"  # plug-in parameters as YAML
_STEP = re.compile(r"\.?([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")


def parse_effective(text: str | None) -> str | None:
    """ISO date/datetime; naive values are China Standard Time (UTC+8)."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise invalid_argument("effective_time", f"{text!r} is not an ISO date or date-time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=CHINA)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def document_from(value: str | Mapping[str, Any]) -> dict[str, Any]:
    """YAML/JSON text or an object -> a document with exact decimal strings; 400 naming the line when unparsable."""
    if isinstance(value, str):
        document, problems = sc.parse_text(value)
        if document is None:
            raise invalid_arguments(
                [(f"document.{f}" if not f.startswith("line") else f"document ({f})", m) for f, m in problems]
            )
        return document
    parsed, _ = sc.parse_text(json.dumps(value))
    assert parsed is not None
    return parsed


def to_yaml(document: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(document), allow_unicode=True, sort_keys=False, width=120)


# --------------------------------------------------------------------------- paths


def steps(path: str) -> list[str | int]:
    """ "grading.bands[2].value" -> ["grading", "bands", 2, "value"]; ValueError on anything else."""
    out: list[str | int] = []
    position = 0
    for match in _STEP.finditer(path):
        if match.start() != position:
            break
        out.append(match.group(1) if match.group(1) is not None else int(match.group(2)))
        position = match.end()
    if position != len(path) or not out or not isinstance(out[0], str):
        raise ValueError(f"not a document path: {path[:80]!r}")
    return out


def _set(document: dict[str, Any], path: str, value: Any) -> None:
    parts = steps(path)
    node: Any = document
    for here, after in itertools.pairwise(parts):
        if isinstance(here, int):
            if not isinstance(node, list) or here >= len(node):
                raise ValueError(f"no item {here} at {path[:80]!r}")
            node = node[here]
            continue
        if not isinstance(node, dict):
            raise ValueError(f"{path[:80]!r} crosses a value")
        node = node.setdefault(here, [] if isinstance(after, int) else {})
    last = parts[-1]
    if isinstance(last, int):
        if not isinstance(node, list) or last >= len(node):
            raise ValueError(f"no item {last} at {path[:80]!r}")
        node[last] = value
    elif value is None:
        node.pop(last, None)
    else:
        node[last] = value


def _get(document: Mapping[str, Any], path: str) -> Any:
    node: Any = document
    for part in steps(path):
        node = node[part]
    return node


def _field_value(path: str, text: str) -> Any:
    """The form text of one field as the document holds it; None removes an optional field."""
    text = text.strip()
    if BOOLEAN_FIELDS.search(path):
        return True if text == "true" else None
    if not text and OPTIONAL_FIELDS.search(path):
        return None
    if LIST_FIELDS.match(path):
        return [part for part in re.split(r"[\s,，]+", text) if part]
    if INTEGER_FIELDS.match(path) and re.fullmatch(r"-?[0-9]{1,9}", text):
        return int(text)  # anything else stays text: the JSON Schema then names the field
    return text


def _sources(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and value.strip():
            out[key.strip()] = value.strip()
    return out


def sources_text(document: Mapping[str, Any]) -> str:
    return "\n".join(f"{k}: {v}" for k, v in (document.get(SOURCES_FIELD) or {}).items())


# --------------------------------------------------------------------------- the form


@dataclass(frozen=True)
class FormResult:
    document: dict[str, Any]
    problems: tuple[tuple[str, str], ...]  # fields the form itself could not apply (before the JSON Schema)


def apply_form(base: Mapping[str, Any], fields: Iterable[tuple[str, str]], edit: str = "") -> FormResult:
    """The draft's document with the form's fields written over it, then one structural edit.

    `fields` are (document path, text) pairs; a later pair for the same path wins (a hidden "false" before a
    checkbox). `edit` is "add:<list path>" or "remove:<item path>" (the editor's add/remove buttons), or
    "method:<name>" to switch the grading method.
    """
    document = copy.deepcopy(dict(base))
    problems: list[tuple[str, str]] = []
    values: dict[str, str] = {}
    for path, text in fields:
        values[path] = text
    method = values.pop("grading.method", None)
    if method is not None and method != document.get("grading", {}).get("method"):
        edit = f"method:{method}"
    for path, text in values.items():
        try:
            if path == SOURCES_FIELD:
                _set(document, path, _sources(text) or None)
            elif path == PARAMS_FIELD:
                params = yaml.safe_load(text) if text.strip() else {}
                if not isinstance(params, dict):
                    problems.append((path, "plug-in parameters are a YAML mapping"))
                    continue
                _set(document, path, params)
            else:
                _set(document, path, _field_value(path, text))
        except (ValueError, TypeError, yaml.YAMLError) as error:
            problems.append((path if _is_path(path) else "form", str(error)[:200]))
    if edit:
        try:
            _structural(document, edit)
        except (ValueError, KeyError, IndexError, TypeError) as error:
            problems.append(("form", f"cannot {edit[:80]}: {str(error)[:120]}"))
    return FormResult(document, tuple(problems))


def _is_path(path: str) -> bool:
    try:
        steps(path)
    except ValueError:
        return False
    return True


def _new_item(list_path: str, document: Mapping[str, Any]) -> Any:
    grades = [g.get("id", "") for g in document.get("grades", []) if isinstance(g, dict)]
    indicators = [i.get("id", "") for i in document.get("indicators", []) if isinstance(i, dict)]
    first_indicator = indicators[0] if indicators else ""
    if list_path == "indicators":
        return {"id": "", "metric": "intensity_value_added", "display_name": {"en": "", "zh": ""}}
    if list_path == "grades":
        return {"id": "", "label": {"en": "", "zh": ""}}
    if list_path == "benchmark.official":
        return {"metric": "intensity_value_added", "industry": "*", "period": "", "value": "", "source": ""}
    if list_path == "grading.rules":
        return {"grade": grades[0] if grades else "", "all": [{"indicator": first_indicator, "op": "<=", "value": "1"}]}
    if re.fullmatch(r"grading\.rules\[\d+\]\.(all|any)", list_path):
        return {"indicator": first_indicator, "op": "<=", "value": "1"}
    if list_path == "grading.components":
        return {
            "indicator": first_indicator,
            "weight": "0",
            "bands": [{"op": "<=", "value": "1", "score": "100"}, {"score": "0"}],
        }
    if list_path.endswith("bands") or list_path == "grading.cutoffs":
        band: dict[str, Any] = {"op": ">=" if list_path == "grading.cutoffs" else "<=", "value": "1"}
        if "components" in list_path:
            band["score"] = "0"
        elif "qualifier" in list_path:
            band.update(id="", label={"en": "", "zh": ""})
        else:
            band["grade"] = grades[-1] if grades else ""
        return band
    raise ValueError("not a list the editor extends")


def _structural(document: dict[str, Any], edit: str) -> None:
    kind, _, path = edit.partition(":")
    if kind == "method":
        document["grading"] = skeleton(path, document)
        return
    if kind == "add":
        items = _get(document, path) if _exists(document, path) else None
        if items is None:
            _set(document, path, [])
            items = _get(document, path)
        if not isinstance(items, list):
            raise ValueError("not a list")
        item = _new_item(path, document)
        # bands end with the "otherwise" band: a new band goes before it
        at = len(items) - 1 if items and path.endswith(("bands", "cutoffs")) and "op" not in items[-1] else len(items)
        items.insert(at, item)
        return
    if kind == "remove":
        parts = steps(path)
        if not isinstance(parts[-1], int):
            raise ValueError("not a list item")
        parent: Any = document
        for part in parts[:-1]:
            parent = parent[part]
        del parent[parts[-1]]
        return
    raise ValueError("unknown edit")


def _exists(document: Mapping[str, Any], path: str) -> bool:
    try:
        _get(document, path)
    except (KeyError, IndexError, TypeError):
        return False
    return True


def skeleton(method: str, document: Mapping[str, Any]) -> dict[str, Any]:
    """A starting grading block for `method` over the document's indicators and grades (best first)."""
    grades = [g.get("id", "") for g in document.get("grades", []) if isinstance(g, dict)] or ["A", "B"]
    indicator = next((i.get("id", "") for i in document.get("indicators", []) if isinstance(i, dict)), "")
    steps_ = [format(0.5 + 0.5 * i, "g") for i in range(len(grades) - 1)]
    if method == "bands":
        return {
            "method": "bands",
            "indicator": indicator,
            "bands": [
                *({"grade": g, "op": "<=", "value": v} for g, v in zip(grades, steps_, strict=False)),
                {"grade": grades[-1]},
            ],
        }
    if method == "rules":
        return {
            "method": "rules",
            "rules": [
                *(
                    {"grade": g, "all": [{"indicator": indicator, "op": "<=", "value": v}]}
                    for g, v in zip(grades, steps_, strict=False)
                ),
                {"grade": grades[-1]},
            ],
        }
    if method == "weighted_score":
        cut = [str(90 - 10 * i) for i in range(len(grades) - 1)]
        return {
            "method": "weighted_score",
            "components": [
                {
                    "indicator": indicator,
                    "weight": "1",
                    "bands": [{"op": "<=", "value": "1", "score": "100"}, {"score": "0"}],
                }
            ],
            "cutoffs": [
                *({"grade": g, "op": ">=", "value": c} for g, c in zip(grades, cut, strict=False)),
                {"grade": grades[-1]},
            ],
        }
    if method == "plugin":
        return {"method": "plugin", "plugin": "", "params": {}}
    raise ValueError(f"unknown grading method {method[:40]!r}")


# --------------------------------------------------------------------------- diff


@dataclass(frozen=True)
class Change:
    path: str
    before: str | None  # None: added
    after: str | None  # None: removed


def flatten(value: Any, path: str = "") -> dict[str, str]:
    """Leaf path -> JSON text of the leaf."""
    if isinstance(value, Mapping):
        out: dict[str, str] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{path}.{key}" if path else str(key)))
        return out or {path: "{}"}
    if isinstance(value, list):
        out = {}
        for index, item in enumerate(value):
            out.update(flatten(item, f"{path}[{index}]"))
        return out or {path: "[]"}
    return {path: value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)}


def diff(before: Mapping[str, Any], after: Mapping[str, Any], ignore: Sequence[str] = ("version",)) -> list[Change]:
    """Every leaf that differs between two documents, in the newer document's order (removed ones last)."""
    old, new = flatten(before), flatten(after)
    changes = [Change(p, old.get(p), v) for p, v in new.items() if old.get(p) != v and p not in ignore]
    changes += [Change(p, v, None) for p, v in old.items() if p not in new and p not in ignore]
    return changes
