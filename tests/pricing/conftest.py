from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from carbon_pricing.app import create_http_app
from carbon_pricing.core import PricingCore
from carbon_pricing.lifecycle import PolicyManager
from carbon_pricing.settings import PricingSettings
from carbon_pricing.store import QuoteStore
from fastapi.testclient import TestClient

from tests.pricing.support import NOW, World, copy_bundle

ADMIN = "admin-token-for-tests"


@pytest.fixture
def settings(redis_url: str, tmp_path: Path) -> PricingSettings:
    bundle = copy_bundle(tmp_path / "bundle")
    return PricingSettings(
        redis_url=redis_url,
        data_dir=tmp_path / "data",
        bundle_dir=bundle,
        bundle_poll_seconds=0,
        pricing_admin_token=ADMIN,
        dev_mode=True,
    )


@pytest.fixture
def world() -> World:
    w = World(keys={"ck_qujiang": "qujiang-rcb", "ck_other": "other-bank"})
    return w


@pytest.fixture
def core(settings: PricingSettings, world: World) -> Iterator[PricingCore]:
    client = redis.Redis.from_url(settings.redis_url)
    policies = PolicyManager(settings, client)
    yield PricingCore(QuoteStore(client, 1000), policies, world, world, world, world, clock=lambda: NOW)
    policies.engine.close()


@pytest.fixture
def api(core: PricingCore, settings: PricingSettings) -> Iterator[TestClient]:
    with TestClient(create_http_app(core, settings)) as client:
        yield client
