"""Loan-pricing policy engine: evaluates a bank product's Rego policy.

Quick use::

    from carbon_pricing.engine import engine_from_settings
    engine = engine_from_settings("embedded", None, Path("policies/products"))
    decision = engine.evaluate("quzhou_tanrongyi", policy_input)

Input (built by the service; ``Decimal`` values are sent as plain strings)::

    {"product": "<id>",
     "request": {"amount_cny": "1000000.00", "tenor_months": 12, "reference_rate_pct": "3.45"},
     "rating": null | {"scheme_id", "scheme_version", "grade", "score" (number|null),
                       "age_days", "period"},
     "account": null | {"period", "quality_score", "reduction_tco2" (decimal string|null)}}

Output (``data.<product>.decision``)::

    {"decision": "APPROVE" | "REFER" | "DECLINE_NEW_CREDIT",
     "rate_adjustment_bp": int (negative = discount),
     "credit_line_effect": {"kind": "NONE" | "FREEZE" | "INCREASE" | "NO_NEW_CREDIT",
                            "amount_cny": "<whole CNY>.00"},
     "tenor_effect_months": int,
     "reasons": [{"code": str, "message": str}, ...],
     "product_version": str}
"""

from .base import PolicyEngine
from .bundle import PolicyBundle
from .embedded import EmbeddedEngine
from .errors import (
    BundleLoadError,
    PolicyEngineError,
    PolicyEngineUnavailable,
    PolicyEvaluationError,
    UnknownProduct,
)
from .factory import engine_from_settings
from .opa_server import OpaServerEngine

__all__ = [
    "BundleLoadError",
    "EmbeddedEngine",
    "OpaServerEngine",
    "PolicyBundle",
    "PolicyEngine",
    "PolicyEngineError",
    "PolicyEngineUnavailable",
    "PolicyEvaluationError",
    "UnknownProduct",
    "engine_from_settings",
]
