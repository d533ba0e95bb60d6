"""Every access decision pricing takes reaches consent's audit: an allowed one in the very Redis
transaction that stores the quote and its decision-log entry, the others (denials, replays) alone."""

from __future__ import annotations

from typing import Any

import redis
from carbon_common import events, hashchain
from carbon_pricing.store import decision_log_chain
from fastapi.testclient import TestClient

from tests.pricing.support import World
from tests.pricing.test_quotes_inprocess import AUTH, BANK, E1, body, consent


def access_events(core: Any) -> list[events.AccessDecided]:
    client: redis.Redis = core.store.redis
    return [events.ACCESS.decode(fields) for _, fields in client.xrange(events.ACCESS.name)]


def test_quote_carries_its_access_decision(api: TestClient, world: World, core: Any) -> None:
    consent(world)
    world.rate(E1, "quzhou_tanrongyi", "DARK_GREEN")
    quote = api.post(f"/v1/banks/{BANK}/quotes", json=body(), headers=AUTH).json()
    [access] = access_events(core)
    assert (access.bank, access.enterprise, access.scope, access.allowed) == (
        f"banks/{BANK}",
        f"enterprises/{E1}",
        "RATING",
        True,
    )
    assert access.quote == quote["name"]
    assert access.consent == f"enterprises/{E1}/consents/c-{BANK}"
    assert access.consent_position == "1-0"
    # The period checked is the account's year 2025 in China time.
    assert access.data_start is not None and access.data_start.isoformat() == "2025-01-01T00:00:00+08:00"
    [entry] = hashchain.read_entries(core.store.redis, decision_log_chain(BANK))
    assert entry.body["access_decision"] == access.decision_id
    assert entry.body["consent_position"] == "1-0"
    assert world.recorded == []  # nothing audited outside the quote's transaction


def test_denial_and_replay_are_audited_alone(api: TestClient, world: World, core: Any) -> None:
    world.rate(E1, "quzhou_tanrongyi", "DARK_GREEN")
    request = body()
    assert api.post(f"/v1/banks/{BANK}/quotes", json=request, headers=AUTH).status_code == 403
    [denied] = world.recorded
    assert not denied.allowed and denied.reason == "CONSENT_REQUIRED"
    consent(world)
    assert api.post(f"/v1/banks/{BANK}/quotes", json=request, headers=AUTH).status_code == 200
    assert api.post(f"/v1/banks/{BANK}/quotes", json=request, headers=AUTH).status_code == 200  # replay
    assert len(world.recorded) == 2 and world.recorded[1].allowed
    assert len(access_events(core)) == 1  # only the quote that was stored carries one
