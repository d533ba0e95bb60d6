"""gRPC edge: carbon.v1.PricingService."""

from __future__ import annotations

from collections.abc import Callable

import grpc
from carbon.v1 import pricing_pb2, pricing_pb2_grpc
from carbon_common.identity import bearer_token, metadata_value

from carbon_pricing.core import PricingCore, QuoteInput

SERVICE_NAME = pricing_pb2.DESCRIPTOR.services_by_name["PricingService"].full_name


def _api_key(context: grpc.ServicerContext) -> str:
    return bearer_token(metadata_value(context.invocation_metadata(), "authorization"))


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
        return record.to_proto()

    def GetQuote(self, request: pricing_pb2.GetQuoteRequest, context: grpc.ServicerContext) -> pricing_pb2.Quote:
        return self.core.get_quote(_api_key(context), request.name).to_proto()

    def ListQuotes(
        self, request: pricing_pb2.ListQuotesRequest, context: grpc.ServicerContext
    ) -> pricing_pb2.ListQuotesResponse:
        records, token = self.core.list_quotes(_api_key(context), request.parent, request.page_size, request.page_token)
        return pricing_pb2.ListQuotesResponse(quotes=[r.to_proto() for r in records], next_page_token=token)


def register(core: PricingCore) -> Callable[[grpc.Server], list[str]]:
    def _register(server: grpc.Server) -> list[str]:
        pricing_pb2_grpc.add_PricingServiceServicer_to_server(PricingServicer(core), server)
        return [SERVICE_NAME]

    return _register
