"""Dry-run, activation and hot reload of policy bundles (in process)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import redis
from carbon_pricing.core import PricingCore
from carbon_pricing.lifecycle import ACTIVE_KEY, PolicyManager
from carbon_pricing.settings import PricingSettings
from fastapi.testclient import TestClient

from tests.pricing.conftest import ADMIN
from tests.pricing.support import World, uscc
from tests.pricing.test_quotes_inprocess import AUTH, BANK, body, consent

ADMIN_AUTH = {"Authorization": f"Bearer {ADMIN}"}


def quzhou_data(bundle: Path, **grade_overrides: Any) -> str:
    document = json.loads((bundle / "quzhou_tanrongyi" / "data.json").read_text())
    for grade, terms in grade_overrides.items():
        document["params"]["grades"][grade] = terms
    return json.dumps(document, ensure_ascii=False)


def seed_quotes(api: TestClient, world: World) -> list[str]:
    grades = ["DARK_GREEN", "LIGHT_GREEN", "YELLOW", "RED"]
    names = []
    for i, grade in enumerate(grades):
        enterprise = uscc(100 + i)
        consent(world, enterprise)
        world.rate(enterprise, "quzhou_tanrongyi", grade)
        names.append(
            api.post(f"/v1/banks/{BANK}/quotes", json=body(enterprise=enterprise), headers=AUTH).json()["name"]
        )
    return names


def test_dry_run_reports_old_vs_new(api: TestClient, world: World, settings: PricingSettings) -> None:
    names = seed_quotes(api, world)
    draft = {
        "overlay": True,
        "revision": "draft-1",
        "files": {
            "quzhou_tanrongyi/data.json": quzhou_data(
                settings.bundle_dir,
                LIGHT_GREEN={"decision": "APPROVE", "rate_adjustment_bp": -40, "credit_line": "NONE"},
                YELLOW={"decision": "REFER"},
            )
        },
        "limit": 10,
    }
    response = api.post("/v1/policies:dryRun", json=draft, headers=ADMIN_AUTH)
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["evaluated"] == 4
    assert report["draft_version"].startswith("draft-1@sha256:")
    by_quote = {row["quote"]: row for row in report["results"]}
    assert set(by_quote) == set(names)
    light = by_quote[names[1]]
    assert (light["old"]["rate_adjustment_bp"], light["new"]["rate_adjustment_bp"], light["changed"]) == (
        -30,
        -40,
        True,
    )
    yellow = by_quote[names[2]]
    assert (yellow["old"]["decision"], yellow["new"]["decision"]) == ("APPROVE", "REFER")
    assert not by_quote[names[0]]["changed"] and not by_quote[names[3]]["changed"]
    assert report["summary"]["changed"] == 2 and report["summary"]["unchanged"] == 2
    assert report["summary"]["decision_changes"] == {"APPROVE->APPROVE": 1, "APPROVE->REFER": 1}
    # A dry-run changes nothing live.
    assert api.get("/v1/policies", headers=AUTH).json()["active_version"] == report["active_version"]


def test_dry_run_and_activate_need_the_admin_token(api: TestClient) -> None:
    draft = {"overlay": True, "files": {".manifest": '{"revision": "x"}'}}
    assert api.post("/v1/policies:dryRun", json=draft).status_code == 401
    assert api.post("/v1/policies:dryRun", json=draft, headers=AUTH).status_code == 403
    assert api.post("/v1/policies:activate", json=draft, headers=AUTH).status_code == 403


def test_broken_draft_is_rejected_and_nothing_changes(api: TestClient, settings: PricingSettings) -> None:
    before = api.get("/v1/policies", headers=ADMIN_AUTH).json()["active_version"]
    broken = {"overlay": True, "files": {"quzhou_tanrongyi/policy.rego": "package quzhou_tanrongyi\n decision := {"}}
    response = api.post("/v1/policies:activate", json=broken, headers=ADMIN_AUTH)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["details"][0]["reason"] == "BUNDLE_INVALID"
    escape = {"files": {"../evil.rego": "package x"}}
    assert api.post("/v1/policies:dryRun", json=escape, headers=ADMIN_AUTH).status_code == 400
    outside = {"draft_path": "../../etc"}
    assert api.post("/v1/policies:dryRun", json=outside, headers=ADMIN_AUTH).status_code == 400
    assert api.get("/v1/policies", headers=ADMIN_AUTH).json()["active_version"] == before


def test_activate_takes_effect_and_reaches_other_replicas(
    api: TestClient, world: World, settings: PricingSettings, core: PricingCore
) -> None:
    consent(world)
    world.rate(uscc(1), "quzhou_tanrongyi", "LIGHT_GREEN")
    # A second replica sharing Redis, following the bundle channel.
    replica = PolicyManager(settings, redis.Redis.from_url(settings.redis_url))
    stopping = threading.Event()
    follower = threading.Thread(target=replica.pubsub_worker, args=(stopping,), daemon=True)
    follower.start()
    try:
        time.sleep(0.3)  # subscribed
        old = core.policies.bundle_version
        # A draft under the drafts dir, named by path.
        draft_dir = settings.drafts_dir() / "lg-minus-45"
        draft_dir.mkdir(parents=True)
        (draft_dir / "quzhou_tanrongyi").mkdir()
        (draft_dir / "quzhou_tanrongyi" / "data.json").write_text(
            quzhou_data(
                settings.bundle_dir,
                LIGHT_GREEN={"decision": "APPROVE", "rate_adjustment_bp": -45, "credit_line": "NONE"},
            )
        )
        stale = api.post(
            "/v1/policies:activate",
            json={"draft_path": "lg-minus-45", "overlay": True, "revision": "r2", "expected_active_version": "nope"},
            headers=ADMIN_AUTH,
        )
        assert stale.status_code == 400
        response = api.post(
            "/v1/policies:activate",
            json={"draft_path": "lg-minus-45", "overlay": True, "revision": "r2", "expected_active_version": old},
            headers=ADMIN_AUTH,
        )
        assert response.status_code == 200, response.text
        activated = response.json()
        assert activated["previous_version"] == old and activated["active_version"].startswith("r2@sha256:")
        quote = api.post(f"/v1/banks/{BANK}/quotes", json=body(), headers=AUTH).json()
        assert quote["rate_adjustment_bp"] == -45
        assert quote["policy_bundle_version"] == activated["active_version"]
        deadline = time.monotonic() + 5
        while replica.bundle_version != activated["active_version"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert replica.bundle_version == activated["active_version"]
        # A restarted replica starts on the activated bundle.
        assert json.loads(core.store.redis.get(ACTIVE_KEY))["version"] == activated["active_version"]
        assert PolicyManager(settings, core.store.redis).bundle_version == activated["active_version"]
    finally:
        stopping.set()
        follower.join(5)


def test_hot_reload_when_the_bundle_directory_changes(
    api: TestClient, world: World, settings: PricingSettings, core: PricingCore
) -> None:
    consent(world)
    world.rate(uscc(1), "quzhou_tanrongyi", "DARK_GREEN")
    assert api.post(f"/v1/banks/{BANK}/quotes", json=body(), headers=AUTH).json()["rate_adjustment_bp"] == -50
    stopping = threading.Event()
    poller_settings = settings.model_copy(update={"bundle_poll_seconds": 0.1})
    core.policies.settings = poller_settings
    thread = threading.Thread(target=core.policies.poll_worker, args=(stopping,), daemon=True)
    thread.start()
    try:
        before = core.policies.bundle_version
        data = settings.bundle_dir / "quzhou_tanrongyi" / "data.json"
        data.write_text(
            quzhou_data(
                settings.bundle_dir,
                DARK_GREEN={"decision": "APPROVE", "rate_adjustment_bp": -55, "credit_line": "NONE"},
            )
        )
        deadline = time.monotonic() + 5
        while core.policies.bundle_version == before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert core.policies.bundle_version != before
        assert api.post(f"/v1/banks/{BANK}/quotes", json=body(), headers=AUTH).json()["rate_adjustment_bp"] == -55
        # A broken edit is refused: the last good bundle stays live.
        good = core.policies.bundle_version
        (settings.bundle_dir / "quzhou_tanrongyi" / "policy.rego").write_text("package quzhou_tanrongyi\nx := {")
        time.sleep(0.5)
        assert core.policies.bundle_version == good
        assert api.post(f"/v1/banks/{BANK}/quotes", json=body(), headers=AUTH).json()["rate_adjustment_bp"] == -55
    finally:
        stopping.set()
        thread.join(5)
