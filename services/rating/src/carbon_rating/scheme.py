"""Scheme versions: declarative documents, validation, per-enterprise evaluation (pure).

A scheme version is a YAML/JSON document (see data/scheme.schema.json and
the README). It names indicators (computed from the account, its history and
the benchmarks by the metric catalogue below) and one grading method:

- `bands`: the first band whose condition holds on one indicator decides the
  grade (Zhejiang carbon-efficiency K bands), optionally with a qualifier
  from another indicator for a composite label ("high-carbon grade 3");
- `rules`: the first rule whose `all`/`any` conditions hold (Quzhou colours);
- `weighted_score`: each component indicator scored 0-100 by bands, weighted,
  and the total cut into grades (Shenzhen AAA..C);
- `plugin`: a Python entry point of group `carbon.rating.schemes`.

Every comparison is exact: indicator values are Fractions of the integer
inputs and thresholds are Decimals, so `K <= 1.2` holds for K exactly 1.2.
Displayed values are rounded ROUND_HALF_EVEN to 6 decimals.
"""

from __future__ import annotations

import hashlib
import json
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from functools import cache
from importlib import resources
from typing import Any

import jsonschema
import yaml
from carbon_common.hashchain import canonical_json

from carbon_rating.benchmarks import BASES, Benchmark, BenchmarkConfig, BenchmarkTable, OfficialBenchmark
from carbon_rating.model import MICRO, Row, fraction_decimal, round_half_even, to_micro, year_of

OPS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
}
NEGATED = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!="}
RATIO_METRICS = {"reduction_rate": "reduction", "clean_energy_share": "clean", "quality_score": "quality"}
DEFAULT_WINDOW = 3


def metric_catalogue() -> dict[str, str]:
    """metric name -> unit."""
    catalogue: dict[str, str] = {}
    for name, base in BASES.items():
        catalogue[name] = base.unit
        catalogue[f"relative_{name}"] = "ratio to industry benchmark"
        catalogue[f"regional_contribution_{name}"] = "regional average / own"
        catalogue[f"historical_decline_{name}"] = "fraction (positive = decline)"
    catalogue["reduction_rate"] = "fraction vs base period"
    catalogue["clean_energy_share"] = "share of energy (0-1)"
    catalogue["quality_score"] = "0-1"
    return catalogue


METRICS = metric_catalogue()


def split_metric(metric: str) -> tuple[str, str]:
    """-> (kind, base): kind in base|relative|regional|decline|ratio."""
    if metric in BASES:
        return "base", metric
    for prefix, kind in (
        ("relative_", "relative"),
        ("regional_contribution_", "regional"),
        ("historical_decline_", "decline"),
    ):
        if metric.startswith(prefix) and metric[len(prefix) :] in BASES:
            return kind, metric[len(prefix) :]
    if metric in RATIO_METRICS:
        return "ratio", metric
    raise KeyError(metric)


# --------------------------------------------------------------------------- document model


@dataclass(frozen=True)
class Text:
    en: str
    zh: str


@dataclass(frozen=True)
class Condition:
    indicator: str
    op: str
    value: Decimal
    if_missing: bool = False

    @property
    def fraction(self) -> Fraction:
        return Fraction(self.value)

    def text(self, negate: bool = False) -> str:
        return f"{self.indicator} {NEGATED[self.op] if negate else self.op} {format(self.value, 'f')}"

    def holds(self, value: Fraction | None) -> bool:
        if value is None:
            return self.if_missing
        return OPS[self.op](value, self.fraction)


@dataclass(frozen=True)
class Band:
    """A condition on the enclosing indicator (None = otherwise) and what it yields."""

    op: str | None
    value: Decimal | None
    grade: str = ""
    id: str = ""
    label: Text | None = None
    score: Decimal | None = None

    def condition(self, indicator: str) -> Condition | None:
        if self.op is None or self.value is None:
            return None
        return Condition(indicator, self.op, self.value)


@dataclass(frozen=True)
class IndicatorSpec:
    id: str
    metric: str
    display_name: Text
    unit: str
    window: int = DEFAULT_WINDOW


