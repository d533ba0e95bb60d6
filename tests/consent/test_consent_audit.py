"""The hash-chained audit log: every change and decision recorded; tampering detected."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta

import redis
from carbon_common.hashchain import digest, head_key, list_key
from carbon_consent.audit import CHAIN, AuditLog, verify
from carbon_consent.core import ConsentRequest
from carbon_consent.domain import Action, Purpose, Scope

from tests.consent.helpers import ADMIN, SERVICE, make_uscc

LIST_KEY, HEAD_KEY = list_key(CHAIN), head_key(CHAIN)


def _populate(components, clock) -> str:  # type: ignore[no-untyped-def]
    core = components.core
    uscc = make_uscc()
    core.create_enterprise(ADMIN, uscc, "示例", "C2611", "330000", "330800")
    core.create_bank(ADMIN, "bank-a", "Bank A")
    req = ConsentRequest(
        grantee="banks/bank-a",
        scopes=[Scope.RATING],
        purpose=Purpose.CREDIT_ASSESSMENT,
        data_start=clock.now - timedelta(days=365),
        data_end=clock.now + timedelta(days=30),
        expire_time=clock.now + timedelta(days=30),
    )
    consent, _ = core.create_consent(ADMIN, uscc, req)
    core.transition(ADMIN, uscc, consent.id, Action.AUTHORIZE, "ok")
    core.check_access(SERVICE, uscc, "banks/bank-a", Scope.RATING, None)
    core.transition(ADMIN, uscc, consent.id, Action.REVOKE, "bye")
    core.check_access(SERVICE, uscc, "banks/bank-a", Scope.RATING, None)
    return uscc


def _cli(url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "carbon_common.hashchain", "--redis-url", url, "verify", "--chain", CHAIN],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_every_event_and_decision_is_chained(components, clock, redis_url: str) -> None:  # type: ignore[no-untyped-def]
    _populate(components, clock)
    client = redis.Redis.from_url(redis_url)
    entries = [json.loads(raw) for raw in client.lrange(LIST_KEY, 0, -1)]
    assert [e["kind"] for e in entries] == [
        "ENTERPRISE_CREATED",
        "BANK_CREATED",
        "CONSENT_REQUESTED",
        "CONSENT_AUTHORIZED",
        "ACCESS_CHECKED",
        "CONSENT_REVOKED",
        "ACCESS_CHECKED",
    ]
    assert [e["seq"] for e in entries] == list(range(1, 8))
    assert entries[4]["body"]["allowed"] is True and entries[6]["body"]["reason"] == "CONSENT_REVOKED"
    assert entries[5]["body"]["actor"] == "admin" and entries[5]["body"]["reason"] == "bye"
    for prev, entry in zip([None, *entries], entries, strict=False):
        assert entry["hash"] == digest(entry) and entry["v"] == 2 and entry["chain"] == CHAIN
        assert entry["prev_hash"] == (prev["hash"] if prev else "0" * 64)
    assert verify(client).ok
    result = _cli(redis_url)
    assert result.returncode == 0, result.stderr
    assert "7 entries" in result.stderr and json.loads(result.stdout)["ok"]


def test_verify_detects_an_altered_entry(components, clock, redis_url: str) -> None:  # type: ignore[no-untyped-def]
    _populate(components, clock)
    client = redis.Redis.from_url(redis_url)
    entry = json.loads(client.lindex(LIST_KEY, 4))
    entry["body"]["allowed"] = False
    client.lset(LIST_KEY, 4, json.dumps(entry))
    result = _cli(redis_url)
    assert result.returncode != 0
    assert "seq 5" in result.stderr
    # even with its own hash recomputed, the next link breaks
    entry["hash"] = digest(entry)
    client.lset(LIST_KEY, 4, json.dumps(entry))
    outcome = verify(client)
    assert not outcome.ok and outcome.first_bad_seq == 6
    assert _cli(redis_url).returncode != 0


def test_verify_detects_a_deleted_entry(components, clock, redis_url: str) -> None:  # type: ignore[no-untyped-def]
    _populate(components, clock)
    client = redis.Redis.from_url(redis_url)
    client.lrem(LIST_KEY, 1, client.lindex(LIST_KEY, 2))
    result = _cli(redis_url)
    assert result.returncode != 0 and "seq 3" in result.stderr


def test_verify_detects_a_removed_last_entry(components, clock, redis_url: str) -> None:  # type: ignore[no-untyped-def]
    _populate(components, clock)
    client = redis.Redis.from_url(redis_url)
    client.rpop(LIST_KEY)
    result = _cli(redis_url)
    assert result.returncode != 0 and "seq 7" in result.stderr


def test_verify_detects_reordered_entries(components, clock, redis_url: str) -> None:  # type: ignore[no-untyped-def]
    _populate(components, clock)
    client = redis.Redis.from_url(redis_url)
    third, fourth = client.lindex(LIST_KEY, 2), client.lindex(LIST_KEY, 3)
    client.lset(LIST_KEY, 2, fourth)
    client.lset(LIST_KEY, 3, third)
    result = _cli(redis_url)
    assert result.returncode != 0 and "seq 3" in result.stderr


def test_concurrent_writers_cannot_fork_the_chain(redis_url: str) -> None:
    """Several independent writers (as separate replicas would be) append at once."""
    logs = [AuditLog(redis.Redis.from_url(redis_url)) for _ in range(4)]
    now = datetime(2026, 1, 1, tzinfo=UTC)

    def write(log: AuditLog, n: int) -> None:
        for i in range(50):
            log.append("TEST", {"writer": n, "i": i}, now)

    threads = [threading.Thread(target=write, args=(log, n)) for n, log in enumerate(logs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    client = redis.Redis.from_url(redis_url)
    outcome = verify(client)
    assert outcome.ok and outcome.entries == 200
    assert client.get(HEAD_KEY).decode().startswith("200:")
