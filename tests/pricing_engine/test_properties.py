"""Property tests: for any valid input every product returns exactly one
well-formed decision, within the bounds its data.json allows."""

from __future__ import annotations

import math
import re
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from carbon_pricing.engine import EmbeddedEngine, PolicyBundle
from hypothesis import HealthCheck, given, settings

from tests.pricing_engine.strategies import policy_inputs

DECISIONS = {"APPROVE", "REFER", "DECLINE_NEW_CREDIT"}
KINDS = {"NONE", "FREEZE", "INCREASE", "NO_NEW_CREDIT"}
CODE = re.compile(r"^[A-Z][A-Z_]*$")


def max_discount_bp(params: dict[str, Any]) -> int:
    """The largest discount a product's parameters allow."""
    if "max_discount_bp" in params:
        return int(params["max_discount_bp"])
    return -min(int(g.get("rate_adjustment_bp", 0)) for g in params["grades"].values())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=policy_inputs())
def test_exactly_one_well_formed_decision(
    embedded: EmbeddedEngine, bundle: PolicyBundle, case: tuple[str, dict[str, Any]]
) -> None:
    product, policy_input = case
    params = bundle.data[product]["params"]
    got = embedded.evaluate(product, policy_input)

    assert set(got) == {
        "decision",
        "rate_adjustment_bp",
        "credit_line_effect",
        "tenor_effect_months",
        "reasons",
        "product_version",
    }
    assert got["decision"] in DECISIONS
    bp = got["rate_adjustment_bp"]
    assert type(bp) is int and -max_discount_bp(params) <= bp <= 0
    assert got["credit_line_effect"]["kind"] in KINDS
    assert re.fullmatch(r"\d+\.00", got["credit_line_effect"]["amount_cny"])
    assert type(got["tenor_effect_months"]) is int and got["tenor_effect_months"] >= 0
    assert got["reasons"] and all(CODE.match(r["code"]) and r["message"] for r in got["reasons"])
    assert got["product_version"] == params["product_version"]

    if got["decision"] != "APPROVE":
        assert bp == 0 and got["tenor_effect_months"] == 0
        assert got["credit_line_effect"]["amount_cny"] == "0.00"
    if got["decision"] == "DECLINE_NEW_CREDIT":
        assert got["credit_line_effect"]["kind"] == "NO_NEW_CREDIT"
    if got["decision"] == "REFER":
        assert got["credit_line_effect"]["kind"] == "NONE"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=policy_inputs())
def test_terms_match_an_independent_oracle(
    embedded: EmbeddedEngine, bundle: PolicyBundle, case: tuple[str, dict[str, Any]]
) -> None:
    """Approved terms recomputed in Python with Decimal, from the same params."""
    product, policy_input = case
    got = embedded.evaluate(product, policy_input)
    if got["decision"] != "APPROVE":
        return
    params = bundle.data[product]["params"]
    rating = policy_input["rating"]
    if product == "shenzhen_jiangtandai":
        points = math.floor(rating["score"]) - params["base_score"]
        want = min(max(points * params["bp_per_point"], 0), params["max_discount_bp"])
        assert got["rate_adjustment_bp"] == -want
    else:
        assert got["rate_adjustment_bp"] == params["grades"][rating["grade"]]["rate_adjustment_bp"]
    if product == "wuyi_jiantandai":
        reduction = policy_input["account"]["reduction_tco2"]
        credit = 0
        if reduction is not None and Decimal(reduction) > 0:
            credit = int((Decimal(reduction) * params["credit_line_cny_per_tco2"]).to_integral_value(ROUND_FLOOR))
        kind = "INCREASE" if credit > 0 else "NONE"
        assert got["credit_line_effect"] == {"kind": kind, "amount_cny": f"{credit}.00"}
