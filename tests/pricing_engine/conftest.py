"""Fixtures for the loan-pricing policy engine tests.

Real engines only: regopy in-process, and a real ``opa run --server`` process
started from ``tools/bin/opa`` (built by ``make tools``). A missing binary is a
test failure, never a skip.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from carbon_devkit.checkout import tool
from carbon_pricing.engine import EmbeddedEngine, OpaServerEngine, PolicyBundle

from tests.pricing_engine.support import BUNDLE_DIR, OpaServer


@pytest.fixture(scope="session")
def opa_binary() -> str:
    return tool("opa")


@pytest.fixture(scope="session")
def bundle() -> PolicyBundle:
    return PolicyBundle.from_directory(BUNDLE_DIR)


@pytest.fixture(scope="session")
def embedded(bundle: PolicyBundle) -> EmbeddedEngine:
    return EmbeddedEngine(bundle)


@pytest.fixture(scope="session")
def opa_server(opa_binary: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpaServer]:
    server = OpaServer(opa_binary, tmp_path_factory.mktemp("opa-logs"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def opa_engine(opa_server: OpaServer, bundle: PolicyBundle) -> Iterator[OpaServerEngine]:
    engine = OpaServerEngine(opa_server.url, bundle)
    yield engine
    engine.close()


@pytest.fixture
def fresh_opa_server(opa_binary: str, tmp_path: Path) -> Iterator[OpaServer]:
    """A private OPA server for tests that change the loaded policies."""
    server = OpaServer(opa_binary, tmp_path)
    yield server
    server.stop()


@pytest.fixture
def bundle_copy(tmp_path: Path) -> Path:
    """A writable copy of policies/products."""
    target = tmp_path / "products"
    shutil.copytree(BUNDLE_DIR, target)
    return target
