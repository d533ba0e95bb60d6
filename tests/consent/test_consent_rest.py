"""The REST edge of a real consent service process."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import redis

from tests.consent.helpers import ADMIN_TOKEN, Edge, seed, service_md

ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}


def _bank(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def _window(days: int = 30) -> dict[str, object]:
    now = datetime.now(UTC)
    return {
        "dataWindow": {
            "startTime": (now - timedelta(days=700)).isoformat(),
            "endTime": (now + timedelta(days=days)).isoformat(),
        },
        "expireTime": (now + timedelta(days=days)).isoformat(),
    }


def test_bank_flow_and_cross_tenant_denied_over_rest(consent_process: Edge, redis_url: str) -> None:
    s = seed(consent_process)
    uscc = s["uscc"]
    with httpx.Client(base_url=consent_process.process.http_base, timeout=10) as http:
        created = http.post(
            f"/v1/enterprises/{uscc}/consents",
            json={"scopes": ["RATING", "REPORT"], "purpose": "CREDIT_ASSESSMENT", **_window()},
            headers=_bank(s["key_b"]),
        )
        assert created.status_code == 201, created.text
        consent = created.json()
        assert consent["grantee"] == s["bank_b"] and consent["state"] == "STATE_REQUESTED"
        # The link acts as the enterprise: the requesting bank never receives it ...
        assert not consent.get("authorizationUri")
        cid = consent["name"].rsplit("/", 1)[1]
        link_path = f"/v1/enterprises/{uscc}/consents/{cid}:authorizationLink"
        assert http.post(link_path, headers=_bank(s["key_b"])).status_code == 403
        # ... only the platform, which delivers it to the enterprise.
        link = http.post(link_path, headers={"authorization": f"Bearer {ADMIN_TOKEN}"})
        assert link.status_code == 200, link.text
        assert link.json()["uri"].startswith(consent_process.process.http_base + "/consents/authorize?token=lk_")

        # bank A: cannot read, terminate, list, check or request on behalf of bank B
        denied = http.get(f"/v1/enterprises/{uscc}/consents/{cid}", headers=_bank(s["key_a"]))
        assert denied.status_code == 403
        assert denied.json()["error"]["details"][0]["reason"] == "CONSENT_NOT_YOURS"
        assert (
            http.post(f"/v1/enterprises/{uscc}/consents/{cid}:terminate", headers=_bank(s["key_a"])).status_code == 403
        )
        check = {"enterprise": f"enterprises/{uscc}", "grantee": s["bank_b"], "scope": "RATING"}
        assert http.post("/v1/consents:checkAccess", json=check, headers=_bank(s["key_a"])).status_code == 403
        bank_b_id = s["bank_b"].split("/")[1]
        assert http.get(f"/v1/banks/{bank_b_id}/consents", headers=_bank(s["key_a"])).status_code == 403
        on_behalf = http.post(
            f"/v1/enterprises/{uscc}/consents",
            json={"grantee": s["bank_b"], "scopes": ["RATING"], "purpose": "CREDIT_ASSESSMENT", **_window()},
            headers=_bank(s["key_a"]),
        )
        assert on_behalf.status_code == 403
        assert http.get(f"/v1/enterprises/{uscc}/consents", headers=_bank(s["key_a"])).json()["consents"] == []
        # no credentials at all
        assert http.get(f"/v1/enterprises/{uscc}/consents/{cid}").status_code == 401
        assert http.get(f"/v1/enterprises/{uscc}/consents/{cid}", headers=_bank("ck_nope")).status_code == 401

        # bank B: the enterprise has not authorised yet; the bank cannot authorise itself
        assert http.post("/v1/consents:checkAccess", json=check, headers=_bank(s["key_b"])).json()["reason"] == (
            "CONSENT_REQUIRED"
        )
        assert (
            http.post(f"/v1/enterprises/{uscc}/consents/{cid}:authorize", headers=_bank(s["key_b"])).status_code == 403
        )
        ok = http.post(f"/v1/enterprises/{uscc}/consents/{cid}:authorize", json={"reason": "demo"}, headers=ADMIN)
        assert ok.status_code == 200 and ok.json()["state"] == "STATE_AUTHORIZED"
        allowed = http.post("/v1/consents:checkAccess", json=check, headers=_bank(s["key_b"])).json()
        assert allowed["allowed"] is True and allowed["consent"].endswith(cid)
        listed = http.get(f"/v1/banks/{bank_b_id}/consents", headers=_bank(s["key_b"])).json()["consents"]
        assert [c["name"] for c in listed] == [consent["name"]]
        # bad input is a 400 with the field named, never a 500
        bad = http.post(
            f"/v1/enterprises/{uscc}/consents",
            json={"scopes": ["TAX_INVOICES"], "purpose": "CREDIT_ASSESSMENT", **_window()},
            headers=_bank(s["key_b"]),
        )
        assert bad.status_code == 400
        fields = {v["field"] for d in bad.json()["error"]["details"] for v in d.get("fieldViolations", [])}
        assert "consent.scopes" in fields


def test_admin_bootstrap_grant_manage_link_and_erasure(consent_process: Edge, redis_url: str) -> None:
    s = seed(consent_process)
    uscc = s["uscc"]
    with httpx.Client(base_url=consent_process.process.http_base, timeout=10) as http:
        bank = http.post("/v1/banks", json={"bankId": "rest-bank", "displayName": "REST 银行"}, headers=ADMIN)
        assert bank.status_code == 201 and bank.json()["apiKey"].startswith("ck_")
        assert http.post("/v1/banks", json={"bankId": "x", "displayName": "x"}).status_code == 401
        # one-call create+authorise of a platform collection consent (admin/demo path), audited
        granted = http.post(
            f"/v1/enterprises/{uscc}/consents:grant",
            json={
                "grantee": "platform",
                "scopes": ["TAX_INVOICES", "ENERGY_METERING"],
                "purpose": "CARBON_ACCOUNTING",
                **_window(),
            },
            headers=ADMIN,
        )
        assert granted.status_code == 201, granted.text
        assert granted.json()["state"] == "STATE_AUTHORIZED"
        # a service may not grant on the enterprise's behalf
        # service tokens are one-use: fresh headers for each request
        refused = http.post(
            f"/v1/enterprises/{uscc}/consents:grant",
            json={"grantee": "platform", "scopes": ["TAX_INVOICES"], "purpose": "CARBON_ACCOUNTING", **_window()},
            headers=dict(service_md("ingest-tax")),
        )
        assert refused.status_code == 403
        check = {"enterprise": f"enterprises/{uscc}", "grantee": "platform", "scope": "ENERGY_METERING"}
        assert (
            http.post("/v1/consents:checkAccess", json=check, headers=dict(service_md("ingest-tax"))).json()["allowed"]
            is True
        )

        # the enterprise, through its management link, revokes and asks for erasure
        link = http.post(f"/v1/enterprises/{uscc}:manageLink", headers=ADMIN).json()["uri"]
        token = link.split("token=", 1)[1]
        enterprise = {"authorization": f"Bearer {token}"}
        cid = granted.json()["name"].rsplit("/", 1)[1]
        revoked = http.post(f"/v1/enterprises/{uscc}/consents/{cid}:revoke", headers=enterprise)
        assert revoked.json()["history"][-1]["actor"] == f"enterprises/{uscc}"
        denied = http.post("/v1/consents:checkAccess", json=check, headers=dict(service_md("ingest-tax"))).json()
        assert denied == {**denied, "allowed": False, "reason": "CONSENT_REVOKED"}
        other = seed(consent_process)
        assert http.get(f"/v1/enterprises/{other['uscc']}/consents", headers=enterprise).status_code == 403

        erasure = http.post(
            f"/v1/enterprises/{uscc}/erasureRequests", json={"reason": "contract ended"}, headers=enterprise
        )
        assert erasure.status_code == 201
        body = erasure.json()
        assert body["state"] == "PENDING"
        client = redis.Redis.from_url(redis_url)
        events = client.xrange("carbon:events:erasure")
        assert any(f[b"uscc"].decode() == uscc and f[b"request_id"].decode() == body["requestId"] for _, f in events)
        # ingestion services report back on carbon:erasure:{request_id}
        client.hset(f"carbon:erasure:{body['requestId']}", "ingest-tax", '{"status":"DONE","deleted_rows":12}')
        status = http.get(f"/v1/enterprises/{uscc}/erasureRequests/{body['requestId']}", headers=enterprise).json()
        assert status["state"] == "IN_PROGRESS" and "ingest-tax" in status["reports"]
        client.hset(f"carbon:erasure:{body['requestId']}", "ingest-energy", '{"status":"DONE"}')
        status = http.get(f"/v1/enterprises/{uscc}/erasureRequests/{body['requestId']}", headers=ADMIN).json()
        assert status["state"] == "IN_PROGRESS"  # accounting still holds accounts derived from the data
        client.hset(f"carbon:erasure:{body['requestId']}", "accounting", '{"accounts_deleted":0}')
        status = http.get(f"/v1/enterprises/{uscc}/erasureRequests/{body['requestId']}", headers=ADMIN).json()
        assert status["state"] == "IN_PROGRESS"  # rating still holds the population rows and ratings
        client.hset(f"carbon:erasure:{body['requestId']}", "rating", '{"ratings_deleted":0}')
        status = http.get(f"/v1/enterprises/{uscc}/erasureRequests/{body['requestId']}", headers=ADMIN).json()
        assert status["state"] == "COMPLETED"
        assert http.post(f"/v1/enterprises/{uscc}/erasureRequests", headers=_bank(s["key_a"])).status_code == 403


def test_pages_refuse_bad_links(consent_process: Edge, redis_url: str) -> None:
    with httpx.Client(base_url=consent_process.process.http_base, timeout=10) as http:
        for url in (
            "/consents/authorize?token=lk_forged.sig",
            "/consents/manage?token=",
            f"/consents/manage?token={ADMIN_TOKEN}",
        ):
            page = http.get(url)
            assert page.status_code in (401, 403), url
            assert "链接无效" in page.text or "无权" in page.text
            assert page.headers["cache-control"] == "no-store" and page.headers["referrer-policy"] == "no-referrer"
