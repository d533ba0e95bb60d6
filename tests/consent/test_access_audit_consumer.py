"""Consent's consumer of pricing's access decisions (carbon:events:access -> the consent audit chain):
each decision exactly once, nothing acknowledged before it is in the chain, abandoned entries taken
over, only acknowledged entries trimmed."""

from __future__ import annotations

from datetime import UTC, datetime

import redis
from carbon_common import events, hashchain
from carbon_consent.access_audit import GROUP, KIND, AccessAuditor
from carbon_consent.audit import CHAIN, AuditLog


def decision(decision_id: str, allowed: bool = True) -> events.AccessDecided:
    return events.AccessDecided.create(
        decision_id=decision_id,
        bank="banks/a",
        enterprise="enterprises/91330802MA2DHT2W4Y",
        scope="RATING",
        data_start=datetime(2024, 12, 31, 16, tzinfo=UTC),
        data_end=datetime(2025, 12, 31, 16, tzinfo=UTC),
        consent="enterprises/91330802MA2DHT2W4Y/consents/c1" if allowed else "",
        allowed=allowed,
        reason="" if allowed else "CONSENT_REVOKED",
        quote="banks/a/quotes/q1" if allowed else "",
        consent_position="1700000000000-0",
        time=datetime.now(UTC),
    )


def audited(client: redis.Redis) -> list[hashchain.Entry]:
    return [e for e in hashchain.read_entries(client, CHAIN) if e.kind == KIND]


def drain(auditor: AccessAuditor) -> None:
    while auditor.drain(block_ms=None):
        pass


def test_each_decision_once_even_when_delivered_twice(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    auditor = AccessAuditor(client, AuditLog(client))
    auditor.ensure_group()
    events.ACCESS.add(client, decision("d1"))
    events.ACCESS.add(client, decision("d2", allowed=False))
    events.ACCESS.add(client, decision("d1"))  # pricing re-recorded a decision whose quote did commit
    drain(auditor)
    entries = audited(client)
    assert [e.body["decision_id"] for e in entries] == ["d1", "d2"]
    assert entries[1].body["allowed"] is False and entries[1].body["reason"] == "CONSENT_REVOKED"
    assert entries[0].body["data_period"] == ["2024-12-31T16:00:00+00:00", "2025-12-31T16:00:00+00:00"]
    assert (auditor.appended, auditor.duplicates) == (2, 1)
    assert client.xpending(events.ACCESS.name, GROUP)["pending"] == 0
    assert hashchain.verify(client, CHAIN).ok


def test_crash_before_ack_is_recorded_once_after_restart(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    first = AccessAuditor(client, AuditLog(client))
    first.ensure_group()
    events.ACCESS.add(client, decision("d1"))
    # The first consumer reads and appends, then dies before XACK.
    [(_, [(entry_id, _fields)])] = client.xreadgroup(GROUP, first.consumer, {events.ACCESS.name: ">"}, count=1)
    first.audit.append_with(
        KIND,
        {"decision_id": "d1"},
        datetime.now(UTC),
        lambda _e: [hashchain.Write("SET", "carbon:consent:access_seen:d1", (entry_id,))],
        guards=[hashchain.Guard("carbon:consent:access_seen:d1", absent=True)],
    )
    # Another process takes the abandoned entry over and acknowledges it without a second entry.
    second = AccessAuditor(client, AuditLog(client), claim_idle_ms=0)
    second.consumer = "other"
    second.claim_abandoned()
    drain(second)
    assert len(audited(client)) == 1 and second.duplicates == 1
    assert client.xpending(events.ACCESS.name, GROUP)["pending"] == 0


def test_unread_entries_are_never_trimmed(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    auditor = AccessAuditor(client, AuditLog(client))
    auditor.ensure_group()
    for i in range(3):
        events.ACCESS.add(client, decision(f"d{i}"))
    drain(auditor)
    events.ACCESS.add(client, decision("unread"))
    auditor.trim_acknowledged()
    left = [events.ACCESS.decode(f).decision_id for _, f in client.xrange(events.ACCESS.name)]
    assert left == ["d2", "unread"]  # acknowledged ones go (the last delivered id stays), the unread one stays
    drain(auditor)
    assert [e.body["decision_id"] for e in audited(client)] == ["d0", "d1", "d2", "unread"]


def test_a_batch_is_one_chain_append(redis_url: str) -> None:
    """What one read brings is audited in one compare-and-set (consent's CPU per quote under load)."""
    client = redis.Redis.from_url(redis_url)
    auditor = AccessAuditor(client, AuditLog(client))
    auditor.ensure_group()
    for i in range(50):
        events.ACCESS.add(client, decision(f"b{i}"))
    events.ACCESS.add(client, decision("b7"))  # the same decision twice in one batch
    drain(auditor)
    assert [e.body["decision_id"] for e in audited(client)] == [f"b{i}" for i in range(50)]
    assert (auditor.appends, auditor.appended, auditor.duplicates) == (1, 50, 1)
    assert client.xpending(events.ACCESS.name, GROUP)["pending"] == 0
    assert hashchain.verify(client, CHAIN).ok


class Racing(AccessAuditor):
    """Another consumer audits `raced` after this one checked the markers, before its append."""

    raced = "r3"

    def _seen(self, decision_ids: list[str]) -> set[str]:
        seen = super()._seen(decision_ids)
        if self.raced in decision_ids:
            self.audit.append_with(
                KIND,
                {"decision_id": self.raced},
                datetime.now(UTC),
                lambda _e: [hashchain.Write("SET", f"carbon:consent:access_seen:{self.raced}", ("other",))],
                guards=[hashchain.Guard(f"carbon:consent:access_seen:{self.raced}", absent=True)],
            )
        return seen


def test_a_guard_failing_in_a_batch_drops_only_that_decision(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    auditor = Racing(client, AuditLog(client))
    auditor.ensure_group()
    for i in range(6):
        events.ACCESS.add(client, decision(f"r{i}"))
    drain(auditor)
    ids = [e.body["decision_id"] for e in audited(client)]
    assert sorted(ids) == [f"r{i}" for i in range(6)] and ids.count("r3") == 1
    assert (auditor.appended, auditor.duplicates) == (5, 1)
    assert client.xpending(events.ACCESS.name, GROUP)["pending"] == 0
    assert hashchain.verify(client, CHAIN).ok


def test_an_entry_not_understood_stays_pending_and_does_not_hold_up_the_rest(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    auditor = AccessAuditor(client, AuditLog(client))
    auditor.ensure_group()
    events.ACCESS.add(client, decision("u1"))
    bad = client.xadd(events.ACCESS.name, {"version": "99", "decision_id": "from-the-future"})
    events.ACCESS.add(client, decision("u2"))
    drain(auditor)
    assert [e.body["decision_id"] for e in audited(client)] == ["u1", "u2"]
    pending = client.xpending_range(events.ACCESS.name, GROUP, "-", "+", 10)
    assert [p["message_id"] for p in pending] == [bad]
    # After a restart the consumer walks its pending entries again, leaves the bad one, and goes on.
    restarted = AccessAuditor(client, AuditLog(client))
    restarted.consumer = auditor.consumer
    events.ACCESS.add(client, decision("u3"))
    drain(restarted)
    assert [e.body["decision_id"] for e in audited(client)] == ["u1", "u2", "u3"]
    assert [p["message_id"] for p in client.xpending_range(events.ACCESS.name, GROUP, "-", "+", 10)] == [bad]
