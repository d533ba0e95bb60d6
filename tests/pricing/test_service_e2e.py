"""loan-pricing as a real process, with real consent / accounting / rating
processes and Redis: both edges (REST and gRPC), consent enforcement,
tenancy, idempotency, the decision log CLI and hot reload.

Seeding goes through the consent service's real gRPC API. Grades come from the
real rating service, so the tests assert what the policy must do with whatever
grade the rating service returns (the grade-by-grade matrix of the policies is
in test_quotes_inprocess.py, against the same engine and core).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
import redis
from carbon.v1 import pricing_pb2, pricing_pb2_grpc
from carbon_common import events, hashchain
from carbon_devkit.checkout import copy_policy_bundle as copy_bundle
from carbon_devkit.credentials import PRICING_ADMIN_TOKEN as PRICING_ADMIN
from carbon_devkit.processes import start_service
from carbon_devkit.seed import ConsentClient, Seeder
from carbon_devkit.stack import Stack
from carbon_devkit.stack import start_pricing_stack as start_stack
from carbon_pricing import decision_log
from carbon_pricing.store import decision_log_chain
from carbon_pricing.workers import usable_cores
from google.rpc import error_details_pb2
from google.type import decimal_pb2
from grpc_status import rpc_status

from tests.pricing.audit import access_audited
from tests.pricing.support import uscc
from tests.support import fresh

pytestmark = [pytest.mark.e2e]


BANK = "qujiang-rcb"
OTHER = "other-bank"
PEERS = ("consent", "ingest-tax", "accounting", "rating")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("pricing-e2e")
    bundle = copy_bundle(root / "bundle")
    running = start_stack(root, peers=PEERS, bundle_dir=bundle, extra_env={"CARBON_BUNDLE_POLL_SECONDS": "0.2"})
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def seeded(stack: Stack) -> dict[str, Any]:
    consent = ConsentClient(stack.processes["consent"].target)
    keys = {BANK: consent.create_bank(BANK), OTHER: consent.create_bank(OTHER)}
    enterprises = [uscc(900 + i) for i in range(4)]
    for e in enterprises:
        consent.create_enterprise(e)
    consents = {e: consent.grant(e, BANK, keys[BANK]) for e in enterprises[:3]}
    return {"consent": consent, "keys": keys, "enterprises": enterprises, "consents": consents}


def quote_body(enterprise: str, product: str = "quzhou_tanrongyi", **overrides: Any) -> dict[str, Any]:
    return {
        "request_id": uuid.uuid4().hex,
        "product": product,
        "enterprise": f"enterprises/{enterprise}",
        "amount_cny": "1000000.00",
        "tenor_months": 12,
        "reference_rate_pct": "3.45",
        **overrides,
    }


def post_once(
    stack: Stack, key: str, body: dict[str, Any], bank: str = BANK, client: httpx.Client | None = None
) -> httpx.Response:
    """One quote; through `client` (one keep-alive connection: one worker process) if given."""
    return (client or httpx).post(
        f"{stack.pricing.http_base}/v1/banks/{bank}/quotes",
        json=body,
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )


def post(
    stack: Stack, key: str, body: dict[str, Any], bank: str = BANK, client: httpx.Client | None = None
) -> httpx.Response:
    """A quote, retried while pricing's consent projection is stale (fail closed; tests.support.fresh)."""
    return fresh.rest(lambda: post_once(stack, key, body, bank, client))


def reason_of(response: httpx.Response) -> str:
    return next(d["reason"] for d in response.json()["error"]["details"] if d["@type"].endswith("ErrorInfo"))


def grpc_reason(error: grpc.RpcError) -> str:
    status = rpc_status.from_call(error)
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info.reason
    return ""


@pytest.fixture(scope="module")
def grpc_stub(stack: Stack) -> pricing_pb2_grpc.PricingServiceStub:
    return pricing_pb2_grpc.PricingServiceStub(grpc.insecure_channel(stack.pricing.target))


