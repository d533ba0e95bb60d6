"""One running, seeded platform for every authorisation test of this package."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.authz.world import World, start_world


@pytest.fixture(scope="package")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    running = start_world(Path(tmp_path_factory.mktemp("authz")))
    try:
        yield running
    finally:
        running.stack.stop()
