"""One-click links after use, revocation or expiry show the status only, over plain HTTP.

The real HTTP app on the real core and Redis, with a movable clock so that a consent can
expire while its link is still valid. (The same pages in Chromium: test_consent_browser.py.)
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from carbon_consent.app import create_http_app
from carbon_consent.core import ConsentRequest
from carbon_consent.domain import Action, Purpose, Scope
from fastapi.testclient import TestClient

from tests.consent.helpers import ADMIN, MovableClock, make_uscc

ENTERPRISE_NAME = "链接测试化工有限公司"
BANK_NAME = "链接测试银行 Link Test Bank"
# Whatever the full page shows about the request: none of it may remain once the link is spent.
DETAILS = (
    ENTERPRISE_NAME,
    BANK_NAME,
    "碳评级",
    "Carbon rating",
    "信贷评估",
    "Credit assessment",
    "数据期间",
    "Valid until",
    "one-click page",  # history reasons
    "enterprises/",  # history actors, consent names
)


@pytest.fixture
def setup(components, clock: MovableClock):  # type: ignore[no-untyped-def]
    core = components.core
    uscc = make_uscc()
    core.create_enterprise(ADMIN, uscc, ENTERPRISE_NAME, "C2611", "330000", "330800")
    core.create_bank(ADMIN, f"bank-{uscc[-6:].lower()}", BANK_NAME)
    client = TestClient(create_http_app(core, components.auth))
    return core, uscc, f"banks/bank-{uscc[-6:].lower()}", client


def _requested(core, uscc: str, grantee: str, clock: MovableClock, days: int = 30) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    request = ConsentRequest(
        grantee=grantee,
        scopes=[Scope.RATING],
        purpose=Purpose.CREDIT_ASSESSMENT,
        data_start=clock.now - timedelta(days=365),
        data_end=clock.now + timedelta(days=days),
        expire_time=clock.now + timedelta(days=days),
    )
    consent, _ = core.create_consent(ADMIN, uscc, request)
    uri = urlsplit(core.authorization_link(ADMIN, uscc, consent.id))
    return consent.id, f"{uri.path}?{uri.query}"


def _assert_status_only(client: TestClient, link: str, state: str) -> None:
    page = client.get(link)
    assert page.status_code == 200, page.text
    assert f'data-state="{state}"' in page.text
    assert 'id="authorize"' not in page.text and 'id="reject"' not in page.text
    for detail in DETAILS:
        assert detail not in page.text, (state, detail)
    assert page.headers["cache-control"] == "no-store"


def test_spent_links_show_the_status_only(setup, clock: MovableClock) -> None:  # type: ignore[no-untyped-def]
    core, uscc, bank, client = setup
    used, used_link = _requested(core, uscc, bank, clock)
    rejected, rejected_link = _requested(core, uscc, bank, clock)
    revoked, revoked_link = _requested(core, uscc, bank, clock)
    expiring, expiring_link = _requested(core, uscc, bank, clock, days=2)

    # a pending request shows who asks for what, and the link reads it over REST too
    pending = client.get(used_link)
    assert pending.status_code == 200 and 'id="authorize"' in pending.text
    for detail in (ENTERPRISE_NAME, BANK_NAME, "碳评级", "Valid until"):
        assert detail in pending.text
    token = used_link.split("token=", 1)[1]
    rest = client.get(f"/v1/enterprises/{uscc}/consents/{used}", headers={"authorization": f"Bearer {token}"})
    assert rest.status_code == 200 and rest.json()["grantee"] == bank

    # used: authorised (and, after the redirect, told so) or rejected on the page itself
    done = client.post("/consents/authorize", data={"token": token, "decision": "authorize"})
    assert done.status_code == 200 and 'id="done"' in done.text  # followed the 303
    _assert_status_only(client, used_link, "AUTHORIZED")
    assert 'id="done"' in done.text and "AUTHORIZED" in done.text
    for detail in DETAILS:
        assert detail not in done.text, detail
    rejected_token = rejected_link.split("token=", 1)[1]
    client.post("/consents/authorize", data={"token": rejected_token, "decision": "reject"})
    _assert_status_only(client, rejected_link, "REJECTED")
    # revoked later (management page, admin)
    core.transition(ADMIN, uscc, revoked, Action.AUTHORIZE, "ok")
    core.transition(ADMIN, uscc, revoked, Action.REVOKE, "bye")
    _assert_status_only(client, revoked_link, "REVOKED")

    # the spent link no longer reads the consent over REST either
    for cid, link in ((used, used_link), (rejected, rejected_link), (revoked, revoked_link)):
        headers = {"authorization": f"Bearer {link.split('token=', 1)[1]}"}
        rest = client.get(f"/v1/enterprises/{uscc}/consents/{cid}", headers=headers)
        assert rest.status_code == 400, rest.text
        assert rest.json()["error"]["details"][0]["reason"] == "LINK_USED"
        assert BANK_NAME not in rest.text and "banks/" not in rest.text

    # expired: a link never outlives its consent, so it is refused like any expired link
    clock.advance(days=3)
    page = client.get(expiring_link)
    assert page.status_code == 401 and "已过期" in page.text
    for detail in DETAILS:
        assert detail not in page.text, detail
    headers = {"authorization": f"Bearer {expiring_link.split('token=', 1)[1]}"}
    assert client.get(f"/v1/enterprises/{uscc}/consents/{expiring}", headers=headers).status_code == 401
    assert core.get_consent(ADMIN, uscc, expiring).state.name == "EXPIRED"

    # nor decide again
    again = client.post("/consents/authorize", data={"token": rejected_token, "decision": "authorize"})
    assert again.status_code >= 400 and BANK_NAME not in again.text
    # the enterprise's own management view keeps the full history
    assert core.get_consent(ADMIN, uscc, revoked).history[-1].reason == "bye"