def grpc_request(enterprise: str, request_id: str | None = None, bank: str = BANK) -> pricing_pb2.CreateQuoteRequest:
    return pricing_pb2.CreateQuoteRequest(
        parent=f"banks/{bank}",
        request_id=request_id or uuid.uuid4().hex,
        quote=pricing_pb2.Quote(
            product="wuyi_jiantandai",
            enterprise=f"enterprises/{enterprise}",
            amount_cny=decimal_pb2.Decimal(value="500000.00"),
            tenor_months=24,
            reference_rate_pct=decimal_pb2.Decimal(value="3.10"),
        ),
    )


# ---------------------------------------------------------------- identity & consent


def test_unauthenticated_bank_rest_and_grpc(stack: Stack, seeded: dict[str, Any], grpc_stub: Any) -> None:
    e = seeded["enterprises"][0]
    response = post(stack, "ck_not_a_key", quote_body(e))
    assert response.status_code == 401 and reason_of(response) == "UNAUTHENTICATED_BANK"
    with pytest.raises(grpc.RpcError) as caught:
        fresh.grpc_call(lambda: grpc_stub.CreateQuote(grpc_request(e)))
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert grpc_reason(caught.value) == "UNAUTHENTICATED_BANK"


def test_no_consent_is_denied_at_both_edges(stack: Stack, seeded: dict[str, Any], grpc_stub: Any) -> None:
    e = seeded["enterprises"][3]  # no consent granted to the bank
    key = seeded["keys"][BANK]
    response = post(stack, key, quote_body(e))
    assert response.status_code == 403 and reason_of(response) == "CONSENT_REQUIRED"
    with pytest.raises(grpc.RpcError) as caught:
        fresh.grpc_call(lambda: grpc_stub.CreateQuote(grpc_request(e), metadata=(("authorization", f"Bearer {key}"),)))
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert grpc_reason(caught.value) == "CONSENT_REQUIRED"


