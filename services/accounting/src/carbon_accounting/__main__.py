"""`python -m carbon_accounting`: gRPC, HTTP (ports: carbon_common.catalog), activity-event consumer,
erasure consumer."""

from __future__ import annotations

import threading
from collections.abc import Iterable

import grpc
from carbon.v1 import accounting_pb2, accounting_pb2_grpc
from carbon_common import redis_conn, server
from carbon_common.channels import service_channel
from carbon_common.ratelimit import RateLimiter, RateLimitInterceptor
from carbon_ingest import rawdata
from carbon_ingest.common import erasure_worker

from carbon_accounting.http import create_app
from carbon_accounting.service import Access, Accountant, AccountingServicer, Leases, consume_events
from carbon_accounting.settings import AccountingSettings
from carbon_accounting.store import AccountStore


def build() -> server.Service:
    settings = AccountingSettings()
    rawdata.check_root(settings.data_dir)  # a local directory or s3://bucket/prefix, else fail now
    secret = settings.effective_service_secret()
    client = redis_conn.connect(settings.redis_url)
    consent = service_channel(settings.consent_target, settings.service_name, secret)
    rating = service_channel(settings.rating_target, settings.service_name, secret)
    accountant = Accountant(settings, AccountStore(client), consent)
    # ComputeAccount and erasures take the enterprise's lease as the consumers do (own holder name)
    leases = Leases(client, f"{settings.consumer_name}/rpc", settings.lease_ms)
    access = Access(settings, consent, client)
    # Banks call GetAccount and the report directly: per API key and per address.
    limiter = RateLimiter.from_settings(client, settings)

    def register(grpc_server: grpc.Server) -> Iterable[str]:
        servicer = AccountingServicer(accountant, access, leases)
        accounting_pb2_grpc.add_AccountingServiceServicer_to_server(servicer, grpc_server)
        return [accounting_pb2.DESCRIPTOR.services_by_name["AccountingService"].full_name]

    def events(stopping: threading.Event) -> None:
        consume_events(accountant, redis_conn.connect(settings.redis_url), stopping)

    return server.Service(
        name="accounting",
        settings=settings,
        register=register,
        http_app=create_app(accountant, access, rating, limiter, consent),
        interceptors=[RateLimitInterceptor(limiter, {"carbon.v1.AccountingService"})],
        workers=[
            events,
            erasure_worker(
                lambda: redis_conn.connect(settings.redis_url),
                settings.service_name,
                lambda uscc: accountant.erase(uscc, leases),
            ),
        ],
        on_stop=[consent.close, rating.close],
    )


def main() -> None:
    server.run(build())


if __name__ == "__main__":
    main()
