"""Hypothesis strategies for valid policy inputs (the shape the service builds)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

SCHEMES = {
    "quzhou_tanrongyi": ("quzhou-four-colour", ["DARK_GREEN", "LIGHT_GREEN", "YELLOW", "RED"]),
    "shenzhen_jiangtandai": ("shenzhen-aaa", ["AAA", "AA", "A", "BBB", "BB", "B", "CCC", "CC", "C"]),
    "wuyi_jiantandai": ("zhejiang-carbon-efficiency", ["1", "2", "3", "4", "5"]),
}
ALL_SCHEMES = sorted({scheme for scheme, _ in SCHEMES.values()})


def _floats(lo: float, hi: float) -> st.SearchStrategy[float]:
    # the engines refuse 0 < |x| < 1e-300 (see carbon_pricing.engine.base)
    return st.floats(min_value=lo, max_value=hi, allow_nan=False, allow_subnormal=False).filter(
        lambda x: x == 0 or abs(x) >= 1e-300
    )


_scores = st.one_of(
    st.none(),
    st.integers(min_value=0, max_value=100),
    _floats(0, 100),
    _floats(-5, 105),
)
_reductions = st.one_of(
    st.none(),
    st.decimals(
        min_value=Decimal("-100000"), max_value=Decimal("999999999"), places=6, allow_nan=False, allow_infinity=False
    ).map(lambda d: format(d, "f")),
    st.integers(min_value=-1000, max_value=10**9).map(str),
)


@st.composite
def policy_inputs(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    product = draw(st.sampled_from(sorted(SCHEMES)))
    scheme, grades = SCHEMES[product]
    rating = draw(
        st.one_of(
            st.none(),
            st.fixed_dictionaries(
                {
                    # mostly the accepted scheme, sometimes another region's
                    "scheme_id": st.sampled_from([scheme, scheme, scheme, *ALL_SCHEMES]),
                    "scheme_version": st.just("v1"),
                    "grade": st.sampled_from([*grades, "UNKNOWN"]),
                    "score": _scores,
                    "age_days": st.one_of(st.integers(min_value=0, max_value=400), st.none()),
                    "period": st.just("2024"),
                }
            ),
        )
    )
    account = draw(
        st.one_of(
            st.none(),
            st.fixed_dictionaries(
                {
                    "period": st.just("2024"),
                    "quality_score": st.one_of(_floats(0, 1), st.none()),
                    "reduction_tco2": _reductions,
                }
            ),
        )
    )
    request = {"amount_cny": "1000000.00", "tenor_months": draw(st.integers(1, 120)), "reference_rate_pct": "3.45"}
    return product, {"product": product, "request": request, "rating": rating, "account": account}
