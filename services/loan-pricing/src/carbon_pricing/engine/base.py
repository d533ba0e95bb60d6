"""The ``PolicyEngine`` interface and helpers shared by its implementations."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

from carbon_pricing.quote import CreditLineEffect, Decision

from .bundle import PolicyBundle
from .errors import PolicyEvaluationError

# What a policy may answer: the quote's closed sets (carbon.v1.Quote enums).
DECISIONS = frozenset(d.value for d in Decision)
CREDIT_LINE_KINDS = frozenset(k.value for k in CreditLineEffect)


@runtime_checkable
class PolicyEngine(Protocol):
    """Evaluates a bank product's Rego policy.

    ``evaluate(product, input)`` returns the ``decision`` object of package
    ``<product>`` (see ``policies/products/pricing_lib/lib.rego`` for the
    contract). ``load_bundle`` swaps the policies atomically: evaluations
    already running finish on the old bundle, later ones see the new one.
    Implementations are thread-safe.
    """

    @property
    def bundle_version(self) -> str: ...

    @property
    def products(self) -> tuple[str, ...]: ...

    def evaluate(self, product: str, input: Mapping[str, Any]) -> dict[str, Any]: ...

    def load_bundle(self, bundle: PolicyBundle) -> None: ...

    def close(self) -> None: ...


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        # Plain notation, never "1E+3": the policies only accept plain decimals.
        return format(value, "f")
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


# rego-cpp re-parses numbers with std::stod while evaluating; a magnitude
# that underflows or overflows a double makes it fail where OPA would not.
# Both engines therefore refuse such floats up front (no real quality score,
# rating score or age comes anywhere near these limits).
MIN_FLOAT_MAGNITUDE = 1e-300
MAX_FLOAT_MAGNITUDE = 1e300


def _check_numbers(value: Any, path: str) -> None:
    if isinstance(value, float):
        if value != 0 and not MIN_FLOAT_MAGNITUDE <= abs(value) <= MAX_FLOAT_MAGNITUDE:
            raise PolicyEvaluationError(
                f"policy input {path} = {value!r} is outside the supported float range "
                f"({MIN_FLOAT_MAGNITUDE:g}..{MAX_FLOAT_MAGNITUDE:g})"
            )
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _check_numbers(item, f"{path}.{key}")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_numbers(item, f"{path}[{index}]")


def input_json(product: str, input: Mapping[str, Any]) -> str:
    """Serialise the policy input (Decimal -> plain decimal string).

    Both engines receive exactly this JSON text, so numbers are parsed the
    same way by rego-cpp and by OPA.
    """
    declared = input.get("product")
    if declared is not None and declared != product:
        raise PolicyEvaluationError(f"input.product is {declared!r} but product {product!r} was requested")
    _check_numbers(input, "input")
    try:
        return json.dumps(input, default=_json_default, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise PolicyEvaluationError(f"policy input is not JSON serialisable: {exc}") from exc


def check_decision(product: str, result: Any) -> dict[str, Any]:
    """Reject anything that is not a decision object (defence in depth)."""
    if not isinstance(result, dict):
        raise PolicyEvaluationError(f"{product}: policy returned no decision object (got {result!r})")
    if result.get("decision") not in DECISIONS:
        raise PolicyEvaluationError(f"{product}: invalid decision {result.get('decision')!r}")
    bp = result.get("rate_adjustment_bp")
    if not isinstance(bp, int) or isinstance(bp, bool):
        raise PolicyEvaluationError(f"{product}: rate_adjustment_bp must be an integer, got {bp!r}")
    effect = result.get("credit_line_effect")
    if not isinstance(effect, dict) or effect.get("kind") not in CREDIT_LINE_KINDS:
        raise PolicyEvaluationError(f"{product}: invalid credit_line_effect {effect!r}")
    return result


class ReadWriteLock:
    """Many concurrent readers or one writer; a waiting writer blocks new readers."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0

    @contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._writers_waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if self._readers == 0:
                    self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._writers_waiting += 1
            try:
                while self._writer or self._readers:
                    self._cond.wait()
            finally:
                self._writers_waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()
