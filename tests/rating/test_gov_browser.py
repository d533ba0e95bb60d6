"""Headless Chromium on the government scheme editor: draft by form, live preview as a threshold moves,
validation beside the field, save, diff, reject and approve by a second user (four eyes), ratings move."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from carbon_devkit.processes import ServiceProcess, start_service
from carbon_rating.population import store_frame
from carbon_rating.synthetic import population

from tests.support.axe import assert_accessible

pytestmark = pytest.mark.browser
DRAFTER = "alice-browser-token-0123456789"
APPROVER = "bob-browser-token-0123456789ab"
SCHEME = "zhejiang-carbon-efficiency"
NEW_SCHEME = "huzhou-pilot"
THRESHOLD = "#f-grading-bands-2-value"  # the grade-3 band: K <= 1.2
SHOTS = Path(__file__).resolve().parents[2] / "screenshots"


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
    service = start_service("rating", env, tmp_path / "logs", wait=180)  # a loaded machine starts slowly
    yield service
    service.stop()


def _log_in(browser, base: str, token: str):  # type: ignore[no-untyped-def]
    page = browser.new_context().new_page()
    page.goto(base + "/")
    page.fill("#token", token)
    page.click("#login")
    return page


def _matrix(page) -> dict[tuple[str, str], int]:  # type: ignore[no-untyped-def]
    cells = page.eval_on_selector_all(
        "#transition-matrix td[data-from]",
        "cells => cells.map(c => [c.dataset.from, c.dataset.to, c.textContent.trim()])",
    )
    return {(a, b): int(n) for a, b, n in cells if n}


def _wait_fresh(page, after: int) -> None:  # type: ignore[no-untyped-def]
    """The live preview answered a request newer than `after` (the editor numbers its requests)."""
    page.wait_for_function(
        "n => { const p = document.getElementById('preview');"
        " return p.dataset.state !== 'pending' && Number(p.dataset.sequence || 0) > n; }",
        arg=after,
    )


def _sequence(page) -> int:  # type: ignore[no-untyped-def]
    return int(page.get_attribute("#preview", "data-sequence") or 0)


def _shoot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    """Screenshots at desktop and phone width when CARBON_SCREENSHOTS is set (for the notes)."""
    import os

    folder = os.environ.get("CARBON_SCREENSHOTS")
    if not folder:
        return
    original = page.viewport_size
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(Path(folder) / f"{name}-{width}.png"), full_page=True)
    if original:
        page.set_viewport_size(original)


def _new_scheme_by_form(alice, base: str) -> None:  # type: ignore[no-untyped-def]
    """A brand-new scheme through the same form: live errors beside the field from the API's JSON Schema,
    an id already taken refused, a row added, then created as draft v1 exactly as the API stores it."""
    alice.goto(base + "/new")
    assert alice.get_attribute("#tab-form", "aria-current") == "page"
    assert alice.get_attribute("#f-scheme_id", "readonly") is None  # a new scheme names itself
    assert alice.locator(THRESHOLD).count() == 1 and alice.locator("#distribution-chart").count() == 1
    # nothing of a new scheme is in force: grade counts under it, no transition matrix
    counts = alice.eval_on_selector_all("#grade-counts td[data-after]", "cs => cs.map(c => Number(c.textContent))")
    assert sum(counts) == int(alice.inner_text("#total-count")) == 2000
    assert alice.locator("#transition-matrix").count() == 0
    assert int(alice.inner_text("#moved-count")) == 2000 - counts[-1] > 0  # graded = all but the ungraded
    assert_accessible(alice, "gov new scheme (form)")
    _shoot(alice, "gov-new-form")

    seen = _sequence(alice)
    alice.fill("#f-scheme_id", SCHEME)  # taken: a new version of it is drafted from its own page
    _wait_fresh(alice, seen)
    assert "already exists" in alice.inner_text("#e-scheme_id")
    seen = _sequence(alice)
    alice.fill("#f-scheme_id", "Huzhou pilot!")  # the JSON Schema's id pattern, as the API enforces it
    _wait_fresh(alice, seen)
    assert "does not match" in alice.inner_text("#e-scheme_id")
    assert alice.get_attribute("#f-scheme_id", "aria-invalid") == "true"
    alice.fill("#f-scheme_id", NEW_SCHEME)
    alice.fill("#f-display_name-zh", "湖州试点碳效码")
    alice.fill("#f-display_name-en", "Huzhou pilot carbon efficiency")
    alice.fill(THRESHOLD, "1.1")
    # several fills may each get an answer on a loaded machine: wait for the one that saw the last fill
    alice.wait_for_selector("#distribution-chart line.threshold.after[data-value='1.1']", state="attached")
    _wait_fresh(alice, _sequence(alice) - 1)
    assert alice.inner_text("#e-scheme_id") == ""
    # grade colours are data: each grade's own colour, checked by the same JSON Schema
    fills = "rs => [...new Set(rs.map(r => r.getAttribute('fill')))]"
    assert alice.input_value("#f-grades-0-colour") == "#1b5e20"
    seen = _sequence(alice)
    alice.fill("#f-grades-0-colour", "green")
    _wait_fresh(alice, seen)
    assert "does not match" in alice.inner_text("#e-grades-0-colour")
    seen = _sequence(alice)
    alice.fill("#f-grades-0-colour", "#00695C")
    _wait_fresh(alice, seen)
    assert "#00695c" in alice.eval_on_selector_all("#distribution-chart rect.bin", fills)
    assert "#1b5e20" not in alice.eval_on_selector_all("#distribution-chart rect.bin", fills)

    # a structural edit (one more official benchmark row) keeps every unsaved field
    alice.click("button[value='add:benchmark.official']")
    assert "Not saved yet" in alice.inner_text("#notice")
    assert alice.input_value("#f-scheme_id") == NEW_SCHEME and alice.input_value(THRESHOLD) == "1.1"
    assert alice.locator("#f-benchmark-official-0-value").count() == 1
    # without the live script's help: saving with the new row's value empty answers 400, the error beside it
    alice.fill("#f-benchmark-official-0-period", "2024")
    alice.fill("#f-benchmark-official-0-source", "湖州市经信局 illustrative")
    alice.click("#save")
    assert "Validation failed" in alice.inner_text("#errors")
    assert alice.inner_text("#e-benchmark-official-0-value") != ""
    alice.fill("#f-benchmark-official-0-value", "0.9")
    assert_accessible(alice, "gov new scheme (errors)")
    alice.click("#save")
    assert re.search(rf"/schemes/{NEW_SCHEME}/versions/1$", alice.url), alice.url
    assert "draft" in alice.inner_text("#status")
    with httpx.Client(base_url=base, headers={"authorization": f"Bearer {DRAFTER}"}) as api:
        stored = api.get(f"/v1/schemes/{NEW_SCHEME}/versions/1").json()["document"]
    assert stored["display_name"]["zh"] == "湖州试点碳效码"
    assert stored["grading"]["bands"][2]["value"] == "1.1"
    assert stored["benchmark"]["official"][0]["value"] == "0.9"
    assert stored["grades"][0]["colour"] == "#00695C"
    alice.goto(base + "/new?view=yaml")  # the YAML stays as the advanced tab
    assert "scheme_id: my-new-scheme" in alice.input_value("#document")
    assert_accessible(alice, "gov new scheme (YAML)")
    alice.fill("#document", "scheme_id: yaml-only\n")  # the same checks on the advanced tab
    alice.click("#save")
    assert "Validation failed" in alice.inner_text("#errors") and "display_name" in alice.inner_text("#errors")
    assert alice.get_attribute("#tab-yaml", "aria-current") == "page"


def test_edit_by_form_live_preview_and_four_eyes_publish(rating_service: ServiceProcess, browser) -> None:  # type: ignore[no-untyped-def]
    base = rating_service.http_base
    alice = browser.new_context().new_page()
    alice.goto(base + "/")
    assert_accessible(alice, "gov login")
    alice.fill("#token", DRAFTER)
    alice.click("#login")
    assert alice.inner_text("#whoami") == "alice (drafter)"
    # dev mode (this fixture) serves plain http: the cookie is HttpOnly and Strict but not Secure
    # (production attributes: test_gov_access.py)
    (cookie,) = alice.context.cookies()
    assert (cookie["secure"], cookie["httpOnly"], cookie["sameSite"]) == (False, True, "Strict")
    assert_accessible(alice, "gov home")
    _new_scheme_by_form(alice, base)
    alice.goto(base + "/schemes/no-such-scheme")
    assert_accessible(alice, "gov error")
    alice.goto(base + "/")
    alice.click(f"a[data-scheme={SCHEME}]")
    assert alice.inner_text("#active-version") == "1"
    assert_accessible(alice, "gov scheme")
    alice.click("#new-draft")
    assert re.search(rf"/schemes/{SCHEME}/versions/2$", alice.url)

    # the form shows every part of the scheme, the threshold of grade 3 among them
    for selector in (
        "#f-display_name-zh",
        "#f-jurisdiction-region_prefixes",
        "#f-benchmark-min_sample",
        "#f-indicators-1-metric",
        "#f-grades-0-label-zh",
        "#f-grading-method",
        THRESHOLD,
    ):
        assert alice.locator(selector).count() == 1, selector
    assert alice.input_value(THRESHOLD) == "1.2"
    assert alice.inner_text("#moved-count") == "0"  # unchanged draft: nobody moves
    chart = "#distribution-chart"
    assert alice.get_attribute(chart, "data-indicator") == "K"
    assert alice.locator(f"{chart} line.threshold.after[data-value='1.2']").count() == 1
    assert "3级" in alice.inner_text("#transition-matrix")  # Chinese grade labels
    colours = alice.eval_on_selector_all(f"{chart} rect.bin", "rs => [...new Set(rs.map(r => r.getAttribute('fill')))]")
    assert "#1b5e20" in colours and "#c62828" in colours  # grade 1 dark green ... grade 5 red
    before_matrix = _matrix(alice)
    assert all(a == b for a, b in before_matrix)
    assert_accessible(alice, "gov editor (form)")
    _shoot(alice, "gov-editor-form")

    # live: a broken value is named beside its field, nothing is saved
    seen = _sequence(alice)
    alice.fill(THRESHOLD, "1.2x")
    _wait_fresh(alice, seen)
    assert "does not match" in alice.inner_text("#e-grading-bands-2-value")
    assert alice.get_attribute(THRESHOLD, "aria-invalid") == "true"

    # live: moving the threshold K <= 1.2 -> K <= 1.0 moves the line and the grade-3 enterprises to 4
    seen = _sequence(alice)
    alice.fill(THRESHOLD, "1.0")
    _wait_fresh(alice, seen)
    assert alice.inner_text("#e-grading-bands-2-value") == ""
    assert alice.locator(f"{chart} line.threshold.after[data-value='1.0']").count() == 1
    assert alice.locator(f"{chart} line.threshold.before[data-value='1.2']").count() == 1
    moved = int(alice.inner_text("#moved-count"))
    assert alice.inner_text("#moved-mirror") == str(moved)  # the phone's sticky summary line
    matrix = _matrix(alice)
    assert moved > 0 and matrix[("3", "4")] == moved
    assert {(a, b) for a, b in matrix if a != b} == {("3", "4")}
    assert_accessible(alice, "gov editor with live preview")
    _shoot(alice, "gov-editor-live")
    assert alice.locator("#approve").count() == 0  # a drafter cannot approve

    # save: stored as the same document the API sees
    alice.click("#save")
    assert "Saved" in alice.inner_text("#notice")
    assert alice.input_value(THRESHOLD) == "1.0" and alice.inner_text("#moved-count") == str(moved)
    with httpx.Client(base_url=base, headers={"authorization": f"Bearer {DRAFTER}"}) as api:
        stored = api.get(f"/v1/schemes/{SCHEME}/versions/2").json()
    assert stored["document"]["grading"]["bands"][2]["value"] == "1.0"

    # the YAML view stays, as the advanced tab
    alice.click("#tab-yaml")
    assert "value: '1.0'" in alice.input_value("#document")
    assert_accessible(alice, "gov editor (YAML)")

    # the diff against the version in force names the field
    alice.click("#diff-link")
    assert alice.locator("#diff tr[data-path='grading.bands[2].value']").count() == 1
    assert "1.2" in alice.inner_text("#diff") and "1.0" in alice.inner_text("#diff")
    assert_accessible(alice, "gov diff")
    _shoot(alice, "gov-diff")

    # a second draft that the approver rejects with a comment
    alice.goto(base + f"/schemes/{SCHEME}")
    alice.click("#new-draft")
    assert re.search(rf"/schemes/{SCHEME}/versions/3$", alice.url)

    bob = _log_in(browser, base, APPROVER)
    bob.goto(base + f"/schemes/{SCHEME}/versions/3")
    bob.fill("#reject-comment", "无变化 nothing changes")
    bob.click("#reject")
    assert "rejected" in bob.inner_text("#status")
    assert "nothing changes" in bob.inner_text("#review-comment")

    bob.goto(base + f"/schemes/{SCHEME}/versions/2")
    assert bob.inner_text("#moved-count") == str(moved)
    assert bob.locator("#scheme-form").count() == 0  # approvers do not edit
    assert_accessible(bob, "gov review")
    _shoot(bob, "gov-review")
    bob.fill("#approve-comment", "同意 agreed")
    bob.click("#approve")
    assert bob.inner_text("#active-version") == "2"
    assert "published" in bob.locator("td.status").all_inner_texts()

    # ratings move: the version in force now grades the population as the preview said
    alice.goto(base + f"/schemes/{SCHEME}")
    alice.click("#new-draft")
    assert alice.inner_text("#moved-count") == "0"  # v2 in force: an unchanged copy moves nobody
    assert _matrix(alice).get(("4", "4"), 0) == before_matrix.get(("4", "4"), 0) + moved

    bob.goto(base + "/audit")
    assert "intact" in bob.inner_text("#chain")
    assert_accessible(bob, "gov audit")
    content = bob.content()
    assert "approve_publish" in content and "reject" in content and "agreed" in content
