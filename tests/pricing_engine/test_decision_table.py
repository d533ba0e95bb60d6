"""(a) The decision table, evaluated in-process (EmbeddedEngine / regopy)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from carbon_pricing.engine import EmbeddedEngine, PolicyBundle

from tests.pricing_engine.support import TABLE


def test_table_covers_every_product_and_grade(bundle: PolicyBundle) -> None:
    assert len(TABLE) >= 40
    assert len({row["id"] for row in TABLE}) == len(TABLE), "row ids must be unique"
    seen = Counter((row["product"], row["input"]["rating"]["grade"]) for row in TABLE if row["input"]["rating"])
    for product in bundle.products:
        for grade in bundle.data[product]["params"]["grades"]:
            assert seen[(product, grade)], f"no row for {product} grade {grade}"


@pytest.mark.parametrize("row", TABLE, ids=[row["id"] for row in TABLE])
def test_decision(embedded: EmbeddedEngine, row: dict[str, Any]) -> None:
    got = embedded.evaluate(row["product"], row["input"])
    assert got == row["expected"]
    # exact types too: == alone would accept -50.0 for -50
    assert type(got["rate_adjustment_bp"]) is int
    assert type(got["tenor_effect_months"]) is int
