"""Pricing's projection of published ratings (carbon_pricing.ratings): quotes read ratings and the
account facts a policy needs from carbon:events:ratings, not from a call per quote."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import redis
from carbon_common import events
from carbon_pricing.ratings import RatingProjection

from tests.pricing.support import World, uscc

E = uscc(7)


def published(grade: str, digest: str) -> events.RatingChanged:
    return events.RatingChanged.create(
        rating=f"enterprises/{E}/ratings/quzhou-four-colour",
        enterprise=f"enterprises/{E}",
        grade=grade,
        scheme="quzhou-four-colour",
        scheme_version="2024.1",
        account=f"enterprises/{E}/accounts/2025",
        account_period="2025",
        input_digest=digest,
        factor_set_version="cn-2024.1",
        quality_score=Decimal("0.95"),
        reduction_tco2=Decimal("120.5"),
        rate_time=datetime(2026, 5, 1, tzinfo=UTC),
        account_digest="account-digest",
    )


def publish(client: redis.Redis, message: events.RatingChanged) -> None:
    """What the rating service does when it stores a rating (one transaction)."""
    with client.pipeline(transaction=True) as pipe:
        events.publish_rating(pipe, message)
        pipe.execute()


def test_quotes_read_published_ratings_without_a_call(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    world = World()
    projection = RatingProjection(client, world, world)
    projection.snapshot()
    publish(client, published("LIGHT_GREEN", "d1"))
    projection.catch_up()
    facts = projection.rating(E, "quzhou-four-colour")
    assert facts is not None and (facts.grade, facts.period, facts.input_digest) == ("LIGHT_GREEN", "2025", "d1")
    account = projection.account(facts.account, facts.input_digest)
    assert account is not None and (account.reduction_tco2, account.quality_score) == (
        Decimal("120.5"),
        Decimal("0.95"),
    )
    assert account.input_digest == "account-digest"
    publish(client, published("DARK_GREEN", "d2"))  # re-rated after an account change
    projection.catch_up()
    assert projection.rating(E, "quzhou-four-colour").grade == "DARK_GREEN"  # type: ignore[union-attr]
    assert world.calls.get("rating", 0) == 0 and projection.misses == 0


def test_snapshot_survives_a_trimmed_stream_and_misses_fall_back(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    publish(client, published("YELLOW", "d1"))
    client.delete(events.RATINGS.name)  # trimmed away: the latest-message hash still has it
    world = World()
    projection = RatingProjection(client, world, world)
    projection.snapshot()
    assert projection.rating(E, "quzhou-four-colour").grade == "YELLOW"  # type: ignore[union-attr]
    assert projection.rating(uscc(8), "quzhou-four-colour") is None  # never rated: asked once
    assert world.calls["rating"] == 1 and projection.misses == 1
