"""A real in-process gRPC AccountingService serving canned accounts (the peer is written concurrently)."""

from __future__ import annotations

from concurrent import futures
from decimal import Decimal

import grpc
from carbon.v1 import accounting_pb2, accounting_pb2_grpc, common_pb2
from carbon_common.errors import ErrorInterceptor, not_found
from carbon_common.names import uscc_check_char
from google.type import decimal_pb2


def make_uscc(n: int) -> str:
    first = f"91330500MA{n:07d}"
    return first + uscc_check_char(first)


def dec(value: str | Decimal) -> decimal_pb2.Decimal:
    return decimal_pb2.Decimal(value=format(Decimal(value), "f"))


def account(
    uscc: str,
    period: str,
    tco2: str,
    value_added: str | None,
    *,
    industry: str = "C2611",
    quality: str = "0.9",
    green_share: str = "0.1",
    revenue: str = "1000000",
) -> accounting_pb2.Account:
    msg = accounting_pb2.Account(
        name=f"enterprises/{uscc}/accounts/{period}",
        period=period,
        industry_code=industry,
        province_code="330000",
        region_code="330502",
        factor_set_version="cn-2024.1",
        input_digest=f"digest-{uscc}-{period}",
        total_tco2=dec(tco2),
        energy_tce=dec(Decimal(tco2) * Decimal("0.4")),
        revenue_cny=dec(revenue),
    )
    if value_added is not None:
        msg.value_added_cny.CopyFrom(dec(value_added))
        msg.intensity_value_added.CopyFrom(
            dec((Decimal(tco2) / (Decimal(value_added) / 10000)).quantize(Decimal("0.000001")))
        )
    msg.quality.score.CopyFrom(dec(quality))
    msg.energy_structure.add(energy_type=common_pb2.ENERGY_TYPE_GREEN_ELECTRICITY, share=dec(green_share))
    return msg


class AccountingStub(accounting_pb2_grpc.AccountingServiceServicer):
    def __init__(self) -> None:
        self.accounts: dict[str, accounting_pb2.Account] = {}

    def add(self, *accounts: accounting_pb2.Account) -> None:
        for a in accounts:
            self.accounts[a.name] = a

    def GetAccount(self, request, context):
        if request.name not in self.accounts:
            raise not_found(request.name)
        return self.accounts[request.name]

    def ListAccounts(self, request, context):
        prefix = request.parent + "/accounts/"
        items = sorted((a for n, a in self.accounts.items() if n.startswith(prefix)), key=lambda a: a.period)
        start = int(request.page_token or 0)
        size = request.page_size or 100
        page = items[start : start + size]
        token = str(start + size) if start + size < len(items) else ""
        return accounting_pb2.ListAccountsResponse(accounts=page, next_page_token=token)


def serve(stub: AccountingStub) -> tuple[grpc.Server, int]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), interceptors=[ErrorInterceptor()])
    accounting_pb2_grpc.add_AccountingServiceServicer_to_server(stub, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port
