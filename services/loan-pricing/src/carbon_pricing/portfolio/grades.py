"""Borrowers' grades a bank may see, for the book's by-grade breakdown and high-carbon exposure.

A grade is the enterprise's rating under a scheme, shown to the bank only where the enterprise's RATING
consent to that bank covers the period of the account the rating was computed from — the same rule as a
quote (carbon_pricing.core). Everything else is UNRATED in the figures.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import polars as pl

from carbon_pricing.portfolio import frames
from carbon_pricing.sources import RatingFacts


class GradeSource(Protocol):
    def frame(self, grantee: str, usccs: Sequence[str]) -> pl.DataFrame:
        """(uscc, scheme_id, grade) the grantee may see (frames.GRADE_SCHEMA)."""


# (usccs, grantee, rating period) -> whether each enterprise's RATING consent allows it (decided and audited)
AllowedMany = Callable[[Sequence[str], str, str | None], list[bool]]


class ConsentedGrades:
    """Grades from a rating source, each kept only where the RATING consent decision for the rating's
    period allows it; decisions are asked per period for all the book's enterprises at once."""

    def __init__(
        self, schemes: Sequence[str], rating: Callable[[str, str], RatingFacts | None], allowed: AllowedMany
    ) -> None:
        self.schemes = tuple(schemes)
        self._rating = rating
        self._allowed = allowed

    def frame(self, grantee: str, usccs: Sequence[str]) -> pl.DataFrame:
        by_period: dict[str | None, list[tuple[str, str, str]]] = {}
        for uscc in dict.fromkeys(usccs):
            for scheme in self.schemes:
                rating = self._rating(uscc, scheme)
                if rating is not None and rating.grade:
                    by_period.setdefault(rating.period or None, []).append((uscc, scheme, rating.grade))
        rows = []
        for period, graded in by_period.items():
            enterprises = list(dict.fromkeys(u for u, _, _ in graded))
            allowed = {u for u, ok in zip(enterprises, self._allowed(enterprises, grantee, period), strict=True) if ok}
            rows += [{"uscc": u, "scheme_id": s, "grade": g} for u, s, g in graded if u in allowed]
        return pl.DataFrame(rows, schema=frames.GRADE_SCHEMA)