@dataclass(frozen=True)
class Rule:
    grade: str
    all: tuple[Condition, ...] = ()
    any: tuple[Condition, ...] = ()


@dataclass(frozen=True)
class Component:
    indicator: str
    weight: Decimal
    bands: tuple[Band, ...]
    missing_score: Decimal = Decimal(0)


@dataclass(frozen=True)
class SchemeVersion:
    """One immutable scheme version, compiled from its document."""

    scheme_id: str
    version: str
    display_name: Text
    indicators: tuple[IndicatorSpec, ...]
    grades: tuple[str, ...]
    grade_labels: Mapping[str, Text]
    method: str
    benchmark: BenchmarkConfig
    document: Mapping[str, Any] = field(repr=False, compare=False)
    digest: str = ""
    # bands
    indicator: str = ""
    bands: tuple[Band, ...] = ()
    qualifier_indicator: str = ""
    qualifier_bands: tuple[Band, ...] = ()
    label_template: Text | None = None
    # rules
    rules: tuple[Rule, ...] = ()
    # weighted_score
    components: tuple[Component, ...] = ()
    cutoffs: tuple[Band, ...] = ()
    # plugin
    plugin: str = ""
    params: Mapping[str, Any] = field(default_factory=dict, compare=False)
    # display: grade id -> #rrggbb (the document's own colours, else by rank)
    grade_colours: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def has_score(self) -> bool:
        return self.method == "weighted_score"

    def indicator_spec(self, indicator_id: str) -> IndicatorSpec:
        for spec in self.indicators:
            if spec.id == indicator_id:
                return spec
        raise KeyError(indicator_id)


# --------------------------------------------------------------------------- grade colours

# Best to worst, for grades without a `colour` of their own (Quzhou's four: dark green, light green, yellow, red).
HEX_COLOUR = re.compile(r"#[0-9A-Fa-f]{6}")  # as the JSON Schema's pattern
RANK_STOPS = ("#1b5e20", "#66bb6a", "#fdd835", "#fb8c00", "#c62828")


