"""Exceptions raised by the policy engines.

Mapping hint for the service layer (not done here):

- ``UnknownProduct``           -> NOT_FOUND / INVALID_ARGUMENT (the caller asked
                                  for a product the loaded bundle does not have)
- ``PolicyEngineUnavailable``  -> UNAVAILABLE (OPA server unreachable)
- ``PolicyEvaluationError``    -> INTERNAL (policy produced no/invalid decision)
- ``BundleLoadError``          -> raised by ``load_bundle``/``PolicyBundle``;
                                  the previously loaded bundle stays active.
"""

from __future__ import annotations


class PolicyEngineError(Exception):
    """Base class of every error raised by ``carbon_pricing.engine``."""


class UnknownProduct(PolicyEngineError, LookupError):
    """The product id is not part of the currently loaded bundle."""

    def __init__(self, product: str, known: tuple[str, ...] = ()) -> None:
        self.product = product
        self.known = known
        hint = f"; known products: {', '.join(known)}" if known else ""
        super().__init__(f"unknown loan product {product!r}{hint}")


class PolicyEvaluationError(PolicyEngineError):
    """The engine failed to produce a valid decision for a known product."""


class PolicyEngineUnavailable(PolicyEvaluationError):
    """The remote engine (OPA server) could not be reached."""


class BundleLoadError(PolicyEngineError):
    """A policy bundle is malformed or could not be activated."""
