"""Pricing core and REST edge in process: real Redis, real Rego engine, the
peer interfaces answered by tests.pricing.support.World."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any

import pytest
import redis
from carbon_common import hashchain
from carbon_pricing import decision_log
from carbon_pricing.app import create_http_app
from carbon_pricing.store import DECISION_LOG, decision_log_chain
from fastapi.testclient import TestClient

from tests.pricing.support import World, uscc

BANK = "qujiang-rcb"
AUTH = {"Authorization": "Bearer ck_qujiang"}
E1 = uscc(1)

# (product, grade, score, decision, bp, credit kind, credit amount, tenor effect, reason codes)
MATRIX = [
    ("quzhou_tanrongyi", "DARK_GREEN", None, "APPROVE", -50, "NONE", "0.00", 0, ["RATE_ADJUSTMENT"]),
    ("quzhou_tanrongyi", "LIGHT_GREEN", None, "APPROVE", -30, "NONE", "0.00", 0, ["RATE_ADJUSTMENT"]),
    ("quzhou_tanrongyi", "YELLOW", None, "APPROVE", 0, "FREEZE", "0.00", 0, ["RATE_ADJUSTMENT", "CREDIT_LINE_FREEZE"]),
    ("quzhou_tanrongyi", "RED", None, "DECLINE_NEW_CREDIT", 0, "NO_NEW_CREDIT", "0.00", 0, ["NO_NEW_CREDIT"]),
    (
        "shenzhen_jiangtandai",
        "AAA",
        "95",
        "APPROVE",
        -30,
        "NONE",
        "0.00",
        12,
        ["RATE_ADJUSTMENT", "DISCOUNT_CAPPED", "TENOR_EXTENSION"],
    ),
    ("shenzhen_jiangtandai", "AA", "85.5", "APPROVE", -25, "NONE", "0.00", 12, ["RATE_ADJUSTMENT", "TENOR_EXTENSION"]),
    ("shenzhen_jiangtandai", "A", "75", "APPROVE", -15, "NONE", "0.00", 0, ["RATE_ADJUSTMENT"]),
    ("shenzhen_jiangtandai", "BBB", "68", "APPROVE", -8, "NONE", "0.00", 0, ["RATE_ADJUSTMENT"]),
    ("shenzhen_jiangtandai", "BB", "62", "APPROVE", -2, "NONE", "0.00", 0, ["RATE_ADJUSTMENT"]),
    ("shenzhen_jiangtandai", "B", "55", "APPROVE", 0, "NONE", "0.00", 0, ["RATE_ADJUSTMENT"]),
    ("shenzhen_jiangtandai", "CCC", "40", "REFER", 0, "NONE", "0.00", 0, ["GRADE_NOT_ELIGIBLE"]),
    ("shenzhen_jiangtandai", "CC", "30", "REFER", 0, "NONE", "0.00", 0, ["GRADE_NOT_ELIGIBLE"]),
    ("shenzhen_jiangtandai", "C", "10", "REFER", 0, "NONE", "0.00", 0, ["GRADE_NOT_ELIGIBLE"]),
    (
        "wuyi_jiantandai",
        "1",
        None,
        "APPROVE",
        -50,
        "INCREASE",
        "12050.00",
        0,
        ["RATE_ADJUSTMENT", "CREDIT_LINE_INCREASE"],
    ),
    (
        "wuyi_jiantandai",
        "2",
        None,
        "APPROVE",
        -50,
        "INCREASE",
        "12050.00",
        0,
        ["RATE_ADJUSTMENT", "CREDIT_LINE_INCREASE"],
    ),
    (
        "wuyi_jiantandai",
        "3",
        None,
        "APPROVE",
        -50,
        "INCREASE",
        "12050.00",
        0,
        ["RATE_ADJUSTMENT", "CREDIT_LINE_INCREASE"],
    ),
    ("wuyi_jiantandai", "4", None, "REFER", 0, "NONE", "0.00", 0, ["GRADE_NOT_ELIGIBLE"]),
    ("wuyi_jiantandai", "5", None, "REFER", 0, "NONE", "0.00", 0, ["GRADE_NOT_ELIGIBLE"]),
]


def body(product: str = "quzhou_tanrongyi", enterprise: str = E1, **overrides: Any) -> dict[str, Any]:
    return {
        "request_id": str(uuid.uuid4()),
        "product": product,
        "enterprise": f"enterprises/{enterprise}",
        "amount_cny": "1000000.00",
        "tenor_months": 12,
        "reference_rate_pct": "3.45",
        **overrides,
    }


def consent(world: World, enterprise: str = E1, bank: str = BANK, state: str = "AUTHORIZED") -> None:
    world.consents[(enterprise, f"banks/{bank}")] = state


def error_reason(response: Any) -> str:
    details = response.json()["error"]["details"]
    return next(d["reason"] for d in details if d["@type"].endswith("ErrorInfo"))


@pytest.mark.parametrize(("product", "grade", "score", "decision", "bp", "kind", "amount", "tenor", "codes"), MATRIX)
def test_every_product_at_every_grade(
    api: TestClient,
    world: World,
    product: str,
    grade: str,
    score: str | None,
    decision: str,
    bp: int,
    kind: str,
    amount: str,
    tenor: int,
    codes: list[str],
) -> None:
    consent(world)
    world.rate(E1, product, grade, score=score)
    response = api.post(f"/v1/banks/{BANK}/quotes", json=body(product), headers=AUTH)
    assert response.status_code == 200, response.text
    quote = response.json()
    assert quote["decision"] == decision
    assert quote["rate_adjustment_bp"] == bp
    assert Decimal(quote["final_rate_pct"]) == Decimal("3.45") + Decimal(bp) / 100
    assert quote["credit_line_effect"] == kind
    assert quote["credit_line_change_cny"] == amount
    assert quote["tenor_effect_months"] == tenor
    assert [r["code"] for r in quote["reasons"]] == codes
    assert quote["grade"] == grade
    assert quote["scheme_id"] == world.ratings[next(iter(world.ratings))].scheme_id
    assert quote["scheme_version"] == "2024.1"
    assert quote["account_period"] == "2025"
    assert quote["policy_bundle_version"].startswith("products-2024.1@sha256:")
    assert quote["name"].startswith(f"banks/{BANK}/quotes/")
    assert len(quote["decision_log_hash"]) == 64


def test_final_rate_is_exact_decimal(api: TestClient, world: World) -> None:
    consent(world)
    world.rate(E1, "quzhou_tanrongyi", "LIGHT_GREEN")
    quote = api.post(f"/v1/banks/{BANK}/quotes", json=body(reference_rate_pct="3.1"), headers=AUTH).json()
    assert quote["final_rate_pct"] == "2.8"
    quote = api.post(f"/v1/banks/{BANK}/quotes", json=body(reference_rate_pct="0.100001"), headers=AUTH).json()
    assert quote["final_rate_pct"] == "-0.199999"


@pytest.mark.parametrize(
    ("score", "bp", "capped"),
    [
        ("90", -30, False),
        ("90.99", -30, False),
        ("91", -30, True),
        ("60", 0, False),
        ("0", 0, False),
        ("100", -30, True),
    ],
)
def test_shenzhen_cap(api: TestClient, world: World, score: str, bp: int, capped: bool) -> None:
    consent(world)
    world.rate(E1, "shenzhen_jiangtandai", "A", score=score)
    quote = api.post(f"/v1/banks/{BANK}/quotes", json=body("shenzhen_jiangtandai"), headers=AUTH).json()
    assert quote["rate_adjustment_bp"] == bp
    assert ("DISCOUNT_CAPPED" in [r["code"] for r in quote["reasons"]]) is capped


def test_missing_rating_refers(api: TestClient, world: World) -> None:
    consent(world)
    quote = api.post(f"/v1/banks/{BANK}/quotes", json=body(), headers=AUTH).json()
    assert quote["decision"] == "REFER"
    assert [r["code"] for r in quote["reasons"]] == ["RATING_MISSING", "ACCOUNT_MISSING"]
    assert quote["grade"] == ""
    assert quote["scheme_id"] == "quzhou-four-colour"
    assert quote["rate_adjustment_bp"] == 0


@pytest.mark.parametrize(("age", "decision"), [(90, "APPROVE"), (91, "REFER"), (400, "REFER")])
def test_stale_rating_refers(api: TestClient, world: World, age: int, decision: str) -> None:
    consent(world)
    world.rate(E1, "quzhou_tanrongyi", "DARK_GREEN", age_days=age)
    quote = api.post(f"/v1/banks/{BANK}/quotes", json=body(), headers=AUTH).json()
    assert quote["decision"] == decision
    assert quote["rating_age_days"] == age
    if decision == "REFER":
        assert [r["code"] for r in quote["reasons"]] == ["RATING_STALE"]


@pytest.mark.parametrize(("quality", "decision"), [("0.8", "APPROVE"), ("0.79", "REFER"), (None, "REFER")])
def test_weak_account_quality_refers(api: TestClient, world: World, quality: str | None, decision: str) -> None:
    consent(world)
    world.rate(E1, "wuyi_jiantandai", "2", quality=quality)
    quote = api.post(f"/v1/banks/{BANK}/quotes", json=body("wuyi_jiantandai"), headers=AUTH).json()
    assert quote["decision"] == decision
    if decision == "REFER":
        assert [r["code"] for r in quote["reasons"]] == ["DATA_QUALITY_LOW"]


def test_wuyi_no_reduction_no_increase(api: TestClient, world: World) -> None:
    consent(world)
    world.rate(E1, "wuyi_jiantandai", "1", reduction=None)
    quote = api.post(f"/v1/banks/{BANK}/quotes", json=body("wuyi_jiantandai"), headers=AUTH).json()
    assert (quote["decision"], quote["credit_line_effect"], quote["credit_line_change_cny"]) == (
        "APPROVE",
        "NONE",
        "0.00",
    )


@pytest.mark.parametrize(
    ("state", "reason"), [(None, "CONSENT_REQUIRED"), ("REVOKED", "CONSENT_REVOKED"), ("EXPIRED", "CONSENT_EXPIRED")]
)
def test_no_consent_is_permission_denied(api: TestClient, world: World, state: str | None, reason: str) -> None:
    if state:
        consent(world, state=state)
    world.rate(E1, "quzhou_tanrongyi", "DARK_GREEN")
    response = api.post(f"/v1/banks/{BANK}/quotes", json=body(), headers=AUTH)
    assert response.status_code == 403
    assert response.json()["error"]["status"] == "PERMISSION_DENIED"
    assert error_reason(response) == reason
    # The rating is looked up (as the platform) only to learn the period to check; nothing is priced.
    assert world.periods_checked == ["2025"]
    assert api.get(f"/v1/banks/{BANK}/quotes", headers=AUTH).json()["quotes"] == []


def test_consent_checked_on_every_quote_even_replays(api: TestClient, world: World) -> None:
    consent(world)
    world.rate(E1, "quzhou_tanrongyi", "DARK_GREEN")
    request = body()
    assert api.post(f"/v1/banks/{BANK}/quotes", json=request, headers=AUTH).status_code == 200
    consent(world, state="REVOKED")
    response = api.post(f"/v1/banks/{BANK}/quotes", json=request, headers=AUTH)
    assert response.status_code == 403 and error_reason(response) == "CONSENT_REVOKED"


def test_authentication_and_tenancy(api: TestClient, world: World) -> None:
    consent(world)
    world.rate(E1, "quzhou_tanrongyi", "DARK_GREEN")
    response = api.post(f"/v1/banks/{BANK}/quotes", json=body())
    assert response.status_code == 401 and error_reason(response) == "UNAUTHENTICATED_BANK"
    response = api.post(f"/v1/banks/{BANK}/quotes", json=body(), headers={"Authorization": "Bearer ck_nope"})
    assert response.status_code == 401
    response = api.post(f"/v1/banks/{BANK}/quotes", json=body(), headers={"Authorization": "Bearer ck_other"})
    assert response.status_code == 403 and error_reason(response) == "CROSS_TENANT"
    quote = api.post(f"/v1/banks/{BANK}/quotes", json=body(), headers=AUTH).json()
    quote_id = quote["name"].rsplit("/", 1)[1]
    other = {"Authorization": "Bearer ck_other"}
    assert api.get(f"/v1/banks/{BANK}/quotes/{quote_id}", headers=other).status_code == 403
    assert api.get(f"/v1/banks/other-bank/quotes/{quote_id}", headers=other).status_code == 404
    assert api.get("/v1/banks/other-bank/quotes", headers=other).json()["quotes"] == []
    assert api.get(f"/v1/banks/{BANK}/quotes", headers=other).status_code == 403


def test_idempotent_request_id(api: TestClient, world: World, core: Any) -> None:
    consent(world)
    world.rate(E1, "quzhou_tanrongyi", "DARK_GREEN")
    request = body()
    first = api.post(f"/v1/banks/{BANK}/quotes", json=request, headers=AUTH)
    # Equal amounts written differently are the same request.
    again = api.post(f"/v1/banks/{BANK}/quotes", json={**request, "amount_cny": "1000000"}, headers=AUTH)
    assert first.json() == again.json()
    assert again.headers["X-Idempotent-Replay"] == "true"
    conflict = api.post(f"/v1/banks/{BANK}/quotes", json={**request, "amount_cny": "2000000.00"}, headers=AUTH)
    assert conflict.status_code == 409
    assert conflict.json()["error"]["status"] == "ALREADY_EXISTS"
    assert error_reason(conflict) == "REQUEST_ID_REUSED"
    assert "different request body" in conflict.json()["error"]["message"]
    listed = api.get(f"/v1/banks/{BANK}/quotes", headers=AUTH).json()["quotes"]
    assert len(listed) == 1
    assert decision_log.verify(core.store.redis).entries == 1


def test_failed_quote_frees_its_request_id(api: TestClient, world: World) -> None:
    world.rate(E1, "quzhou_tanrongyi", "DARK_GREEN")
    request = body()
    assert api.post(f"/v1/banks/{BANK}/quotes", json=request, headers=AUTH).status_code == 403
    consent(world)
    assert api.post(f"/v1/banks/{BANK}/quotes", json=request, headers=AUTH).status_code == 200


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"product": "no_such_product"}, "product"),
        ({"enterprise": "enterprises/123"}, "enterprise"),
        ({"amount_cny": "-1"}, "amount_cny"),
        ({"amount_cny": "1.005"}, "amount_cny"),
        ({"amount_cny": "abc"}, "amount_cny"),
        ({"tenor_months": 0}, "tenor_months"),
        ({"reference_rate_pct": "0"}, "reference_rate_pct"),
        ({"request_id": ""}, "request_id"),
    ],
)
def test_invalid_requests(api: TestClient, world: World, overrides: dict[str, Any], field: str) -> None:
    consent(world)
    response = api.post(f"/v1/banks/{BANK}/quotes", json=body(**overrides), headers=AUTH)
    assert response.status_code == 400, response.text
    details = response.json()["error"]["details"]
    violations = next(d["fieldViolations"] for d in details if d["@type"].endswith("BadRequest"))
    assert [v["field"] for v in violations] == [field]


def test_get_and_list_pagination(api: TestClient, world: World) -> None:
    consent(world)
    world.rate(E1, "quzhou_tanrongyi", "DARK_GREEN")
    names = [api.post(f"/v1/banks/{BANK}/quotes", json=body(), headers=AUTH).json()["name"] for _ in range(5)]
    one = api.get(f"/v1/{names[0]}", headers=AUTH).json()
    assert one["name"] == names[0]
    seen: list[str] = []
    token = ""
    while True:
        page = api.get(f"/v1/banks/{BANK}/quotes", params={"page_size": 2, "page_token": token}, headers=AUTH).json()
        seen += [q["name"] for q in page["quotes"]]
        token = page["next_page_token"]
        if not token:
            break
    assert sorted(seen) == sorted(names) and len(seen) == 5
    assert api.get(f"/v1/banks/{BANK}/quotes", params={"page_token": "garbage"}, headers=AUTH).status_code == 400


def test_decision_log_chain_and_tamper_detection(api: TestClient, world: World, core: Any) -> None:
    consent(world)
    world.rate(E1, "quzhou_tanrongyi", "DARK_GREEN")
    quotes = [api.post(f"/v1/banks/{BANK}/quotes", json=body(), headers=AUTH).json() for _ in range(3)]
    client: redis.Redis = core.store.redis
    report = decision_log.verify(client)
    assert report.ok and report.entries == 3
    entries = [json.loads(raw) for raw in client.lrange(hashchain.list_key(decision_log_chain(BANK)), 0, -1)]
    assert [e["seq"] for e in entries] == [1, 2, 3]
    assert entries[0]["prev_hash"] == hashchain.GENESIS
    assert entries[1]["prev_hash"] == entries[0]["hash"] == quotes[0]["decision_log_hash"]
    inputs = entries[0]["body"]["inputs"]
    assert inputs["policy_input"]["rating"]["grade"] == "DARK_GREEN"
    assert inputs["rating"]["input_digest"] == f"rating-digest-{E1}-DARK_GREEN"
    assert inputs["account"]["name"] == f"enterprises/{E1}/accounts/2025"
    assert entries[0]["body"]["outputs"]["policy_output"]["decision"] == "APPROVE"

    # Altering a stored quote is detected ...
    key = f"carbon:pricing:quote:{BANK}:{quotes[1]['name'].rsplit('/', 1)[1]}"
    original = client.get(key)
    altered = json.loads(original)
    altered["rate_adjustment_bp"] = -500
    client.set(key, json.dumps(altered))
    report = decision_log.verify(client)
    assert not report.ok and report.problems[0].problem == "QUOTE_ALTERED"
    client.set(key, original)
    assert decision_log.verify(client).ok
    # ... so is altering a log entry, even with its own hash recomputed ...
    entry = entries[1]
    entry["body"]["outputs"]["policy_output"]["rate_adjustment_bp"] = -500
    entry["hash"] = hashchain.digest(entry)
    client.lset(hashchain.list_key(decision_log_chain(BANK)), 1, hashchain.canonical_json(entry))
    problems = {p.problem for p in decision_log.verify(client).problems}
    assert "CHAIN_BROKEN" in problems
    # ... and the one verify command (with the quote check registered for this chain) exits 1.
    port = client.connection_pool.connection_kwargs["port"]
    argv = ["--redis-url", f"redis://127.0.0.1:{port}/0", "verify", "--chain", DECISION_LOG]
    assert hashchain.main(argv) == 1


def test_openapi_documents_the_api(api: TestClient) -> None:
    spec = api.get("/openapi.json").json()
    assert {
        "/v1/banks/{bank}/quotes",
        "/v1/banks/{bank}/quotes/{quote}",
        "/v1/policies:dryRun",
        "/v1/policies:activate",
    } <= set(spec["paths"])
    assert "409" in spec["paths"]["/v1/banks/{bank}/quotes"]["post"]["responses"]


def test_the_quote_threads_end_with_the_http_edge(core: Any, settings: Any, world: World) -> None:
    consent(world)
    app = create_http_app(core, settings)
    with TestClient(app) as client:
        assert client.post(f"/v1/banks/{BANK}/quotes", json=body(), headers=AUTH).status_code == 200
        threads = app.state.pricing.quote_threads
    # SIGTERM ends the edge's lifespan: its quote threads are shut down, not left to die with the process.
    with pytest.raises(RuntimeError, match="shutdown"):
        threads.submit(lambda: None)
