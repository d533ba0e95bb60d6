"""gRPC edge: AccountingService. Calls the core only."""

from __future__ import annotations

from collections.abc import Callable

import grpc
from carbon.v1 import accounting_pb2 as pb
from carbon.v1 import accounting_pb2_grpc as pb_grpc

from carbon_accounting.core import AccountingCore


class AccountingServicer(pb_grpc.AccountingServiceServicer):
    def __init__(self, core: AccountingCore) -> None:
        self.core = core

    def GetAccount(self, request: pb.GetAccountRequest, context: grpc.ServicerContext) -> pb.Account:
        return self.core.get_account(self.core.reader(context), request.name)

    def ListAccounts(self, request: pb.ListAccountsRequest, context: grpc.ServicerContext) -> pb.ListAccountsResponse:
        reader = self.core.reader(context)
        return self.core.list_accounts(reader, request.parent, request.page_size, request.page_token)

    def ComputeAccount(self, request: pb.ComputeAccountRequest, context: grpc.ServicerContext) -> pb.Account:
        return self.core.compute_account(context, request.name)


def register(core: AccountingCore) -> Callable[[grpc.Server], list[str]]:
    """The server registration of the edge over `core` (carbon_common.server.Service.register)."""

    def add(server: grpc.Server) -> list[str]:
        pb_grpc.add_AccountingServiceServicer_to_server(AccountingServicer(core), server)
        return [pb.DESCRIPTOR.services_by_name["AccountingService"].full_name]

    return add
