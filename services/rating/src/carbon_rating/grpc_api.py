"""gRPC edge: RatingService. Identifies the caller (a platform service, or a bank by its API key)
and calls the core only."""

from __future__ import annotations

from collections.abc import Callable

import grpc
from carbon.v1 import rating_pb2 as pb
from carbon.v1 import rating_pb2_grpc as pb_grpc
from carbon_common.bank_auth import BankAuthenticator
from carbon_common.errors import unauthenticated
from carbon_common.identity import Reader, ServiceVerifier, bearer_token, metadata_value, service_caller

from carbon_rating.core import RatingCore


class RatingServicer(pb_grpc.RatingServiceServicer):
    def __init__(self, core: RatingCore, services: ServiceVerifier, banks: BankAuthenticator | None = None) -> None:
        self.core = core
        self.services = services
        self.banks = banks

    def _reader(self, context: grpc.ServicerContext) -> Reader:
        """Platform services pass (they do their own bank check); banks need a RATING consent
        covering the rated period (checked by the core once it is known). Called before any field
        is read (no field rules for anonymous callers)."""
        caller = service_caller(context, self.services)
        if caller is not None:
            return Reader(caller.principal, False)
        key = bearer_token(metadata_value(context.invocation_metadata(), "authorization"))
        if not key or self.banks is None or self.core.gate is None:
            raise unauthenticated(
                "UNAUTHENTICATED_BANK", "present a bank API key (authorization: Bearer ck_...) or a service identity"
            )
        return Reader(self.banks.principal(key), True)

    def GetRating(self, request: pb.GetRatingRequest, context: grpc.ServicerContext) -> pb.Rating:
        return self.core.get_rating(self._reader(context), request.name, request.period)

    def ListSchemes(self, request: pb.ListSchemesRequest, context: grpc.ServicerContext) -> pb.ListSchemesResponse:
        return self.core.list_schemes(request.page_size, request.page_token)


def register(servicer: RatingServicer) -> Callable[[grpc.Server], list[str]]:
    """The server registration of the edge (carbon_common.server.Service.register)."""

    def add(server: grpc.Server) -> list[str]:
        pb_grpc.add_RatingServiceServicer_to_server(servicer, server)
        return [pb.DESCRIPTOR.services_by_name["RatingService"].full_name]

    return add
