"""(b) Parity: a real `opa run --server` must decide exactly like regopy.

The OPA server is started from tools/bin/opa on a free port (a missing binary
fails the test: run `make tools`). The same bundle is pushed to it through
OpaServerEngine.load_bundle and every input is evaluated by both engines.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from carbon_pricing.engine import EmbeddedEngine, OpaServerEngine, PolicyBundle
from hypothesis import HealthCheck, given, settings

from tests.pricing_engine.strategies import policy_inputs
from tests.pricing_engine.support import TABLE


def test_same_bundle_version(embedded: EmbeddedEngine, opa_engine: OpaServerEngine) -> None:
    assert opa_engine.bundle_version == embedded.bundle_version
    assert opa_engine.products == embedded.products


@pytest.mark.parametrize("row", TABLE, ids=[row["id"] for row in TABLE])
def test_decision_table_parity(embedded: EmbeddedEngine, opa_engine: OpaServerEngine, row: dict[str, Any]) -> None:
    on_opa = opa_engine.evaluate(row["product"], row["input"])
    assert on_opa == embedded.evaluate(row["product"], row["input"])
    assert on_opa == row["expected"]
    assert type(on_opa["rate_adjustment_bp"]) is int


def _sweep() -> list[tuple[str, dict[str, Any]]]:
    """A dense grid over the numeric edges (scores, ages, quality, tonnes).

    rego-cpp orders numbers inside collections as text (min([4, 30]) == 30),
    a divergence only a grid like this one catches.
    """
    cases: list[tuple[str, dict[str, Any]]] = []
    request: dict[str, Any] = {"amount_cny": "1000000.00", "tenor_months": 12, "reference_rate_pct": "3.45"}
    account: dict[str, Any] = {"period": "2024", "quality_score": 0.93, "reduction_tco2": None}
    for grade in ("AAA", "AA", "A", "BBB", "B", "CCC", "C"):
        for tenths in range(0, 1001, 5):
            rating: dict[str, Any] = {
                "scheme_id": "shenzhen-aaa",
                "scheme_version": "2024",
                "grade": grade,
                "score": tenths / 10,
                "age_days": 3,
                "period": "2024",
            }
            cases.append(
                (
                    "shenzhen_jiangtandai",
                    {"product": "shenzhen_jiangtandai", "request": request, "rating": rating, "account": account},
                )
            )
    tonnes = [
        "0",
        "0.01",
        "0.1",
        "0.29",
        "0.57",
        "1.005",
        "1.15",
        "2.675",
        "9.999999",
        "10",
        "33.33",
        "120.5",
        "999.99",
        "123456.789012",
        "-0.5",
        "-120",
        "999999999999.999999",
    ]
    for reduction in tonnes:
        for grade in ("1", "3", "4"):
            rating = {
                "scheme_id": "zhejiang-carbon-efficiency",
                "scheme_version": "x",
                "grade": grade,
                "score": None,
                "age_days": 3,
                "period": "2024",
            }
            cases.append(
                (
                    "wuyi_jiantandai",
                    {
                        "product": "wuyi_jiantandai",
                        "request": request,
                        "rating": rating,
                        "account": {"period": "2024", "quality_score": 0.93, "reduction_tco2": reduction},
                    },
                )
            )
    for age in (0, 1, 89, 90, 91, 365):
        for quality in (0.0, 0.5, 0.7999999, 0.8, 0.8000001, 1.0):
            rating = {
                "scheme_id": "quzhou-four-colour",
                "scheme_version": "x",
                "grade": "LIGHT_GREEN",
                "score": None,
                "age_days": age,
                "period": "2024",
            }
            cases.append(
                (
                    "quzhou_tanrongyi",
                    {
                        "product": "quzhou_tanrongyi",
                        "request": request,
                        "rating": rating,
                        "account": {"period": "2024", "quality_score": quality, "reduction_tco2": "1"},
                    },
                )
            )
    return cases


def test_numeric_sweep_parity(embedded: EmbeddedEngine, opa_engine: OpaServerEngine) -> None:
    mismatches = []
    for product, policy_input in _sweep():
        a = embedded.evaluate(product, policy_input)
        b = opa_engine.evaluate(product, policy_input)
        if a != b:
            mismatches.append((product, policy_input["rating"], policy_input["account"], a, b))
    assert not mismatches, f"{len(mismatches)} divergences, first: {mismatches[0]}"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=policy_inputs())
def test_random_inputs_parity(
    embedded: EmbeddedEngine, opa_engine: OpaServerEngine, case: tuple[str, dict[str, Any]]
) -> None:
    product, policy_input = case
    assert opa_engine.evaluate(product, policy_input) == embedded.evaluate(product, policy_input)


def test_decimal_values_are_sent_as_plain_strings(
    embedded: EmbeddedEngine, opa_engine: OpaServerEngine, bundle: PolicyBundle
) -> None:
    row = next(r for r in TABLE if r["id"] == "wuyi grade 1 with a reduction")
    policy_input = {**row["input"], "account": {**row["input"]["account"], "reduction_tco2": Decimal("1.205E+2")}}
    want = {**row["expected"]}
    assert embedded.evaluate("wuyi_jiantandai", policy_input) == want
    assert opa_engine.evaluate("wuyi_jiantandai", policy_input) == want
