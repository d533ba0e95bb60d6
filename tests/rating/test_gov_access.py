"""Who may read schemes on which edge, and the government login cookie outside dev mode.

One rating process with CARBON_DEV_MODE=false (production settings on http://127.0.0.1).
The read rule, the same on gRPC and REST: a published version in force is public;
drafts and versions not yet in force need a government credential (REST only: gRPC
never shows them).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from carbon.v1 import rating_pb2, rating_pb2_grpc
from carbon_common.channels import service_channel
from carbon_devkit.ports import free_port
from carbon_devkit.processes import ServiceProcess, start_service
from carbon_devkit.redis_server import start as start_redis

SECRET = "gov-access-service-secret"
DRAFTER = "alice-access-token-0123456789"
APPROVER = "bob-access-token-0123456789ab"
SCHEME = "zhejiang-carbon-efficiency"
PENDING_SCHEME = "access-test-pending"
FUTURE = "2199-01-01T00:00:00+08:00"


def _bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    root: Path = tmp_path_factory.mktemp("gov-access")
    port = free_port()
    redis_process = start_redis(root / "redis", port)
    env = {
        "CARBON_DEV_MODE": "false",
        "CARBON_REDIS_URL": f"redis://127.0.0.1:{port}/0",
        "CARBON_SERVICE_SECRET": SECRET,
        "CARBON_GOV_TOKENS": f"alice:drafter:{DRAFTER},bob:approver:{APPROVER}",
        "CARBON_DATA_DIR": str(root / "data"),
        "CARBON_ACCOUNTING_TARGET": "127.0.0.1:1",
        "CARBON_CONSENT_TARGET": "127.0.0.1:1",
    }
    try:
        service = start_service("rating", env, root / "logs", wait=180)
        yield service
        service.stop()
    finally:
        redis_process.terminate()
        redis_process.wait(10)


@pytest.fixture(scope="module")
def versions(production: ServiceProcess) -> dict[str, str]:
    """v1 of SCHEME in force (built in), a draft v2, an approved v3 effective in 2199, and a
    new scheme whose only version is effective in 2199."""
    with httpx.Client(base_url=production.http_base, timeout=30) as http:
        base = http.get(f"/v1/schemes/{SCHEME}/versions/1", headers=_bearer(DRAFTER)).json()["document"]
        out = {}
        for name in ("draft", "pending"):
            created = http.post(f"/v1/schemes/{SCHEME}/versions", json={"document": base}, headers=_bearer(DRAFTER))
            assert created.status_code == 201, created.text
            out[name] = created.json()["version"]
        approved = http.post(
            f"/v1/schemes/{SCHEME}/versions/{out['pending']}:approve",
            json={"effective_time": FUTURE},
            headers=_bearer(APPROVER),
        )
        assert approved.status_code == 200, approved.text
        other = http.post(
            f"/v1/schemes/{PENDING_SCHEME}/versions",
            json={"document": {**base, "scheme_id": PENDING_SCHEME}},
            headers=_bearer(DRAFTER),
        )
        assert other.status_code == 201, other.text
        approved = http.post(
            f"/v1/schemes/{PENDING_SCHEME}/versions/1:approve",
            json={"effective_time": FUTURE},
            headers=_bearer(APPROVER),
        )
        assert approved.status_code == 200, approved.text
    return out


def _grpc_schemes(production: ServiceProcess, channel: grpc.Channel) -> dict[str, str]:
    response = rating_pb2_grpc.RatingServiceStub(channel).ListSchemes(rating_pb2.ListSchemesRequest(), timeout=30)
    return {s.name.removeprefix("schemes/"): s.active_version for s in response.schemes}


def test_read_rule_is_the_same_on_grpc_and_rest(production: ServiceProcess, versions: dict[str, str]) -> None:
    draft, pending = versions["draft"], versions["pending"]
    # gRPC, anonymous and authorised alike: the versions in force, nothing else
    with grpc.insecure_channel(production.target) as channel:
        anonymous_grpc = _grpc_schemes(production, channel)
    with service_channel(production.target, "loan-pricing", SECRET) as channel:
        service_grpc = _grpc_schemes(production, channel)
    assert anonymous_grpc == service_grpc
    assert anonymous_grpc[SCHEME] == "1" and PENDING_SCHEME not in anonymous_grpc

    with httpx.Client(base_url=production.http_base, timeout=30) as http:
        # REST anonymous: the same schemes and active versions as gRPC, published versions in force only
        listed = http.get("/v1/schemes")
        assert listed.status_code == 200, listed.text
        public = {s["scheme_id"]: s for s in listed.json()["schemes"]}
        assert {k: v["active_version"] for k, v in public.items()} == anonymous_grpc
        assert [v["version"] for v in public[SCHEME]["versions"]] == ["1"]
        assert "drafter" not in listed.text
        public_versions = http.get(f"/v1/schemes/{SCHEME}/versions").json()["versions"]
        assert [v["version"] for v in public_versions] == ["1"]
        one = http.get(f"/v1/schemes/{SCHEME}/versions/1")
        assert one.status_code == 200 and one.json()["status"] == "published"
        assert "drafter" not in one.json() and "approver" not in one.json()
        for path in (
            f"/v1/schemes/{SCHEME}/versions/{draft}",
            f"/v1/schemes/{SCHEME}/versions/{pending}",
            f"/v1/schemes/{PENDING_SCHEME}/versions/1",
        ):
            refused = http.get(path)
            assert refused.status_code == 401, (path, refused.text)
            assert refused.json()["error"]["details"][0]["reason"] == "UNAUTHENTICATED_GOV"
        assert http.get(f"/v1/schemes/{PENDING_SCHEME}/versions").json() == {"versions": []}
        # a presented token must be valid: no silent fall-back to the public view
        assert http.get("/v1/schemes", headers=_bearer("not-a-government-token-at-all")).status_code == 401

        # REST with a government credential: drafts and future versions too
        full = {s["scheme_id"]: s for s in http.get("/v1/schemes", headers=_bearer(APPROVER)).json()["schemes"]}
        assert {v["version"]: v["status"] for v in full[SCHEME]["versions"]} == {
            "1": "published",
            draft: "draft",
            pending: "published",
        }
        assert full[SCHEME]["active_version"] == "1"
        assert PENDING_SCHEME in full and full[PENDING_SCHEME]["active_version"] is None
        for path in (f"/v1/schemes/{SCHEME}/versions/{draft}", f"/v1/schemes/{PENDING_SCHEME}/versions/1"):
            read = http.get(path, headers=_bearer(DRAFTER))
            assert read.status_code == 200 and read.json()["drafter"] == "alice", path
        assert len(http.get(f"/v1/schemes/{SCHEME}/versions", headers=_bearer(DRAFTER)).json()["versions"]) == 3


@pytest.mark.browser
def test_login_cookie_is_secure_httponly_strict_outside_dev_mode(production: ServiceProcess, browser) -> None:  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=production.http_base, timeout=30) as http:
        login = http.post("/login", data={"token": DRAFTER})
        assert login.status_code == 303
        cookie = login.headers["set-cookie"]
        attributes = {part.strip().split("=", 1)[0].lower(): part.strip() for part in cookie.split(";")}
        assert {"secure", "httponly", "samesite"} <= set(attributes), cookie
        assert attributes["samesite"].lower() == "samesite=strict", cookie
        logout = http.post("/logout")
        assert "secure" in logout.headers["set-cookie"].lower() and "max-age=0" in logout.headers["set-cookie"].lower()

    # Chromium keeps the cookie with those flags (it treats http://127.0.0.1 as a secure origin)
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(production.http_base + "/")
        page.fill("#token", DRAFTER)
        page.click("#login")
        assert page.inner_text("#whoami") == "alice (drafter)"
        (stored,) = [c for c in context.cookies() if c["name"] == "carbon_gov_token"]
        assert stored["secure"] and stored["httpOnly"] and stored["sameSite"] == "Strict", stored
        assert page.evaluate("document.cookie") == ""  # HttpOnly: not readable by scripts
    finally:
        context.close()


def test_reject_with_comment_and_diff_over_rest(production: ServiceProcess) -> None:
    """Four eyes on rejection too; a rejected version never changes; the diff names the changed field."""
    with httpx.Client(base_url=production.http_base, timeout=30) as http:
        document = http.get(f"/v1/schemes/{SCHEME}/versions/1", headers=_bearer(DRAFTER)).json()["document"]
        document["grading"]["bands"][2]["value"] = "1.0"
        created = http.post(f"/v1/schemes/{SCHEME}/versions", json={"document": document}, headers=_bearer(DRAFTER))
        assert created.status_code == 201, created.text
        version = created.json()["version"]

        diff = http.get(
            f"/v1/schemes/{SCHEME}/versions/{version}:diff", params={"against": "1"}, headers=_bearer(DRAFTER)
        )
        assert diff.status_code == 200, diff.text
        assert diff.json()["changes"] == [{"path": "grading.bands[2].value", "before": "1.2", "after": "1.0"}]
        assert http.get(f"/v1/schemes/{SCHEME}/versions/{version}:diff", params={"against": "1"}).status_code == 401

        reject = f"/v1/schemes/{SCHEME}/versions/{version}:reject"
        assert http.post(reject, json={"comment": "no"}, headers=_bearer(DRAFTER)).status_code == 403  # not an approver
        assert http.post(reject, json={"comment": ""}, headers=_bearer(APPROVER)).status_code == 400
        rejected = http.post(reject, json={"comment": "阈值过严 too strict"}, headers=_bearer(APPROVER))
        assert rejected.status_code == 200, rejected.text
        body = rejected.json()
        assert (body["status"], body["approver"], body["review_comment"]) == ("rejected", "bob", "阈值过严 too strict")
        again = http.post(f"/v1/schemes/{SCHEME}/versions/{version}:approve", json={}, headers=_bearer(APPROVER))
        assert again.status_code == 400 and again.json()["error"]["details"][0]["reason"] == "VERSION_IMMUTABLE"
        edit = http.put(
            f"/v1/schemes/{SCHEME}/versions/{version}", json={"document": document}, headers=_bearer(DRAFTER)
        )
        assert edit.status_code == 400 and edit.json()["error"]["details"][0]["reason"] == "VERSION_IMMUTABLE"
        audit = http.get("/v1/audit", headers=_bearer(APPROVER)).json()
        last = audit["entries"][-1]
        assert audit["intact"] and last["action"] == "reject" and last["details"]["comment"] == "阈值过严 too strict"
