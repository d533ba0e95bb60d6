"""The quote: one typed record for the core, the store's JSON, the REST body and carbon.v1.Quote.

The stored JSON (and the decision-log entry that hashes it) is `Quote.model_dump(mode="json")`;
closed sets are enums whose values are the proto enum names without their prefix.
tests/foundation/test_rest_proto_contract.py compares the fields with the proto message.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from carbon.v1 import pricing_pb2
from google.protobuf import timestamp_pb2
from google.type import decimal_pb2
from pydantic import BaseModel, ConfigDict, Field


class Decision(StrEnum):
    APPROVE = "APPROVE"
    REFER = "REFER"
    DECLINE_NEW_CREDIT = "DECLINE_NEW_CREDIT"


class CreditLineEffect(StrEnum):
    NONE = "NONE"
    FREEZE = "FREEZE"
    INCREASE = "INCREASE"
    NO_NEW_CREDIT = "NO_NEW_CREDIT"


class Reason(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str
    message: str


# Fields set when the quote's decision-log entry is appended (store.commit), after its hash.
CHAIN_FIELDS = frozenset({"decision_log_hash", "decision_log_seq"})


class Quote(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="banks/{bank}/quotes/{quote}")
    product: str
    enterprise: str
    amount_cny: str
    tenor_months: int
    reference_rate_pct: str
    decision: Decision
    rate_adjustment_bp: int = Field(description="Basis points added to the reference rate (negative = discount)")
    final_rate_pct: str = Field(description="reference_rate_pct + rate_adjustment_bp / 100, exact decimal")
    credit_line_effect: CreditLineEffect
    credit_line_change_cny: str
    tenor_effect_months: int
    reasons: list[Reason]
    grade: str = Field(description="Grade used; empty when the enterprise has no rating")
    scheme_id: str
    scheme_version: str
    account_period: str
    factor_set_version: str
    policy_bundle_version: str
    create_time: str
    request_id: str
    decision_log_hash: str = Field(
        default="", description="Hash of this quote's entry in the hash-chained decision log"
    )
    # Defaults only so that quotes stored before these fields existed still read.
    product_version: str = Field(default="", description="Version of the bank product's policy that priced the quote")
    rating_age_days: int | None = Field(
        default=None, description="Days between the rating and the quote (a policy input); null without a dated rating"
    )
    decision_log_seq: int = Field(default=0, description="Position of that entry in the decision log")

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def unchained(self) -> dict[str, Any]:
        """The JSON the decision-log entry hashes (before the chain fields exist)."""
        return self.model_dump(mode="json", exclude=set(CHAIN_FIELDS))

    def to_proto(self) -> pricing_pb2.Quote:
        quote = pricing_pb2.Quote(
            name=self.name,
            product=self.product,
            enterprise=self.enterprise,
            amount_cny=decimal_pb2.Decimal(value=self.amount_cny),
            tenor_months=self.tenor_months,
            reference_rate_pct=decimal_pb2.Decimal(value=self.reference_rate_pct),
            decision=pricing_pb2.Quote.Decision.Value(f"DECISION_{self.decision.value}"),
            rate_adjustment_bp=self.rate_adjustment_bp,
            final_rate_pct=decimal_pb2.Decimal(value=self.final_rate_pct),
            credit_line_effect=pricing_pb2.Quote.CreditLineEffect.Value(
                f"CREDIT_LINE_EFFECT_{self.credit_line_effect.value}"
            ),
            credit_line_change_cny=decimal_pb2.Decimal(value=self.credit_line_change_cny),
            tenor_effect_months=self.tenor_effect_months,
            reasons=[pricing_pb2.Quote.Reason(code=r.code, message=r.message) for r in self.reasons],
            grade=self.grade,
            scheme_id=self.scheme_id,
            scheme_version=self.scheme_version,
            account_period=self.account_period,
            factor_set_version=self.factor_set_version,
            policy_bundle_version=self.policy_bundle_version,
            request_id=self.request_id,
            decision_log_hash=self.decision_log_hash,
            product_version=self.product_version,
            decision_log_seq=self.decision_log_seq,
        )
        if self.rating_age_days is not None:
            quote.rating_age_days = self.rating_age_days
        stamp = timestamp_pb2.Timestamp()
        stamp.FromJsonString(self.create_time)
        quote.create_time.CopyFrom(stamp)
        return quote


class SimulatedQuote(Quote):
    """A position of a book re-pricing run priced as a quote would be (carbon_pricing.portfolio.repricing):
    stored in the run's results, logged as a SIMULATION decision-log entry; never a quote of the bank.
    `name` is {run}/positions/{position_id}."""

    simulation: Literal[True] = True
    run: str = Field(description="banks/{bank}/repricingRuns/{run}")
    position_id: str
