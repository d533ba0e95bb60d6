"""TaxIngestionService over gRPC."""

from __future__ import annotations

from typing import Any

import grpc
from carbon.v1 import ingest_tax_pb2 as pb
from carbon.v1 import ingest_tax_pb2_grpc as pb_grpc

from carbon_ingest_tax.ingest import TaxIngestor


class TaxIngestion(pb_grpc.TaxIngestionServiceServicer):
    def __init__(self, ingestor: TaxIngestor) -> None:
        self.ingestor = ingestor

    def IngestInvoices(self, request: pb.IngestInvoicesRequest, context: Any) -> pb.IngestInvoicesResponse:
        return self.ingestor.ingest(request.parent, request.request_id, request.invoices)

    def ListQuarantinedLines(
        self, request: pb.ListQuarantinedLinesRequest, context: Any
    ) -> pb.ListQuarantinedLinesResponse:
        return self.ingestor.list_quarantined(request.parent, request.page_size, request.page_token)


def register(server: grpc.Server, servicer: TaxIngestion) -> list[str]:
    pb_grpc.add_TaxIngestionServiceServicer_to_server(servicer, server)
    return [pb.DESCRIPTOR.services_by_name["TaxIngestionService"].full_name]
