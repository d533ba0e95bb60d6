"""Fixtures of the loan-book API tests (tests/portfolio/world.py): real Redis, REST app, gRPC server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import redis
from carbon.v1 import portfolio_pb2_grpc
from carbon_common.http import install_error_handlers
from carbon_common.server import Running, Service
from carbon_pricing.portfolio import grpc_api, rest
from carbon_pricing.portfolio.core import LoanBookCore
from carbon_pricing.portfolio.grades import ConsentedGrades
from carbon_pricing.portfolio.repricing import RepricingCore
from carbon_pricing.portfolio.rest import page
from carbon_pricing.portfolio.store import BookStore, RunStore
from carbon_pricing.settings import PricingSettings
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.portfolio.world import BENCH, SCHEME, Directory, _Accounts


@pytest.fixture
def directory() -> Directory:
    return Directory()


@pytest.fixture
def core(redis_url: str, directory: Directory) -> LoanBookCore:
    client = redis.Redis.from_url(redis_url)
    grades = ConsentedGrades([SCHEME], directory.rating, directory.rating_allowed)
    return LoanBookCore(BookStore(client), directory, directory, _Accounts(directory), benchmarks=BENCH, grades=grades)


@pytest.fixture
def runs(core: LoanBookCore) -> RepricingCore:
    """Runs listed and created only (executing them needs the pricing core: test_repricing.py)."""
    return RepricingCore(core, RunStore(core.store.redis), None, lambda: ["quzhou_tanrongyi"])  # type: ignore[arg-type]


@pytest.fixture
def http(core: LoanBookCore, runs: RepricingCore) -> TestClient:
    app = FastAPI()
    install_error_handlers(app, route_body_limits=rest.body_limits())
    rest.install(app, core)
    app.include_router(page.router(core, secure_cookies=False, runs=runs))
    return TestClient(app)


@pytest.fixture
def stub(core: LoanBookCore, redis_url: str, tmp_path: Path) -> Iterator[portfolio_pb2_grpc.LoanBookServiceStub]:
    settings = PricingSettings(redis_url=redis_url, grpc_port=0, http_port=0, data_dir=tmp_path, dev_mode=True)
    running = Running(Service("loan-pricing", settings, lambda server: grpc_api.register(core, server)))
    running.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{running.grpc_port}")
    try:
        yield portfolio_pb2_grpc.LoanBookServiceStub(channel)
    finally:
        channel.close()
        running.stop()
