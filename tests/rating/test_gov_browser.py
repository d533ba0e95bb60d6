"""Headless Chromium on the government page: edit a threshold, preview the moved count, approve as a second user."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from carbon_rating.population import store_frame
from carbon_rating.synthetic import population

from tests.support.processes import ServiceProcess, start_service

pytestmark = pytest.mark.browser
DRAFTER = "alice-browser-token-0123456789"
APPROVER = "bob-browser-token-0123456789ab"


@pytest.fixture
def rating_service(redis_url: str, tmp_path: Path) -> Iterator[ServiceProcess]:
    store_frame(redis.Redis.from_url(redis_url), population(2000, seed=21))
    env = {
        "CARBON_REDIS_URL": redis_url,
        "CARBON_GOV_TOKENS": f"alice:drafter:{DRAFTER},bob:approver:{APPROVER}",
        "CARBON_DATA_DIR": str(tmp_path / "data"),
        "CARBON_ACCOUNTING_TARGET": "127.0.0.1:1",
        "CARBON_CONSENT_TARGET": "127.0.0.1:1",
    }
    service = start_service("rating", env, tmp_path / "logs")
    yield service
    service.stop()


def test_edit_preview_and_four_eyes_publish(rating_service: ServiceProcess, browser) -> None:
    base = rating_service.http_base
    alice = browser.new_context().new_page()
    alice.goto(base + "/")
    alice.fill("#token", DRAFTER)
    alice.click("#login")
    assert alice.inner_text("#whoami") == "alice (drafter)"
    # dev mode (this fixture) serves plain http: the cookie is HttpOnly and Strict but not Secure
    # (production attributes: test_gov_access.py)
    (cookie,) = alice.context.cookies()
    assert (cookie["secure"], cookie["httpOnly"], cookie["sameSite"]) == (False, True, "Strict")
    alice.click("a[data-scheme=zhejiang-carbon-efficiency]")
    assert alice.inner_text("#active-version") == "1"
    alice.click("#new-draft")
    assert re.search(r"/schemes/zhejiang-carbon-efficiency/versions/2$", alice.url)
    # unchanged draft: nobody moves
    assert alice.inner_text("#moved-count") == "0"

    # a broken edit is refused with the field named
    text = alice.input_value("#document")
    assert text.count("value: '1.2'") == 1  # the grade-3 band K <= 1.2
    alice.fill("#document", text.replace("value: '1.2'", "value: '1.2x'"))
    alice.click("#save")
    assert "grading.bands[2].value" in alice.inner_text("#errors")

    # edit the grade-3 threshold K <= 1.2 -> K <= 1.0
    alice.fill("#document", text.replace("value: '1.2'", "value: '1.0'"))
    alice.click("#save")
    assert "Saved" in alice.inner_text("#notice")
    moved = int(alice.inner_text("#moved-count"))
    assert moved > 0
    assert alice.locator("#preview-chart rect").count() >= 10
    after_4 = int(alice.get_attribute("#preview-chart rect.bar-after[data-grade='4']", "data-count") or 0)
    before_4 = int(alice.get_attribute("#preview-chart rect.bar-before[data-grade='4']", "data-count") or 0)
    assert after_4 - before_4 == moved  # all movers go from 3 to 4
    assert alice.locator("#approve").count() == 0  # a drafter cannot approve

    bob = browser.new_context().new_page()
    bob.goto(base + "/")
    bob.fill("#token", APPROVER)
    bob.click("#login")
    bob.goto(base + "/schemes/zhejiang-carbon-efficiency/versions/2")
    assert bob.inner_text("#moved-count") == str(moved)
    assert bob.locator("#document").count() == 0  # approvers do not edit
    bob.click("#approve")
    assert bob.inner_text("#active-version") == "2"
    assert "published" in bob.locator("td.status").all_inner_texts()

    bob.goto(base + "/audit")
    assert "intact" in bob.inner_text("#chain")
    assert "approve_publish" in bob.content()