def _mix(a: str, b: str, t: float) -> str:
    ca = [int(a[i : i + 2], 16) for i in (1, 3, 5)]
    cb = [int(b[i : i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(x + (y - x) * t):02x}" for x, y in zip(ca, cb, strict=True))


def rank_colours(count: int) -> list[str]:
    """`count` colours from dark green (best) to red (worst): 4 grades are dark green, light green, yellow, red."""
    if count <= 1:
        return [RANK_STOPS[0]] * count
    if count == 4:
        return [RANK_STOPS[0], RANK_STOPS[1], RANK_STOPS[2], RANK_STOPS[4]]
    out = []
    for i in range(count):
        position = i * (len(RANK_STOPS) - 1) / (count - 1)
        low = min(int(position), len(RANK_STOPS) - 2)
        out.append(_mix(RANK_STOPS[low], RANK_STOPS[low + 1], position - low))
    return out


def grade_colours(grades: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Grade id -> display colour (#rrggbb, lower case): the grade's `colour` in the document, else by rank."""
    by_rank = rank_colours(len(grades))
    out = {}
    for grade, fallback in zip(grades, by_rank, strict=True):
        colour = grade.get("colour")
        valid = isinstance(colour, str) and HEX_COLOUR.fullmatch(colour)
        out[str(grade.get("id", ""))] = colour.lower() if valid else fallback  # type: ignore[union-attr]
    return out


# --------------------------------------------------------------------------- validation


@cache
def json_schema() -> dict[str, Any]:
    text = resources.files("carbon_rating").joinpath("data/scheme.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def _path(parts: Sequence[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "document"


def parse_text(text: str) -> tuple[dict[str, Any] | None, list[tuple[str, str]]]:
    """YAML (or JSON, a YAML subset) text -> document, or a field error."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "document"
        return None, [(where, f"not valid YAML/JSON: {getattr(error, 'problem', error)}")]
    if not isinstance(document, dict):
        return None, [("document", "must be a mapping (YAML object)")]
    return _stringify_numbers(document), []


def _stringify_numbers(value: Any) -> Any:
    """YAML reads 0.6 as a float; thresholds must be exact, so plain numbers become their source text.

    Floats are formatted with repr (shortest round-trip), which gives back
    what was written for every decimal with up to 15 significant digits.
    """
    if isinstance(value, dict):
        return {k: (v if k in ("min_sample", "window") else _stringify_numbers(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_stringify_numbers(v) for v in value]
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")
    return value


def validate(document: Mapping[str, Any], plugins: Mapping[str, Any] | None = None) -> list[tuple[str, str]]:
    """All problems as (field path, message); empty when the document is a valid scheme version."""
    validator = jsonschema.Draft202012Validator(json_schema())
    errors = sorted(validator.iter_errors(document), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    violations = [(_path(list(e.absolute_path)), e.message) for e in errors]
    if violations:
        return violations
    return _semantic_errors(document, plugins)


def _semantic_errors(doc: Mapping[str, Any], plugins: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    grade_ids = [g["id"] for g in doc["grades"]]
    if len(set(grade_ids)) != len(grade_ids):
        out.append(("grades", "grade ids must be unique"))
    indicator_ids: list[str] = []
    for i, spec in enumerate(doc["indicators"]):
        if spec["id"] in indicator_ids:
            out.append((f"indicators[{i}].id", f"duplicate indicator id {spec['id']!r}"))
        indicator_ids.append(spec["id"])
        if spec["metric"] not in METRICS:
            out.append(
                (f"indicators[{i}].metric", f"unknown metric {spec['metric']!r}; known: {', '.join(sorted(METRICS))}")
            )
    grading = doc["grading"]

    def check_indicator(path: str, name: str) -> None:
        if name not in indicator_ids:
            out.append((path, f"unknown indicator {name!r}; defined: {', '.join(indicator_ids)}"))

    def check_grade(path: str, grade: str) -> None:
        if grade not in grade_ids:
            out.append((path, f"unknown grade {grade!r}; defined: {', '.join(grade_ids)}"))

    def check_bands(path: str, bands: list[dict[str, Any]], need: str) -> None:
        for j, band in enumerate(bands):
            last = j == len(bands) - 1
            if "op" not in band and not last:
                out.append((f"{path}[{j}]", "only the last band may omit op/value (otherwise)"))
            if last and "op" in band:
                out.append(
                    (
                        f"{path}[{j}]",
                        "the last band must be the otherwise band (no op/value), so every value gets a result",
                    )
                )
            if need not in band:
                out.append((f"{path}[{j}].{need}", "is required here"))
            elif need == "grade":
                check_grade(f"{path}[{j}].grade", band["grade"])

    method = grading["method"]
    if method == "bands":
        check_indicator("grading.indicator", grading["indicator"])
        check_bands("grading.bands", grading["bands"], "grade")
        if "qualifier" in grading:
            check_indicator("grading.qualifier.indicator", grading["qualifier"]["indicator"])
            check_bands("grading.qualifier.bands", grading["qualifier"]["bands"], "label")
    elif method == "rules":
        rules = grading["rules"]
        for j, rule in enumerate(rules):
            check_grade(f"grading.rules[{j}].grade", rule["grade"])
            for kind in ("all", "any"):
                for k, cond in enumerate(rule.get(kind, [])):
                    check_indicator(f"grading.rules[{j}].{kind}[{k}].indicator", cond["indicator"])
            last = j == len(rules) - 1
            if last and ("all" in rule or "any" in rule):
                out.append((f"grading.rules[{j}]", "the last rule must be the default (grade only)"))
            if not last and "all" not in rule and "any" not in rule:
                out.append((f"grading.rules[{j}]", "only the last rule may be a default without conditions"))
    elif method == "weighted_score":
        total = Decimal(0)
        for j, component in enumerate(grading["components"]):
            check_indicator(f"grading.components[{j}].indicator", component["indicator"])
            check_bands(f"grading.components[{j}].bands", component["bands"], "score")
            total += Decimal(component["weight"])
        if total != 1:
            out.append(("grading.components", f"weights must sum to 1 (they sum to {total})"))
        check_bands("grading.cutoffs", grading["cutoffs"], "grade")
        for j, band in enumerate(grading["cutoffs"]):
            if "value" in band and Decimal(band["value"]).as_tuple().exponent < -2:  # type: ignore[operator]  # the schema's decimal pattern: never NaN/Infinity
                out.append((f"grading.cutoffs[{j}].value", "at most 2 decimals"))
    elif method == "plugin":
        known = plugins or {}
        if grading["plugin"] not in known:
            out.append(
                (
                    "grading.plugin",
                    f"no scheme plug-in {grading['plugin']!r} installed (entry point group carbon.rating.schemes)",
                )
            )
        else:
            out.extend(known[grading["plugin"]].validate(grading.get("params", {}), indicator_ids, grade_ids))
    return out


# --------------------------------------------------------------------------- compile


def _text(value: Mapping[str, str] | None) -> Text | None:
    return _required_text(value) if value else None


def _required_text(value: Mapping[str, str]) -> Text:
    return Text(value["en"], value["zh"])


def _band(raw: Mapping[str, Any]) -> Band:
    return Band(
        raw.get("op"),
        Decimal(raw["value"]) if "value" in raw else None,
        raw.get("grade", ""),
        raw.get("id", ""),
        _text(raw.get("label")),
        Decimal(raw["score"]) if "score" in raw else None,
    )


def _condition(raw: Mapping[str, Any]) -> Condition:
    return Condition(raw["indicator"], raw["op"], Decimal(raw["value"]), bool(raw.get("if_missing", False)))


def document_digest(document: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(document)).hexdigest()


class InvalidScheme(ValueError):
    def __init__(self, violations: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{f}: {m}" for f, m in violations))
        self.violations = violations


def compile_scheme(document: Mapping[str, Any], plugins: Mapping[str, Any] | None = None) -> SchemeVersion:
    violations = validate(document, plugins)
    if violations:
        raise InvalidScheme(violations)
    doc = json.loads(canonical_json(document))  # private deep copy
    bench = doc.get("benchmark", {})
    benchmark = BenchmarkConfig(
        min_sample=int(bench.get("min_sample", 5)),
        region_prefixes=tuple(bench.get("population_region_prefixes", [])),
        official=tuple(
            OfficialBenchmark(o["metric"], o["industry"], o["period"], to_micro(Decimal(o["value"])) or 0, o["source"])
            for o in bench.get("official", [])
        ),
    )
    grading = doc["grading"]
    common: dict[str, Any] = dict(
        scheme_id=doc["scheme_id"],
        version=str(doc.get("version", "")),
        display_name=_text(doc["display_name"]),
        indicators=tuple(
            IndicatorSpec(
                s["id"],
                s["metric"],
                _required_text(s["display_name"]),  # required by the schema
                s.get("unit", METRICS[s["metric"]]),
                int(s.get("window", DEFAULT_WINDOW)),
            )
            for s in doc["indicators"]
        ),
        grades=tuple(g["id"] for g in doc["grades"]),
        grade_labels={g["id"]: _text(g["label"]) for g in doc["grades"]},
        grade_colours=grade_colours(doc["grades"]),
        method=grading["method"],
        benchmark=benchmark,
        document=doc,
        digest=document_digest(doc),
    )
    if grading["method"] == "bands":
        qualifier = grading.get("qualifier") or {}
        return SchemeVersion(
            **common,
            indicator=grading["indicator"],
            bands=tuple(_band(b) for b in grading["bands"]),
            qualifier_indicator=qualifier.get("indicator", ""),
            qualifier_bands=tuple(_band(b) for b in qualifier.get("bands", [])),
            label_template=_text(grading.get("label")),
        )
    if grading["method"] == "rules":
        return SchemeVersion(
            **common,
            rules=tuple(
                Rule(r["grade"], tuple(map(_condition, r.get("all", []))), tuple(map(_condition, r.get("any", []))))
                for r in grading["rules"]
            ),
        )
    if grading["method"] == "weighted_score":
        return SchemeVersion(
            **common,
            components=tuple(
                Component(
                    c["indicator"],
                    Decimal(c["weight"]),
                    tuple(map(_band, c["bands"])),
                    Decimal(c.get("missing_score", "0")),
                )
                for c in grading["components"]
            ),
            cutoffs=tuple(map(_band, grading["cutoffs"])),
        )
    return SchemeVersion(**common, plugin=grading["plugin"], params=grading.get("params", {}))


# --------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class IndicatorValue:
    spec: IndicatorSpec
    value: Fraction | None
    benchmark: Benchmark | None = None
    score: Decimal | None = None

    @property
    def decimal(self) -> Decimal | None:
        return fraction_decimal(self.value)


@dataclass(frozen=True)
class Outcome:
    scheme_id: str
    version: str
    period: str
    grade: str | None
    label: Text | None
    score: Fraction | None
    indicators: tuple[IndicatorValue, ...]
    deciding: tuple[str, ...]
    explanation: Text
    missing: tuple[str, ...] = ()

    @property
    def score_decimal(self) -> Decimal | None:
        return score_decimal(self.score)


def score_decimal(score: Fraction | None) -> Decimal | None:
    """Weighted totals are exact with at most 6 decimals; shown with at least 2."""
    if score is None:
        return None
    exact = fraction_decimal(score)
    assert exact is not None
    two = exact.quantize(Decimal("0.01"))
    return two if two == exact else exact.normalize()


def history_sum(row: Row, history: Mapping[str, Row], column: str, window: int) -> tuple[int, int]:
    """Sum and count of the base column over the `window` previous years present in history."""
    year = year_of(row.period)
    total = count = 0
    for back in range(1, window + 1):
        previous = history.get(str(year - back))
        value = getattr(previous, column) if previous is not None else None
        if value is not None:
            total += value
            count += 1
    return total, count


def metric_value(
    spec: IndicatorSpec, row: Row, history: Mapping[str, Row], table: BenchmarkTable
) -> tuple[Fraction | None, Benchmark | None]:
    kind, base_name = split_metric(spec.metric)
    if kind == "ratio":
        raw = getattr(row, RATIO_METRICS[base_name])
        return (None if raw is None else Fraction(raw, MICRO)), None
    base = BASES[base_name]
    own = getattr(row, base.column)
    if kind == "base":
        return (None if own is None else Fraction(own, MICRO)), None
    if kind == "relative":
        bench = table.industry(base_name, row.industry, row.period)
        if own is None or bench is None or bench.value_micro <= 0:
            return None, bench
        return Fraction(own, bench.value_micro), bench
    if kind == "regional":
        bench = table.regional(base_name, row.region, row.province, row.period)
        if own is None or bench is None or own <= 0:
            return None, bench
        return Fraction(bench.value_micro, own), bench
    # decline vs own mean of previous years: (mean - own) / mean = (S - n*own) / S
    total, count = history_sum(row, history, base.column, spec.window)
    if own is None or count == 0 or total <= 0:
        return None, None
    mean = Benchmark(round_half_even(Fraction(total, count)), "own mean", f"previous {count} year(s)", "history", count)
    return Fraction(total - count * own, total), mean


def _first_band(bands: Sequence[Band], indicator: str, value: Fraction) -> tuple[int, Band]:
    for index, band in enumerate(bands):
        condition = band.condition(indicator)
        if condition is None or condition.holds(value):
            return index, band
    raise AssertionError("validated bands end with an otherwise band")


def _band_reasons(bands: Sequence[Band], indicator: str, index: int) -> list[str]:
    """The matched band's condition plus the negation of the one before it (e.g. "K <= 1.2", "K > 0.8")."""
    out = []
    current = bands[index].condition(indicator)
    if current is not None:
        out.append(current.text())
    if index > 0:
        previous = bands[index - 1].condition(indicator)
        if previous is not None:
            out.append(previous.text(negate=True))
    return out


def evaluate(
    scheme: SchemeVersion,
    row: Row,
    history: Mapping[str, Row],
    table: BenchmarkTable,
    plugins: Mapping[str, Any] | None = None,
) -> Outcome:
    """Rates one enterprise-period. `table` must be built with `scheme.benchmark`."""
    values: dict[str, IndicatorValue] = {}
    for spec in scheme.indicators:
        value, bench = metric_value(spec, row, history, table)
        values[spec.id] = IndicatorValue(spec, value, bench)
    grade: str | None = None
    score: Fraction | None = None
    deciding: list[str] = []
    missing: list[str] = []
    qualifier: Band | None = None

    if scheme.method == "bands":
        value = values[scheme.indicator].value
        if value is None:
            missing.append(scheme.indicator)
        else:
            index, band = _first_band(scheme.bands, scheme.indicator, value)
            grade = band.grade
            deciding = _band_reasons(scheme.bands, scheme.indicator, index)
            if scheme.qualifier_indicator:
                qvalue = values[scheme.qualifier_indicator].value
                if qvalue is None:
                    missing.append(scheme.qualifier_indicator)
                else:
                    qindex, qualifier = _first_band(scheme.qualifier_bands, scheme.qualifier_indicator, qvalue)
                    deciding += _band_reasons(scheme.qualifier_bands, scheme.qualifier_indicator, qindex)
    elif scheme.method == "rules":
        for rule in scheme.rules:
            if rule.all:
                failed = [c for c in rule.all if not c.holds(values[c.indicator].value)]
                if not failed:
                    grade = rule.grade
                    deciding += [c.text() for c in rule.all]
                    break
                deciding.append(_failed_text(failed[0], values))
            elif rule.any:
                held = [c for c in rule.any if c.holds(values[c.indicator].value)]
                if held:
                    grade = rule.grade
                    deciding += [c.text() for c in held]
                    break
                deciding += [_failed_text(c, values) for c in rule.any]
            else:
                grade = rule.grade
                break
    elif scheme.method == "weighted_score":
        total = Fraction(0)
        for component in scheme.components:
            iv = values[component.indicator]
            if iv.value is None:
                points = component.missing_score
                deciding.append(f"{component.indicator} missing: score {points}")
            else:
                _, band = _first_band(component.bands, component.indicator, iv.value)
                assert band.score is not None
                points = band.score
            values[component.indicator] = IndicatorValue(iv.spec, iv.value, iv.benchmark, points)
            total += Fraction(component.weight) * Fraction(points)
        score = total
        index, band = _first_band(scheme.cutoffs, "score", total)
        grade = band.grade
        deciding = _band_reasons(scheme.cutoffs, "score", index) + deciding
    else:
        plugin = (plugins or {}).get(scheme.plugin)
        if plugin is None:
            raise LookupError(f"scheme plug-in {scheme.plugin!r} is not installed")
        decision = plugin.grade(scheme.params, {k: v.value for k, v in values.items()})
        grade, score, deciding = decision.grade, decision.score, list(decision.deciding)
        missing = list(getattr(decision, "missing", ()))

    label = _label(scheme, grade, qualifier)
    indicators = tuple(values[spec.id] for spec in scheme.indicators)
    explanation = explain(scheme, row.period, grade, label, score, indicators, deciding, missing)
    return Outcome(
        scheme.scheme_id,
        scheme.version,
        row.period,
        grade,
        label,
        score,
        indicators,
        tuple(deciding),
        explanation,
        tuple(missing),
    )


def _failed_text(condition: Condition, values: Mapping[str, IndicatorValue]) -> str:
    if values[condition.indicator].value is None:
        return f"{condition.indicator} missing"
    return condition.text(negate=True)


def _label(scheme: SchemeVersion, grade: str | None, qualifier: Band | None) -> Text | None:
    if grade is None:
        return None
    base = scheme.grade_labels[grade]
    if scheme.label_template is not None and qualifier is not None and qualifier.label is not None:
        return Text(
            scheme.label_template.en.format(qualifier=qualifier.label.en, grade=grade, label=base.en),
            scheme.label_template.zh.format(qualifier=qualifier.label.zh, grade=grade, label=base.zh),
        )
    return base


def _fmt(value: Decimal | None) -> str:
    return "n/a" if value is None else format(value.normalize() if value == value.to_integral() else value, "f")


def explain(
    scheme: SchemeVersion,
    period: str,
    grade: str | None,
    label: Text | None,
    score: Fraction | None,
    indicators: Sequence[IndicatorValue],
    deciding: Sequence[str],
    missing: Sequence[str],
) -> Text:
    """One sentence per language: the grade, the thresholds that decided it, the values and benchmarks."""
    parts_en, parts_zh = [], []
    for iv in indicators:
        en = f"{iv.spec.id} ({iv.spec.display_name.en}) = {_fmt(iv.decimal)}"
        zh = f"{iv.spec.display_name.zh}{iv.spec.id}={_fmt(iv.decimal)}"
        if iv.benchmark is not None:
            bench = _fmt(Decimal(iv.benchmark.value_micro) / MICRO)
            en += f" against benchmark {bench} ({iv.benchmark.describe()})"
            zh += f"(基准{bench}，{iv.benchmark.describe()})"
        if iv.score is not None:
            en += f", scored {_fmt(iv.score)}"
            zh += f"，得分{_fmt(iv.score)}"
        parts_en.append(en)
        parts_zh.append(zh)
    if grade is None or label is None:
        return Text(
            f"{scheme.display_name.en} {period}: no grade, because {', '.join(missing)} could not be computed "
            f"(missing account data or benchmark); {'; '.join(parts_en)}.",
            f"{scheme.display_name.zh}{period}年：无法评级，因为{'、'.join(missing)}无法计算(缺少账户数据或基准)；{'；'.join(parts_zh)}。",
        )
    score_en = f" with score {_fmt(score_decimal(score))}" if score is not None else ""
    score_zh = f"，综合得分{_fmt(score_decimal(score))}" if score is not None else ""
    because = " and ".join(deciding) if deciding else "the default rule"
    because_zh = "且".join(deciding) if deciding else "默认规则"
    return Text(
        f"{scheme.display_name.en} {period}: {label.en}{score_en} because {because}; {'; '.join(parts_en)}.",
        f"{scheme.display_name.zh}{period}年：{label.zh}{score_zh}，因为{because_zh}；{'；'.join(parts_zh)}。",
    )


# --------------------------------------------------------------------------- thresholds and the next grade


@dataclass(frozen=True)
class Threshold:
    """One threshold of a version on one indicator (or on "score"), and the document field that holds it."""

    indicator: str
    op: str
    value: Decimal
    result: str  # the grade (or qualifier band id, or component score) the condition leads to
    field: str  # e.g. "grading.bands[2].value"


def thresholds(scheme: SchemeVersion, indicator: str) -> tuple[Threshold, ...]:
    """Every threshold the version applies to `indicator`, in document order."""
    out: list[Threshold] = []

    def bands(path: str, items: Sequence[Band], on: str, result: Callable[[Band], str]) -> None:
        for j, band in enumerate(items):
            if on == indicator and band.op is not None and band.value is not None:
                out.append(Threshold(indicator, band.op, band.value, result(band), f"{path}[{j}].value"))

    bands("grading.bands", scheme.bands, scheme.indicator, lambda b: b.grade)
    bands("grading.qualifier.bands", scheme.qualifier_bands, scheme.qualifier_indicator, lambda b: b.id)
    for j, rule in enumerate(scheme.rules):
        for kind, conditions in (("all", rule.all), ("any", rule.any)):
            for k, condition in enumerate(conditions):
                if condition.indicator == indicator:
                    out.append(
                        Threshold(
                            indicator,
                            condition.op,
                            condition.value,
                            rule.grade,
                            f"grading.rules[{j}].{kind}[{k}].value",
                        )
                    )
    for j, component in enumerate(scheme.components):
        bands(f"grading.components[{j}].bands", component.bands, component.indicator, lambda b: str(b.score))
    bands("grading.cutoffs", scheme.cutoffs, "score", lambda b: b.grade)
    return tuple(out)


@dataclass(frozen=True)
class Gap:
    """A condition the enterprise must meet for the next grade: `indicator op threshold`, and how far it is.

    `change` = threshold - current value (negative: the value must fall); None when the value is missing.
    For a strict op (< or >) the value must go strictly beyond the threshold.
    """

    indicator: str
    op: str
    threshold: Decimal
    value: Decimal | None
    change: Decimal | None

    @property
    def text(self) -> str:
        return f"{self.indicator} {self.op} {format(self.threshold, 'f')}"


@dataclass(frozen=True)
class NextGrade:
    """What would move an enterprise up one grade under this version (pure: from the scheme and its outcome)."""

    grade: str
    label: Text
    gaps: tuple[Gap, ...]
    explanation: Text


def next_grade(scheme: SchemeVersion, outcome: Outcome) -> NextGrade | None:
    """The next better grade and the indicator gaps to its thresholds; None at the best grade, without a
    grade, or for a plug-in scheme (its logic is opaque)."""
    if outcome.grade is None or outcome.grade not in scheme.grades:
        return None
    rank = scheme.grades.index(outcome.grade)
    if rank == 0 or scheme.method == "plugin":
        return None
    target = scheme.grades[rank - 1]
    values: dict[str, Fraction | None] = {iv.spec.id: iv.value for iv in outcome.indicators}
    values["score"] = outcome.score

    def gap(condition: Condition) -> Gap:
        value = values.get(condition.indicator)
        current = fraction_decimal(value)
        change = None if value is None else fraction_decimal(condition.fraction - value)
        return Gap(condition.indicator, condition.op, condition.value, current, change)

    def unmet(conditions: Sequence[Condition]) -> list[Gap]:
        return [gap(c) for c in conditions if not c.holds(values.get(c.indicator))]

    gaps: list[Gap] = []
    if scheme.method in ("bands", "weighted_score"):
        indicator, items = (scheme.indicator, scheme.bands) if scheme.method == "bands" else ("score", scheme.cutoffs)
        # the first band that yields the target grade (bands are ordered best first)
        for band in items:
            condition = band.condition(indicator)
            if band.grade == target and condition is not None:
                gaps = unmet([condition])
                break
    else:
        for rule in scheme.rules:
            if scheme.grades.index(rule.grade) > rank - 1 and _rule_holds(rule, values):
                # a worse rule earlier in the list still catches the enterprise: it must stop holding
                held = [c for c in rule.any if c.holds(values.get(c.indicator))] or list(rule.all[:1])
                gaps += [gap(_negated(c)) for c in held]
            if rule.grade == target:
                gaps += unmet(rule.all)
                if rule.any and not any(c.holds(values.get(c.indicator)) for c in rule.any):
                    gaps.append(min((gap(c) for c in rule.any), key=_distance))
                break
    label = scheme.grade_labels[target]
    if gaps:
        en = "; ".join(_gap_text(g, "en") for g in gaps)
        zh = "；".join(_gap_text(g, "zh") for g in gaps)
    else:
        en, zh = "no single threshold stands in the way", "没有单一阈值阻碍"
    return NextGrade(
        target,
        label,
        tuple(gaps),
        Text(f"To reach {label.en}: {en}.", f"升至{label.zh}：{zh}。"),
    )


def _rule_holds(rule: Rule, values: Mapping[str, Fraction | None]) -> bool:
    if rule.all:
        return all(c.holds(values.get(c.indicator)) for c in rule.all)
    if rule.any:
        return any(c.holds(values.get(c.indicator)) for c in rule.any)
    return True


def _negated(condition: Condition) -> Condition:
    # "==" negates to "!=", which is not a scheme op: the gap then reads "K != v" with no distance.
    return Condition(condition.indicator, NEGATED[condition.op], condition.value)


def _distance(item: Gap) -> Decimal:
    return abs(item.change) if item.change is not None else Decimal("Infinity")


def _gap_text(item: Gap, lang: str) -> str:
    if item.value is None or item.change is None:
        return f"{item.text} ({'no value yet' if lang == 'en' else '尚无数值'})"
    amount = _fmt(abs(item.change))
    lower = item.change < 0 or (item.change == 0 and item.op in ("<", "<="))
    strict = item.op in ("<", ">")  # the value must go strictly beyond the threshold
    if lang == "en":
        how = f"{'lower' if lower else 'raise'} it by {'more than ' if strict else ''}{amount}"
        return f"{item.text} (now {_fmt(item.value)}, {how})"
    how = f"需{'降低' if lower else '提高'}{'超过' if strict else ''}{amount}"
    return f"{item.text}（当前{_fmt(item.value)}，{how}）"