def test_cross_tenant_is_denied(stack: Stack, seeded: dict[str, Any], grpc_stub: Any) -> None:
    e = seeded["enterprises"][0]
    response = post(stack, seeded["keys"][OTHER], quote_body(e), bank=BANK)
    assert response.status_code == 403 and reason_of(response) == "CROSS_TENANT"
    with pytest.raises(grpc.RpcError) as caught:
        grpc_stub.ListQuotes(
            pricing_pb2.ListQuotesRequest(parent=f"banks/{BANK}"),
            metadata=(("authorization", f"Bearer {seeded['keys'][OTHER]}"),),
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    # The other bank holds no consent of its own either.
    response = post(stack, seeded["keys"][OTHER], quote_body(e), bank=OTHER)
    assert response.status_code == 403 and reason_of(response) == "CONSENT_REQUIRED"


def test_invalid_request_is_400_with_field(stack: Stack, seeded: dict[str, Any]) -> None:
    response = post(stack, seeded["keys"][BANK], quote_body(seeded["enterprises"][0], amount_cny="-5"))
    assert response.status_code == 400
    details = response.json()["error"]["details"]
    bad = next(d for d in details if d["@type"].endswith("BadRequest"))
    assert bad["fieldViolations"][0]["field"] == "amount_cny"


def test_missing_rating_refers_and_revocation_bites(stack: Stack, seeded: dict[str, Any]) -> None:
    """Enterprise 2 has consent but no carbon account: the rating service has no
    rating, and the policy refers (RATING_MISSING). After the enterprise revokes,
    no quote is priced later than 1 s after it (pricing decides on its projection of consent's
    events), and refusals say CONSENT_REVOKED."""
    e = seeded["enterprises"][2]
    key = seeded["keys"][BANK]
    response = post(stack, key, quote_body(e))
    assert response.status_code == 200, response.text
    quote = response.json()
    assert quote["decision"] == "REFER"
    assert quote["reasons"][0]["code"] == "RATING_MISSING"
    assert quote["grade"] == "" and quote["scheme_id"] == "quzhou-four-colour"
    seeded["consent"].revoke(seeded["consents"][e])
    revoked = time.monotonic()
    while True:
        sent = time.monotonic()
        response = post(stack, key, quote_body(e))
        if response.status_code != 200:
            break
        assert sent - revoked < 1.0, "a quote was priced more than 1 s after the revocation"
    assert response.status_code == 403 and reason_of(response) == "CONSENT_REVOKED"


def test_idempotency_grpc_and_rest_agree(stack: Stack, seeded: dict[str, Any], grpc_stub: Any) -> None:
    e = seeded["enterprises"][0]
    key = seeded["keys"][BANK]
    metadata = (("authorization", f"Bearer {key}"),)
    request = grpc_request(e, "grpc-" + uuid.uuid4().hex)
    first = fresh.grpc_call(lambda: grpc_stub.CreateQuote(request, metadata=metadata))
    again = fresh.grpc_call(lambda: grpc_stub.CreateQuote(request, metadata=metadata))
    assert first == again
    assert first.name.startswith(f"banks/{BANK}/quotes/")
    assert first.final_rate_pct.value  # exact decimal string
    changed = grpc_request(e, request.request_id)
    changed.quote.tenor_months = 36
    with pytest.raises(grpc.RpcError) as caught:
        fresh.grpc_call(lambda: grpc_stub.CreateQuote(changed, metadata=metadata))
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert grpc_reason(caught.value) == "REQUEST_ID_REUSED"
    # The same quote over REST.
    got = httpx.get(f"{stack.pricing.http_base}/v1/{first.name}", headers={"Authorization": f"Bearer {key}"}).json()
    assert got["decision_log_hash"] == first.decision_log_hash
    assert got["final_rate_pct"] == first.final_rate_pct.value
    fetched = grpc_stub.GetQuote(pricing_pb2.GetQuoteRequest(name=first.name), metadata=metadata)
    assert fetched == first
    listed = grpc_stub.ListQuotes(
        pricing_pb2.ListQuotesRequest(parent=f"banks/{BANK}", page_size=100), metadata=metadata
    )
    assert first.name in [q.name for q in listed.quotes]


def test_decision_log_verify_cli_against_the_running_stack(stack: Stack, seeded: dict[str, Any]) -> None:
    """One chain per bank; the one command verifies every bank's chain (and the stored quotes)."""
    e = seeded["enterprises"][1]
    for _ in range(3):
        assert post(stack, seeded["keys"][BANK], quote_body(e, product="shenzhen_jiangtandai")).status_code == 200
    command = [sys.executable, "-m", "carbon_common.hashchain", "--redis-url", stack.redis_url]
    command += ["verify", "--chain", "pricing:decision_log"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    reports = {r["chain"]: r for r in map(json.loads, result.stdout.strip().splitlines())}
    ours = decision_log_chain(BANK)
    assert all(r["ok"] for r in reports.values()) and reports[ours]["entries"] >= 3

    client = redis.Redis.from_url(stack.redis_url)
    raw = client.lindex(hashchain.list_key(ours), 0)
    entry = json.loads(raw)
    entry["body"]["inputs"]["policy_input"]["request"]["amount_cny"] = "1.00"
    client.lset(hashchain.list_key(ours), 0, json.dumps(entry))
    try:
        tampered = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert tampered.returncode == 1
        reports = {r["chain"]: r for r in map(json.loads, tampered.stdout.strip().splitlines())}
        assert reports[ours]["problems"][0]["problem"] == "HASH_MISMATCH"
        assert f"BROKEN {ours} at seq 1" in tampered.stderr
    finally:
        client.lset(hashchain.list_key(ours), 0, raw)


def test_policy_hot_reload_and_activation_in_the_process(stack: Stack, tmp_path: Path) -> None:
    """Each worker process reloads and activates on its own (file poll, Redis pub/sub): one keep-alive
    connection talks to one worker throughout."""
    base = stack.pricing.http_base
    admin = {"Authorization": f"Bearer {PRICING_ADMIN}"}
    with httpx.Client(base_url=base, timeout=30) as worker:
        before = worker.get("/healthz").json()["policy_bundle_version"]
        bundle = Path(stack.pricing.env["CARBON_BUNDLE_DIR"])
        manifest = bundle / ".manifest"
        manifest.write_text(json.dumps({"revision": "edited-in-place"}))
        deadline = time.monotonic() + 10
        version = before
        while version == before and time.monotonic() < deadline:
            time.sleep(0.1)
            version = worker.get("/healthz").json()["policy_bundle_version"]
        assert version.startswith("edited-in-place@")
        response = worker.post(
            "/v1/policies:activate",
            headers=admin,
            json={"overlay": True, "revision": "activated-e2e", "expected_active_version": version},
        )
        assert response.status_code == 200, response.text
        assert worker.get("/healthz").json()["policy_bundle_version"].startswith("activated-e2e@")
        dry = worker.post("/v1/policies:dryRun", headers=admin, json={"overlay": True, "limit": 5})
        assert dry.status_code == 200 and dry.json()["summary"]["changed"] == 0


def _population_settled(stack: Stack, quiet: float = 2.5, timeout: float = 30) -> None:
    """Wait until rating's population (fed by the accounts stream) has not moved for `quiet` seconds, so every
    replica's benchmark view (rebuilt every 2 s) is the final one."""
    import redis

    client = redis.Redis.from_url(stack.redis_url)
    deadline = time.monotonic() + timeout
    epoch, since = client.get("carbon:rating:population:epoch"), time.monotonic()
    while time.monotonic() - since < quiet:
        assert time.monotonic() < deadline, "the rating population keeps moving"
        time.sleep(0.1)
        current = client.get("carbon:rating:population:epoch")
        if current != epoch:
            epoch, since = current, time.monotonic()


def _logged_rating(stack: Stack, quote_name: str) -> dict[str, Any]:
    bank = quote_name.split("/")[1]
    for entry in hashchain.read_entries(redis.Redis.from_url(stack.redis_url), decision_log_chain(bank)):
        if entry.body["quote"] == quote_name:
            return dict(entry.body["inputs"]["rating"])
    raise AssertionError(f"{quote_name} is not in the decision log")


def test_a_cached_rating_keeps_its_rate_time_and_the_stale_rule_applies(stack: Stack, seeded: dict[str, Any]) -> None:
    """A real account (consent -> ingest-tax -> accounting) rated by the real rating service: the rating is
    computed once and served from the cache with the time it was computed, so it ages; with the product's
    maximum age set below that age (policy data, activated in the running process) the quote refers as
    RATING_STALE, and with the shipped 90 days it does not."""
    e = uscc(950)
    seeder = Seeder.for_stack(stack)
    try:
        account = seeder.account(e, "2025", tco2="300", value_added="2000000", region="330802")
    finally:
        seeder.close()
    key = seeded["keys"][BANK]
    seeded["consent"].grant(e, BANK, key)
    _population_settled(stack)
    first = post(stack, key, quote_body(e))
    assert first.status_code == 200, first.text
    assert first.json()["grade"] and first.json()["account_period"] == "2025"
    assert first.json()["rating_age_days"] == 0
    assert "RATING_STALE" not in [r["code"] for r in first.json()["reasons"]]
    # The rating service published what it rated (the event, and the latest-message hash pricing's
    # projection snapshots from): later quotes price on it without a call.
    client = redis.Redis.from_url(stack.redis_url)
    raw = client.hget(events.RATINGS_LATEST_KEY, f"enterprises/{e}/ratings/{first.json()['scheme_id']}")
    assert raw is not None
    latest = events.RATINGS.decode(json.loads(raw))
    assert (latest.grade, latest.account_period) == (first.json()["grade"], "2025")
    assert latest.account_digest and latest.quality_score is not None
    assert any(events.RATINGS.decode(f).rating == latest.rating for _, f in client.xrange(events.RATINGS.name))
    time.sleep(1.1)
    second = post(stack, key, quote_body(e))
    assert second.status_code == 200, second.text
    rated_first, rated_second = (
        _logged_rating(stack, first.json()["name"]),
        _logged_rating(stack, second.json()["name"]),
    )
    assert rated_first["rate_time"] == rated_second["rate_time"]  # the same computed rating, not re-rated
    assert rated_first["input_digest"] == rated_second["input_digest"]

    admin = {"Authorization": f"Bearer {PRICING_ADMIN}"}
    data_path = Path(stack.pricing.env["CARBON_BUNDLE_DIR"]) / "quzhou_tanrongyi" / "data.json"
    shipped = data_path.read_text()
    stale = json.loads(shipped)
    stale["params"]["max_rating_age_days"] = -1  # any computed rating is older than this
    # Activation and the quote through one connection: the worker that activated prices with it (the
    # other workers follow by pub/sub).
    with httpx.Client(base_url=stack.pricing.http_base, timeout=30) as worker:
        activated = worker.post(
            "/v1/policies:activate",
            headers=admin,
            json={"overlay": True, "revision": "stale-e2e", "files": {"quzhou_tanrongyi/data.json": json.dumps(stale)}},
        )
        assert activated.status_code == 200, activated.text
        try:
            third = post(stack, key, quote_body(e), client=worker)
            assert third.status_code == 200, third.text
            assert third.json()["decision"] == "REFER"
            assert "RATING_STALE" in [r["code"] for r in third.json()["reasons"]]
            assert _logged_rating(stack, third.json()["name"])["rate_time"] == rated_first["rate_time"]
        finally:
            restored = worker.post(
                "/v1/policies:activate",
                headers=admin,
                json={"overlay": True, "revision": "restored-e2e", "files": {"quzhou_tanrongyi/data.json": shipped}},
            )
            assert restored.status_code == 200, restored.text
    assert account.name == f"enterprises/{e}/accounts/2025"


# ---------------------------------------------------------------- workers


def test_workers_share_the_ports_and_a_killed_one_is_replaced(stack: Stack, seeded: dict[str, Any]) -> None:
    """One worker process per core behind the same ports; kill -9 of one: the others keep serving and
    the supervisor starts a replacement, which serves once it has warmed up."""
    pid = stack.pricing.process.pid

    def workers() -> list[int]:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]

    first = workers()
    assert len(first) == usable_cores()
    os.kill(first[0], signal.SIGKILL)
    deadline = time.monotonic() + 120
    while first[0] in workers() or len(workers()) < len(first):
        assert time.monotonic() < deadline, "the killed worker was not replaced"
        time.sleep(0.05)
    e, key = seeded["enterprises"][0], seeded["keys"][BANK]
    answers = [post(stack, key, quote_body(e)).status_code for _ in range(20)]
    assert all(code == 200 for code in answers), answers


def test_consent_killed_refuses_then_resumes_and_every_quote_is_audited_once(
    stack: Stack, seeded: dict[str, Any]
) -> None:
    """kill -9 of consent while quoting: quotes turn UNAVAILABLE CONSENT_PROJECTION_STALE once the last
    heartbeat is older than 1 s, and are priced again when consent is back. Afterwards consent has
    audited every quote ever stored (including those priced while it was down) exactly once."""
    e, key = seeded["enterprises"][1], seeded["keys"][BANK]
    assert post(stack, key, quote_body(e)).status_code == 200
    consent = stack.processes["consent"]
    consent.process.kill()
    consent.process.wait()
    killed = time.monotonic()
    while True:
        sent = time.monotonic()
        response = post_once(stack, key, quote_body(e))
        if response.status_code != 200:
            break
        assert sent - killed < 1.0, "priced more than 1 s after consent's heartbeats stopped"
    assert response.status_code == 503 and reason_of(response) == "CONSENT_PROJECTION_STALE"
    stack.processes["consent"] = start_service(
        "consent", consent.env, stack.root / "logs", ports=(consent.grpc_port, consent.http_port)
    )
    deadline = time.monotonic() + 60
    while post_once(stack, key, quote_body(e)).status_code != 200:
        assert time.monotonic() < deadline, "quotes did not resume after consent came back"
        time.sleep(0.1)

    audited = access_audited(stack.redis_url)
    client = redis.Redis.from_url(stack.redis_url)
    decisions = [body["decision_id"] for body in audited]
    assert len(decisions) == len(set(decisions)), "an access decision was audited twice"
    audited_quotes = [body["quote"] for body in audited if body["quote"]]
    assert len(audited_quotes) == len(set(audited_quotes))
    logged = [
        entry.body["quote"] for chain in decision_log.chains(client) for entry in hashchain.read_entries(client, chain)
    ]
    assert set(logged) <= set(audited_quotes), set(logged) - set(audited_quotes)
    assert hashchain.verify(client, "consent:audit").ok
