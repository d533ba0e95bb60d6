"""Every service's /docs works offline: Swagger UI and its assets come from the service itself (no CDN)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from carbon_devkit.stack import ORDER, start_platform
from carbon_devkit.stack import Stack as Platform

from tests.support.axe import audit

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    running = start_platform(tmp_path_factory.mktemp("docs"), {"CARBON_LOG_LEVEL": "WARNING"}, wait=120)
    yield running
    running.stop()


def _only_from(origin: str, requested: list[str], outside: list[str]):  # type: ignore[no-untyped-def]
    """A route handler: requests to `origin` (and data:/blob:) go through, any other is recorded and aborted."""

    def handle(route) -> None:  # type: ignore[no-untyped-def]
        url = route.request.url
        requested.append(url)
        if urlsplit(url).scheme in ("data", "blob") or urlsplit(url).netloc == origin:
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    return handle


def test_docs_load_from_the_service_itself(platform: Platform, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    # Any request leaving the service's own origin fails the page (and is recorded).
    outside: list[str] = []
    try:
        for name in ORDER:
            base = platform.http(name)
            origin = urlsplit(base).netloc
            page = context.new_page()
            requested: list[str] = []

            page.route("**/*", _only_from(origin, requested, outside))
            page.goto(base + "/docs")
            title = page.locator(".swagger-ui .info .title")
            title.wait_for(timeout=30_000)  # Swagger UI ran and rendered the service's OpenAPI document
            assert title.inner_text().strip(), name
            assert page.locator(".opblock").count() > 0, f"{name}: no operations rendered"
            scripts = [u for u in requested if u.endswith(".js")]
            assert scripts and all(u.startswith(base + "/docs/assets/") for u in scripts), (name, scripts)
            assert any(u == base + "/openapi.json" for u in requested), (name, requested)
            page.screenshot(path=str(tmp_path / f"docs-{name}.png"))
            found = audit(page, f"docs {name}", 1280)
            # Swagger UI nests a button in a button in every operation summary: upstream markup, not ours.
            assert [b for b in found.blocking if not b.startswith("nested-interactive ")] == [], (name, found)
            page.close()
    finally:
        context.close()
    assert outside == []
