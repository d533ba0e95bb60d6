"""The bank's portfolio page: login cookie, figures and charts of its own books only, links that work with the
login, and the page in real headless Chromium (axe-core clean, no sideways scroll at 390 px)."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from carbon_common.http import install_error_handlers
from carbon_common.server import Running, Service
from carbon_pricing.portfolio import rest
from carbon_pricing.portfolio.core import LoanBookCore
from carbon_pricing.portfolio.repricing import RepricingCore
from carbon_pricing.portfolio.rest import page
from carbon_pricing.settings import PricingSettings
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.accounting.test_report import visible_text
from tests.portfolio.world import E1, GOOD_CSV, HEADER, upload
from tests.support.axe import assert_accessible

NAME = "/v1/banks/b1/books/main/snapshots/2024-12-31"
EARLIER = "\n".join([HEADER, f"L1,{E1},loan,2000000.00,50000000.00,false,,,C3011,330000"]).encode()


def login(http: TestClient, key: str) -> None:
    response = http.post(
        "/bank/login",
        content=f"api_key={key}",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    cookie = response.headers["set-cookie"]
    assert "carbon_bank_key=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie


def test_login_then_figures_trend_and_working_links(http: TestClient, runs: RepricingCore) -> None:
    assert upload(http, EARLIER, snapshot="2023-12-31").status_code == 201
    assert upload(http, GOOD_CSV).status_code == 201
    run = runs.create_run(
        "ck_b1", "banks/b1", "banks/b1/books/main/snapshots/2024-12-31", "quzhou_tanrongyi", "3.45", 12
    )
    first = http.get("/bank/portfolio")
    assert first.status_code == 200 and 'name="api_key"' in first.text  # the login form
    wrong = http.post(
        "/bank/login", content="api_key=nope", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert wrong.status_code == 401 and "密钥无效" in wrong.text
    login(http, "ck_b1")
    shown = http.get("/bank/portfolio")
    assert shown.status_code == 200, shown.text
    text = visible_text(shown.text)
    # the latest snapshot (2024-12-31) for its year: 7,615 t over 3.5 MCNY (tests/portfolio/test_disclosure.py)
    assert "banks/b1" in text and "7,615.000000" in text and "2,175.714286" in text
    # trend: 2023-12-31 for 2023 is 1,800 t (E1's window is 2024 only: asset estimate), then 7,615 t
    trend = re.search(r'<svg id="chart-trend".*?</svg>', shown.text, re.S)
    assert trend and "2023-12-31" in trend.group(0) and "1,800.000" in trend.group(0) and "7,615.000" in trend.group(0)
    assert 'id="chart-intensity"' in shown.text and 'id="chart-quality"' in shown.text
    assert 'id="chart-grades-0"' in shown.text  # grade mix (E1's grade only: RATING consent)
    # the bank's re-pricing runs: state and progress, linked
    runs_part = shown.text.split('id="runs"', 1)[1]
    assert run.run_id in runs_part and "PENDING" in runs_part and "0 / 3" in runs_part
    links = re.findall(r'href="(/v1/[^"]+)"', shown.text)
    report = next(link for link in links if ":disclosureReport" in link and "pdf" not in link)
    annex = next(link for link in links if "format=xlsx" in link)
    # the links work with the login cookie alone (no Authorization header)
    assert http.get(report.replace("&amp;", "&")).status_code == 200
    assert http.get(annex.replace("&amp;", "&")).headers["content-type"].startswith("application/vnd.openxml")
    # an earlier snapshot and another year on request; English on request
    picked = http.get("/bank/portfolio", params={"snapshot": "2023-12-31", "period": "2023", "lang": "en"})
    assert picked.status_code == 200 and "1,800.000000" in visible_text(picked.text) and 'lang="en"' in picked.text
    # logging out forgets the key
    http.post("/bank/logout", follow_redirects=False)
    http.cookies.clear()
    assert 'name="api_key"' in http.get("/bank/portfolio").text


def test_the_page_and_cookie_stay_inside_the_bank(http: TestClient) -> None:
    assert upload(http, GOOD_CSV).status_code == 201
    login(http, "ck_b2")
    own = http.get("/bank/portfolio", params={"book": "main", "snapshot": "2024-12-31"})
    assert own.status_code == 200 and "banks/b2" in own.text and "7,615" not in own.text  # b2 has no books
    name = "/v1/banks/b1/books/main/snapshots/2024-12-31"
    for path in (f"{name}:disclosureReport?reportingPeriod=2024", f"{name}:exportPositions?reportingPeriod=2024", name):
        assert http.get(path).status_code == 403  # b2's cookie on b1's resources
    # writes never take the cookie: a logged-in browser cannot be made to create a snapshot
    http.cookies.clear()
    login(http, "ck_b1")
    write = http.post(
        "/v1/banks/b1/books/main/snapshots:upload",
        params={"snapshotId": "2025-01-31"},
        content=GOOD_CSV,
        headers={"Content-Type": "text/csv"},
    )
    assert write.status_code == 401


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def served(core: LoanBookCore, runs: RepricingCore, redis_url: str, tmp_path: Path) -> Iterator[str]:
    app = FastAPI()
    install_error_handlers(app, route_body_limits=rest.body_limits())
    rest.install(app, core)
    app.include_router(page.router(core, secure_cookies=False, runs=runs))
    for attempt in range(5):  # another process on the machine may take the free port first
        port = _free_port()
        settings = PricingSettings(redis_url=redis_url, grpc_port=0, http_port=port, data_dir=tmp_path, dev_mode=True)
        running = Running(Service("loan-pricing", settings, lambda server: [], http_app=app))
        try:
            running.start()
            break
        except RuntimeError:
            running.stop()
            if attempt == 4:
                raise
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        running.stop()


@pytest.mark.browser
def test_portfolio_page_in_chromium(
    browser, served: str, http: TestClient, runs: RepricingCore, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    assert upload(http, EARLIER, snapshot="2023-12-31").status_code == 201
    assert upload(http, GOOD_CSV).status_code == 201
    runs.create_run("ck_b1", "banks/b1", NAME[4:], "quzhou_tanrongyi", "3.45", 12)
    context = browser.new_context()
    tab = context.new_page()
    try:
        tab.goto(served + "/bank/portfolio")
        assert_accessible(tab, "bank login")
        tab.fill("#api_key", "ck_b1")
        tab.click("button[type=submit]")
        tab.wait_for_selector("#chart-trend")
        for lang in ("zh", "en"):
            tab.goto(served + f"/bank/portfolio?lang={lang}")
            assert_accessible(tab, f"bank portfolio {lang}")
            for width in (1280, 390):
                tab.set_viewport_size({"width": width, "height": 900})
                tab.screenshot(path=str(tmp_path / f"portfolio-{lang}-{width}.png"), full_page=True)
        tab.goto(served + "/bank/portfolio")
        tab.click("ul.links a >> nth=0")  # the disclosure report, with the login cookie
        tab.wait_for_selector("#versions")
        assert "7,615.000000" in tab.content()
        assert_accessible(tab, "disclosure report through the page")
    finally:
        context.close()
