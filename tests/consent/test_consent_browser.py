"""The one-click pages in real headless Chromium (Debian's /usr/bin/chromium)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from carbon.v1 import consent_pb2

from tests.consent.helpers import ADMIN_TOKEN, Edge, seed, service_md

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
AUTHORISE_GREEN = (0x17, 0x80, 0x3D)


def _request(http: httpx.Client, uscc: str, key: str, scopes: list[str]) -> dict[str, str]:
    now = datetime.now(UTC)
    body = {
        "scopes": scopes,
        "purpose": "CREDIT_ASSESSMENT",
        "dataWindow": {
            "startTime": (now - timedelta(days=730)).isoformat(),
            "endTime": (now + timedelta(days=90)).isoformat(),
        },
        "expireTime": (now + timedelta(days=90)).isoformat(),
    }
    response = http.post(f"/v1/enterprises/{uscc}/consents", json=body, headers={"authorization": f"Bearer {key}"})
    assert response.status_code == 201, response.text
    consent = response.json()
    # The platform fetches the one-click link and delivers it to the enterprise.
    cid = consent["name"].rsplit("/", 1)[1]
    link = http.post(
        f"/v1/enterprises/{uscc}/consents/{cid}:authorizationLink", headers={"authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    assert link.status_code == 200, link.text
    return {**consent, "authorizationUri": link.json()["uri"]}


def _check(
    edge: Edge, uscc: str, grantee: str, scope: int = consent_pb2.CONSENT_SCOPE_RATING
) -> consent_pb2.CheckAccessResponse:
    return edge.consents.CheckAccess(
        consent_pb2.CheckAccessRequest(enterprise=f"enterprises/{uscc}", grantee=grantee, scope=scope),
        metadata=service_md("loan-pricing"),
    )


# What the full page shows about a request; a used, rejected or revoked link shows none of it.
REQUEST_DETAILS = ("衢州示例化工", "示例银行", "Bank a", "Bank b", "碳评级", "信贷评估", "有效期至", "Valid until")


def _assert_status_only(page) -> None:  # type: ignore[no-untyped-def]
    text = page.inner_text("body")
    for detail in REQUEST_DETAILS:
        assert detail not in text, detail
    assert page.locator("#grantee, ul.scopes").count() == 0


def _green_pixels(browser, png: bytes, box: dict[str, float]) -> int:  # type: ignore[no-untyped-def]
    """Count Authorise-green pixels inside `box` of a screenshot, decoded by the browser itself."""
    page = browser.new_page()
    try:
        page.set_content("<canvas id=c></canvas>")
        return int(
            page.evaluate(
                """async ([src, box, rgb]) => {
                    const img = new Image(); img.src = src; await img.decode();
                    const c = document.getElementById('c'); c.width = img.width; c.height = img.height;
                    const ctx = c.getContext('2d'); ctx.drawImage(img, 0, 0);
                    const w = Math.max(1, Math.floor(box.width)), h = Math.max(1, Math.floor(box.height));
                    const d = ctx.getImageData(Math.floor(box.x), Math.floor(box.y), w, h).data;
                    const near = (a, b) => Math.abs(a - b) < 12;
                    let n = 0;
                    for (let i = 0; i < d.length; i += 4) {
                        if (near(d[i], rgb[0]) && near(d[i + 1], rgb[1]) && near(d[i + 2], rgb[2])) n++;
                    }
                    return n;
                }""",
                ["data:image/png;base64," + base64.b64encode(png).decode(), box, list(AUTHORISE_GREEN)],
            )
        )
    finally:
        page.close()


def test_authorise_reject_and_revoke_by_clicking(
    browser,
    consent_process: Edge,
    redis_url: str,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    s = seed(consent_process)
    uscc = s["uscc"]
    with httpx.Client(base_url=consent_process.process.http_base, timeout=10) as http:
        first = _request(http, uscc, s["key_a"], ["RATING", "REPORT"])
        second = _request(http, uscc, s["key_b"], ["CARBON_ACCOUNT"])
        manage_uri = http.post(
            f"/v1/enterprises/{uscc}:manageLink", headers={"authorization": f"Bearer {ADMIN_TOKEN}"}
        ).json()["uri"]

    # --- phone: open the signed link, see who/what/why/how long, authorise with one click
    phone = browser.new_context(viewport=PHONE, device_scale_factor=1, is_mobile=True, has_touch=True)
    page = phone.new_page()
    page.goto(first["authorizationUri"])
    text = page.inner_text("body")
    for expected in (
        "示例银行A",
        "碳评级",
        "Carbon rating",
        "碳核算报告",
        "信贷评估",
        "Credit assessment",
        "有效期至",
        "Valid until",
    ):
        assert expected in text, expected
    authorise, reject = page.locator("#authorize"), page.locator("#reject")
    assert authorise.is_visible() and reject.is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # no sideways scrolling
    for button in (authorise, reject):
        box = button.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
        assert box["y"] + box["height"] <= PHONE["height"], "button below the fold on a phone"
        assert box["height"] >= 44  # thumb-sized
    shot = page.screenshot()
    (tmp_path / "authorize-390x844.png").write_bytes(shot)
    box = authorise.bounding_box()
    assert box is not None
    assert _green_pixels(browser, shot, box) > 0.5 * box["width"] * box["height"], "Authorise button not painted"

    assert not _check(consent_process, uscc, s["bank_a"]).allowed
    authorise.click()
    page.wait_for_selector("#done")
    assert page.get_attribute("#consent", "data-state") == "AUTHORIZED"
    assert page.locator("#authorize").count() == 0
    _assert_status_only(page)
    decision = _check(consent_process, uscc, s["bank_a"])
    assert decision.allowed and decision.consent == first["name"]
    phone.close()

    # --- desktop: reject the other request
    desktop = browser.new_context(viewport={"width": 1280, "height": 900})
    page = desktop.new_page()
    page.goto(second["authorizationUri"])
    page.click("#reject")
    page.wait_for_selector("#done")
    assert page.get_attribute("#consent", "data-state") == "REJECTED"
    _assert_status_only(page)
    assert (
        _check(consent_process, uscc, s["bank_b"], consent_pb2.CONSENT_SCOPE_CARBON_ACCOUNT).reason
        == "CONSENT_REJECTED"
    )

    # --- management page: the active grant with a revoke button
    page.goto(manage_uri)
    first_id = first["name"].rsplit("/", 1)[1]
    card = page.locator(f"#consent-{first_id}")
    assert card.get_attribute("data-state") == "AUTHORIZED"
    page.click(f"#revoke-{first_id}")
    page.wait_for_selector("#done")
    assert page.locator("#no-active").is_visible()
    assert page.locator(f"#consent-{first_id}").get_attribute("data-state") == "REVOKED"
    assert _check(consent_process, uscc, s["bank_a"]).reason == "CONSENT_REVOKED"
    # the old authorisation link now only shows the final state
    page.goto(first["authorizationUri"])
    assert page.get_attribute("#consent", "data-state") == "REVOKED"
    assert page.locator("#authorize").count() == 0
    _assert_status_only(page)
    page.goto(second["authorizationUri"])
    assert page.get_attribute("#consent", "data-state") == "REJECTED"
    _assert_status_only(page)
    desktop.close()

    # --- the management page on a phone as well
    phone = browser.new_context(viewport=PHONE, device_scale_factor=1, is_mobile=True)
    page = phone.new_page()
    page.goto(manage_uri)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    erase = page.locator("#request-erasure")
    erase.scroll_into_view_if_needed()
    assert erase.is_visible()
    page.screenshot(path=str(tmp_path / "manage-390x844.png"))
    erase.click()
    page.wait_for_selector("#done")
    assert page.locator(".erasure[data-state=PENDING]").count() == 1
    phone.close()
