"""Pricing records (pure): what a product's policy is asked and answers, and what the service keeps of it.

The policy input and the recorded output are JSON documents with a fixed shape (the Rego contract of
policies/products/pricing_lib/lib.rego); these models are that shape, so the core, the store and the
policy lifecycle's dry-run share one definition instead of building and reading dicts by key.
`to_json()` is the exact document the policy receives / Redis keeps (None kept as null).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter

from carbon_pricing.quote import SimulatedQuote

FROZEN = ConfigDict(frozen=True, extra="forbid")


class RequestTerms(BaseModel):
    """input.request: the terms the bank asks for (decimal strings, as the policies compare them)."""

    model_config = FROZEN

    amount_cny: str
    tenor_months: int
    reference_rate_pct: str


class RatingInput(BaseModel):
    """input.rating: the enterprise's rating under the product's scheme."""

    model_config = FROZEN

    scheme_id: str
    scheme_version: str
    grade: str
    score: int | float | None  # a JSON number: the policies compare numbers
    age_days: int | None
    period: str


class AccountInput(BaseModel):
    """input.account: the carbon account the rating was computed from."""

    model_config = FROZEN

    period: str
    quality_score: int | float | None
    reduction_tco2: str | None


class PolicyInput(BaseModel):
    """The document a product's policy evaluates (`input` in Rego)."""

    model_config = FROZEN

    product: str
    request: RequestTerms
    rating: RatingInput | None
    account: AccountInput | None

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class CreditLineOutput(BaseModel):
    """decision.credit_line_effect of a policy; a draft policy may add keys, which are kept (and compared)."""

    # A number for amount_cny is read as its text, as the service always did (str(...)).
    model_config = ConfigDict(frozen=True, extra="allow", coerce_numbers_to_str=True)

    kind: str
    amount_cny: str | None = None


class RecordedOutput(BaseModel):
    """The part of a policy's decision a dry-run compares a draft bundle with."""

    model_config = FROZEN

    decision: str
    rate_adjustment_bp: int
    credit_line_effect: CreditLineOutput
    tenor_effect_months: int


class RecentInput(BaseModel):
    """One quote's policy input and decision as kept for dry-runs (store: carbon:pricing:inputs)."""

    model_config = FROZEN

    quote: str
    product: str
    input: PolicyInput
    output: RecordedOutput
    bundle_version: str


class RatingRef(BaseModel):
    model_config = FROZEN

    name: str
    input_digest: str
    rate_time: str | None


class AccountRef(BaseModel):
    model_config = FROZEN

    name: str
    input_digest: str


class LoggedInputs(BaseModel):
    model_config = FROZEN

    policy_input: PolicyInput
    rating: RatingRef | None
    account: AccountRef | None


class LoggedOutputs(BaseModel):
    model_config = FROZEN

    policy_output: dict[str, Any]  # the policy's decision object as it answered (open JSON)
    final_rate_pct: str
    policy_bundle_version: str
    quote: dict[str, Any]  # the stored record as hashed: Quote.unchained() (a simulation's with its run)


class DecisionEntry(BaseModel):
    """The body of a quote's (QUOTE) or a simulated position's (SIMULATION) decision-log entry:
    full inputs and outputs, so a decision can be explained and replayed (carbon_pricing.decision_log)."""

    model_config = FROZEN

    quote: str
    bank: str
    request_id: str
    consent: str
    consent_position: str
    rating_position: str
    access_decision: str
    inputs: LoggedInputs
    outputs: LoggedOutputs

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class NotPriced(BaseModel):
    """A position of a re-pricing run that could not be quoted, and why (e.g. CONSENT_REQUIRED)."""

    model_config = FROZEN

    position_id: str
    not_priced: str


# One position's result in a re-pricing run (carbon_pricing.portfolio.repricing).
PositionResult = SimulatedQuote | NotPriced
POSITION_RESULT: TypeAdapter[PositionResult] = TypeAdapter(PositionResult)
