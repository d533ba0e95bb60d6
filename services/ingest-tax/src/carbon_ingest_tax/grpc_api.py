"""gRPC edge: TaxIngestionService. Calls the core only."""

from __future__ import annotations

from collections.abc import Callable

import grpc
from carbon.v1 import ingest_tax_pb2 as pb
from carbon.v1 import ingest_tax_pb2_grpc as pb_grpc

from carbon_ingest_tax.core import TaxCore


class TaxServicer(pb_grpc.TaxIngestionServiceServicer):
    def __init__(self, core: TaxCore) -> None:
        self.core = core

    def IngestInvoices(
        self, request: pb.IngestInvoicesRequest, context: grpc.ServicerContext | None
    ) -> pb.IngestInvoicesResponse:
        return self.core.ingest(request.parent, request.request_id, request.invoices)

    def ListQuarantinedLines(
        self, request: pb.ListQuarantinedLinesRequest, context: grpc.ServicerContext | None
    ) -> pb.ListQuarantinedLinesResponse:
        return self.core.list_quarantined(request.parent, request.page_size, request.page_token)


def register(core: TaxCore) -> Callable[[grpc.Server], list[str]]:
    """The server registration of the edge over `core` (carbon_common.server.Service.register)."""

    def add(server: grpc.Server) -> list[str]:
        pb_grpc.add_TaxIngestionServiceServicer_to_server(TaxServicer(core), server)
        return [pb.DESCRIPTOR.services_by_name["TaxIngestionService"].full_name]

    return add
