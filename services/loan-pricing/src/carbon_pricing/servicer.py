"""gRPC edge: carbon.v1.PricingService."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from carbon.v1 import pricing_pb2, pricing_pb2_grpc
from carbon_common.identity import bearer_token, metadata_value
from google.protobuf import timestamp_pb2
from google.type import decimal_pb2

from carbon_pricing.core import PricingCore, QuoteInput

SERVICE_NAME = pricing_pb2.DESCRIPTOR.services_by_name["PricingService"].full_name


def _api_key(context: grpc.ServicerContext) -> str:
    return bearer_token(metadata_value(context.invocation_metadata(), "authorization"))


def quote_to_proto(record: dict[str, Any]) -> pricing_pb2.Quote:
    quote = pricing_pb2.Quote(
        name=record["name"],
        product=record["product"],
        enterprise=record["enterprise"],
        amount_cny=decimal_pb2.Decimal(value=record["amount_cny"]),
        tenor_months=record["tenor_months"],
        reference_rate_pct=decimal_pb2.Decimal(value=record["reference_rate_pct"]),
        decision=pricing_pb2.Quote.Decision.Value(f"DECISION_{record['decision']}"),
        rate_adjustment_bp=record["rate_adjustment_bp"],
        final_rate_pct=decimal_pb2.Decimal(value=record["final_rate_pct"]),
        credit_line_effect=record["credit_line_effect"],
        credit_line_change_cny=decimal_pb2.Decimal(value=record["credit_line_change_cny"]),
        tenor_effect_months=record["tenor_effect_months"],
        reasons=[pricing_pb2.Quote.Reason(code=r["code"], message=r["message"]) for r in record["reasons"]],
        grade=record["grade"],
        scheme_id=record["scheme_id"],
        scheme_version=record["scheme_version"],
        account_period=record["account_period"],
        factor_set_version=record["factor_set_version"],
        policy_bundle_version=record["policy_bundle_version"],
        request_id=record["request_id"],
        decision_log_hash=record.get("decision_log_hash", ""),
    )
    stamp = timestamp_pb2.Timestamp()
    stamp.FromJsonString(record["create_time"])
    quote.create_time.CopyFrom(stamp)
    return quote


class PricingServicer(pricing_pb2_grpc.PricingServiceServicer):
    def __init__(self, core: PricingCore) -> None:
        self.core = core

    def CreateQuote(self, request: pricing_pb2.CreateQuoteRequest, context: grpc.ServicerContext) -> pricing_pb2.Quote:
        q = request.quote
        record, _created = self.core.create_quote(
            _api_key(context),
            request.parent,
            request.request_id,
            QuoteInput(
                product=q.product,
                enterprise=q.enterprise,
                amount_cny=q.amount_cny.value,
                tenor_months=q.tenor_months,
                reference_rate_pct=q.reference_rate_pct.value,
            ),
            prefix="quote.",
        )
        return quote_to_proto(record)

    def GetQuote(self, request: pricing_pb2.GetQuoteRequest, context: grpc.ServicerContext) -> pricing_pb2.Quote:
        return quote_to_proto(self.core.get_quote(_api_key(context), request.name))

    def ListQuotes(
        self, request: pricing_pb2.ListQuotesRequest, context: grpc.ServicerContext
    ) -> pricing_pb2.ListQuotesResponse:
        records, token = self.core.list_quotes(_api_key(context), request.parent, request.page_size, request.page_token)
        return pricing_pb2.ListQuotesResponse(quotes=[quote_to_proto(r) for r in records], next_page_token=token)


def register(core: PricingCore) -> Callable[[grpc.Server], list[str]]:
    def _register(server: grpc.Server) -> list[str]:
        pricing_pb2_grpc.add_PricingServiceServicer_to_server(PricingServicer(core), server)
        return [SERVICE_NAME]

    return _register
