"""Quotes under a steady load of real processes (redis-server with appendfsync always, consent, rating,
loan-pricing with one worker per core), while a consent is revoked, a pricing worker is killed -9 and
Redis is killed -9:

- a revocation is effective within 1 s: no quote sent later than 1 s after it is priced;
- no quote without its decision-log entry and its access-audit entry in consent's chain, none twice:
  every quote acknowledged to a client is stored and logged once, every logged quote is audited once,
  every request_id made at most one quote (clients retry with the same id), every chain verifies.

Kills are aimed by events (acknowledged quotes, failed attempts), never by the clock.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis
from carbon_common import events, hashchain
from carbon_consent.projection import MAX_STALENESS_SECONDS
from carbon_devkit.checkout import copy_policy_bundle as copy_bundle
from carbon_devkit.seed import ConsentClient
from carbon_devkit.stack import Stack
from carbon_devkit.stack import start_pricing_stack as start_stack
from carbon_pricing import decision_log

from tests.pricing.audit import access_audited
from tests.pricing.load import QuoteLoad, wait_for
from tests.pricing.support import uscc

pytestmark = [pytest.mark.e2e]

BANK = "load-bank"
ENTERPRISES = [uscc(700 + i) for i in range(4)]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("pricing-load")
    # Ratings are published (below) before pricing starts: quotes read them from the projection, as in
    # production, and never call rating or accounting (nothing listens at these targets).
    running = start_stack(
        root,
        peers=("consent",),
        bundle_dir=copy_bundle(root / "bundle"),
        appendfsync="always",
        extra_env={"CARBON_RATING_TARGET": "127.0.0.1:1", "CARBON_ACCOUNTING_TARGET": "127.0.0.1:1"},
        before_pricing=publish_ratings,
    )
    try:
        yield running
    finally:
        running.stop()


def publish_ratings(stack: Stack) -> None:
    """What the rating service publishes when it rates (events.publish_rating), for every enterprise."""
    client = redis.Redis.from_url(stack.redis_url)
    with client.pipeline(transaction=True) as pipe:
        for e in ENTERPRISES:
            events.publish_rating(
                pipe,
                events.RatingChanged.create(
                    rating=f"enterprises/{e}/ratings/quzhou-four-colour",
                    enterprise=f"enterprises/{e}",
                    grade="LIGHT_GREEN",
                    scheme="quzhou-four-colour",
                    scheme_version="2024.1",
                    account=f"enterprises/{e}/accounts/2025",
                    account_period="2025",
                    input_digest=f"digest-{e}",
                    factor_set_version="cn-2024.1",
                    quality_score=Decimal("0.95"),
                    reduction_tco2=Decimal("120.5"),
                    rate_time=datetime.now(UTC),
                    account_digest=f"account-{e}",
                ),
            )
        pipe.execute()


@pytest.fixture(scope="module")
def seeded(stack: Stack) -> dict[str, Any]:
    """A bank with a RATING consent of every enterprise (its window covers the rated year 2025)."""
    consent = ConsentClient(stack.consent.target)
    key = consent.create_bank(BANK)
    consents = {}
    for e in ENTERPRISES:
        consent.create_enterprise(e)
        consents[e] = consent.grant(e, BANK, key)
    return {"consent": consent, "key": key, "consents": consents}


def body(enterprise: str) -> dict[str, object]:
    return {
        "product": "quzhou_tanrongyi",
        "enterprise": f"enterprises/{enterprise}",
        "amount_cny": "1000000.00",
        "tenor_months": 12,
        "reference_rate_pct": "3.45",
    }


def load(stack: Stack, seeded: dict[str, Any], enterprises: list[str]) -> QuoteLoad:
    return QuoteLoad(stack.pricing.http_base, BANK, seeded["key"], enterprises, body).start()


def workers(stack: Stack) -> list[int]:
    pid = stack.pricing.process.pid
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_revocation_under_load_is_refused_within_1s(stack: Stack, seeded: dict[str, Any]) -> None:
    revoked_enterprise = ENTERPRISES[3]
    running = load(stack, seeded, ENTERPRISES)
    try:
        wait_for(lambda: running.acked >= 40, "quotes acknowledged before the revocation")
        seeded["consent"].revoke(seeded["consents"][revoked_enterprise])
        revoked = time.monotonic()  # the revocation has committed
        wait_for(
            lambda: any(a.enterprise == revoked_enterprise and a.status == 403 for a in list(running.attempts)),
            "a refused quote after the revocation",
        )
        settled = running.acked
        wait_for(lambda: running.acked >= settled + 40, "the other enterprises' quotes go on")
    finally:
        running.stop()
    late = [
        a
        for a in running.attempts
        if a.enterprise == revoked_enterprise and a.status == 200 and a.sent >= revoked + MAX_STALENESS_SECONDS
    ]
    assert not late, f"{len(late)} quotes sent more than 1 s after the revocation were priced"
    refused = [a for a in running.attempts if a.enterprise == revoked_enterprise and a.sent >= revoked]
    assert refused and {a.reason for a in refused if a.status == 403} == {"CONSENT_REVOKED"}
    assert all(code in (200, 403) for code in running.final.values()), Counter(running.final.values())


def test_kill9_of_a_pricing_worker_mid_load(stack: Stack, seeded: dict[str, Any]) -> None:
    running = load(stack, seeded, ENTERPRISES[:3])
    try:
        wait_for(lambda: running.acked >= 30, "quotes acknowledged before the kill")
        before = workers(stack)
        os.kill(before[0], signal.SIGKILL)
        wait_for(lambda: before[0] not in workers(stack) and len(workers(stack)) == len(before), "a replacement")
        acked = running.acked
        wait_for(lambda: running.acked >= acked + 30, "quotes acknowledged after the kill")
    finally:
        running.stop()
    assert_every_quote_logged_and_audited_once(stack, running)


def test_kill9_of_redis_mid_load(stack: Stack, seeded: dict[str, Any]) -> None:
    running = load(stack, seeded, ENTERPRISES[:3])
    try:
        wait_for(lambda: running.acked >= 30, "quotes acknowledged before the kill")
        failed = running.failed()
        assert stack.redis is not None
        stack.redis.kill9()
        wait_for(lambda: running.failed() > failed, "clients see Redis gone")
        stack.redis.start()  # same port, data directory and appendfsync
        acked = running.acked
        wait_for(lambda: running.acked >= acked + 30, "quotes acknowledged after Redis came back")
    finally:
        running.stop()
    assert_every_quote_logged_and_audited_once(stack, running)


def assert_every_quote_logged_and_audited_once(stack: Stack, running: QuoteLoad) -> None:
    client = redis.Redis.from_url(stack.redis_url)
    audited = access_audited(stack.redis_url)
    logged = [entry.body for chain in decision_log.chains(client) for entry in hashchain.read_entries(client, chain)]
    logged_quotes = [body["outputs"]["quote"] for body in logged]
    names = Counter(q["name"] for q in logged_quotes)
    assert not [n for n, count in names.items() if count > 1], "a quote was logged twice"
    requests = Counter(q["request_id"] for q in logged_quotes)
    assert not [r for r, count in requests.items() if count > 1], "a request_id made two quotes"
    # Every quote a client was told about is stored and logged, under the name it was told.
    for request_id, name in running.quotes.items():
        assert names[name] == 1, f"acknowledged quote {name} ({request_id}) is not in the decision log"
    # Every logged quote was audited by consent, once; no decision audited twice.
    audited_quotes = Counter(b["quote"] for b in audited if b["quote"])
    assert not [q for q in names if audited_quotes[q] != 1], "a logged quote without exactly one audit entry"
    decisions = Counter(b["decision_id"] for b in audited)
    assert not [d for d, count in decisions.items() if count > 1], "an access decision was audited twice"
    for chain in [*decision_log.chains(client), "consent:audit"]:
        report = hashchain.verify_known(client, chain)
        assert report.ok, report.to_dict()
    assert decision_log.verify(client).ok
