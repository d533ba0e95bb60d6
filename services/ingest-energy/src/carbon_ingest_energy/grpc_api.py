"""gRPC edge: EnergyIngestionService. Parses names and messages, calls the core."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import grpc
from carbon.v1 import ingest_energy_pb2 as pb
from carbon.v1 import ingest_energy_pb2_grpc as pb_grpc
from carbon_common.errors import invalid_argument
from carbon_common.names import parse_child, parse_enterprise, parse_period, validate_id

from carbon_ingest_energy import convert
from carbon_ingest_energy.core import EnergyCore


class EnergyServicer(pb_grpc.EnergyIngestionServiceServicer):
    def __init__(self, core: EnergyCore) -> None:
        self.core = core

    def CreateMeter(self, request: pb.CreateMeterRequest, context: grpc.ServicerContext | None) -> pb.Meter:
        uscc = parse_enterprise(request.parent, "parent")
        meter_id = validate_id(request.meter_id, "meter_id")
        if not request.HasField("meter"):
            raise invalid_argument("meter", "is required")
        return self.core.create_meter(uscc, meter_id, convert.validate_meter(request.meter))

    def GetMeter(self, request: pb.GetMeterRequest, context: grpc.ServicerContext | None) -> pb.Meter:
        uscc, meter_id = parse_child(request.name, "meters", "name")
        return self.core.meter(uscc, meter_id)[0]

    def ListMeters(self, request: pb.ListMetersRequest, context: grpc.ServicerContext | None) -> pb.ListMetersResponse:
        uscc = parse_enterprise(request.parent, "parent")
        return self.core.list_meters(uscc, request.page_size, request.page_token)

    def StreamReadings(
        self, request_iterator: Iterable[pb.ReadingBatch], context: grpc.ServicerContext | None
    ) -> pb.StreamReadingsResponse:
        return self.core.ingest(request_iterator)

    def GetCoverage(self, request: pb.GetCoverageRequest, context: grpc.ServicerContext | None) -> pb.Coverage:
        uscc = parse_enterprise(request.enterprise, "enterprise")
        period = parse_period(request.period, "period")
        return self.core.coverage(request.enterprise, uscc, period)


def register(core: EnergyCore) -> Callable[[grpc.Server], list[str]]:
    """The server registration of the edge over `core` (carbon_common.server.Service.register)."""

    def add(server: grpc.Server) -> list[str]:
        pb_grpc.add_EnergyIngestionServiceServicer_to_server(EnergyServicer(core), server)
        return [pb.DESCRIPTOR.services_by_name["EnergyIngestionService"].full_name]

    return add
