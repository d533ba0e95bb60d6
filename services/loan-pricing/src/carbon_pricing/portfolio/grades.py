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


class ConsentedGrades:
    """Grades from a rating source, each kept only when `allowed(uscc, grantee, rating_period)` says so."""

    def __init__(
        self,
        schemes: Sequence[str],
        rating: Callable[[str, str], RatingFacts | None],
        allowed: Callable[[str, str, str | None], bool],
    ) -> None:
        self.schemes = tuple(schemes)
        self._rating = rating
        self._allowed = allowed

    def frame(self, grantee: str, usccs: Sequence[str]) -> pl.DataFrame:
        rows = []
        for uscc in dict.fromkeys(usccs):
            for scheme in self.schemes:
                rating = self._rating(uscc, scheme)
                if rating is None or not rating.grade:
                    continue
                if self._allowed(uscc, grantee, rating.period or None):
                    rows.append({"uscc": uscc, "scheme_id": scheme, "grade": rating.grade})
        return pl.DataFrame(rows, schema=frames.GRADE_SCHEMA)
