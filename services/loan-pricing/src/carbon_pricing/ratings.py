"""Pricing's ratings on event-carried state: every rating the rating service stores is published with
everything a policy reads (carbon:events:ratings, RatingChanged); pricing projects them in process,
so a quote makes no GetRating / GetAccount call. A rating not (yet) published — an enterprise rated
for the first time — is asked for once through the fallback sources (GetRating computes, stores and
so publishes it)."""

from __future__ import annotations

import json
from typing import Any

import redis
from carbon_common import events
from carbon_common.projection import StreamProjection

from carbon_pricing.sources import AccountFacts, AccountSource, RatingFacts, RatingSource

Ratings = dict[str, events.RatingChanged]


def rating_facts(m: events.RatingChanged) -> RatingFacts:
    return RatingFacts(
        name=m.rating,
        scheme_id=m.scheme,
        scheme_version=m.scheme_version,
        grade=m.grade,
        score=m.score,
        period=m.account_period,
        account=m.account,
        rate_time=m.rate_time,
        input_digest=m.input_digest,
        factor_set_version=m.factor_set_version,
        quality_score=m.quality_score,
    )


def account_facts(m: events.RatingChanged) -> AccountFacts:
    return AccountFacts(
        name=m.account,
        period=m.account_period,
        quality_score=m.quality_score,
        reduction_tco2=m.reduction_tco2,
        input_digest=m.account_digest,
        factor_set_version=m.factor_set_version,
    )


class RatingProjection(StreamProjection[events.RatingChanged]):
    """RatingSource and AccountSource of the pricing core."""

    name = "rating-projection"

    def __init__(self, client: redis.Redis, ratings: RatingSource, accounts: AccountSource) -> None:
        super().__init__(client, events.RATINGS)
        self.fallback_ratings = ratings
        self.fallback_accounts = accounts
        self._ratings: Ratings = {}  # rating name -> latest message
        self._accounts: dict[str, events.RatingChanged] = {}  # account name -> latest rating of it
        self.misses = 0

    def load(self) -> Ratings:
        raw: Any = self.client.hgetall(events.RATINGS_LATEST_KEY)
        latest = (events.RATINGS.decode(json.loads(value)) for value in raw.values())
        return {m.rating: m for m in latest}

    def install(self, state: Ratings) -> None:
        self._ratings = dict(state)
        self._accounts = {m.account: m for m in state.values()}

    def on_message(self, message: events.RatingChanged) -> None:
        self._ratings[message.rating] = message
        self._accounts[message.account] = message

    def rating(self, uscc: str, scheme_id: str) -> RatingFacts | None:
        with self.lock:
            found = self._ratings.get(f"enterprises/{uscc}/ratings/{scheme_id}")
        if found is not None:
            return rating_facts(found)
        self.misses += 1
        return self.fallback_ratings.rating(uscc, scheme_id)

    def published(self, uscc: str, scheme_id: str) -> RatingFacts | None:
        """The projected rating only (no fallback call): a loan book's grades for its whole book."""
        with self.lock:
            found = self._ratings.get(f"enterprises/{uscc}/ratings/{scheme_id}")
        return None if found is None else rating_facts(found)

    def account(self, name: str, digest_hint: str = "") -> AccountFacts | None:
        with self.lock:
            found = self._accounts.get(name)
        if found is not None and (not digest_hint or found.input_digest == digest_hint):
            return account_facts(found)
        return self.fallback_accounts.account(name, digest_hint)
