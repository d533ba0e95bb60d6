"""Rating one enterprise: scheme snapshot + rows + population view -> Rating message.

The only inputs are immutable objects taken once at the start (the scheme
version, the population view), so a rating is computed under exactly one
scheme version; `input_digest` = SHA-256 over the account digest, the scheme
version digest and the benchmark values used.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from carbon.v1 import rating_pb2
from carbon_common.decimals import to_proto

from carbon_rating import scheme as sc
from carbon_rating.model import MICRO, Row, micro_decimal
from carbon_rating.national import Percentile
from carbon_rating.population import PopulationView


@dataclass(frozen=True)
class RatingResult:
    scheme: sc.SchemeVersion
    outcome: sc.Outcome
    percentile: Percentile | None
    row: Row
    input_digest: str


def rate(
    scheme: sc.SchemeVersion,
    row: Row,
    history: Mapping[str, Row],
    view: PopulationView,
    plugins: Mapping[str, Any] | None = None,
) -> RatingResult:
    outcome = sc.evaluate(scheme, row, history, view.table(scheme), plugins)
    percentile = view.national.percentile(row.industry, row.period, row.l_va)
    benchmarks = [
        [iv.spec.id, iv.benchmark.value_micro, iv.benchmark.scope, iv.benchmark.source]
        if iv.benchmark
        else [iv.spec.id, None]
        for iv in outcome.indicators
    ]
    digest = hashlib.sha256(
        json.dumps(
            {
                "account": row.account_digest or row.to_json(),
                "scheme": [scheme.scheme_id, scheme.version, scheme.digest],
                "benchmarks": benchmarks,
                "national": [str(percentile.value), percentile.peer_class, percentile.peers] if percentile else None,
            },
            sort_keys=True,
            separators=(",", ":"),
        ).encode()
    ).hexdigest()
    return RatingResult(scheme, outcome, percentile, row, digest)


def to_message(result: RatingResult, rate_time: datetime | None = None) -> rating_pb2.Rating:
    outcome, row = result.outcome, result.row
    message = rating_pb2.Rating(
        name=f"enterprises/{row.uscc}/ratings/{result.scheme.scheme_id}",
        scheme_id=result.scheme.scheme_id,
        scheme_version=result.scheme.version,
        account=f"enterprises/{row.uscc}/accounts/{row.period}",
        period=row.period,
        grade=outcome.grade or "",
        grade_label=outcome.label.en if outcome.label else "",
        grade_label_zh=outcome.label.zh if outcome.label else "",
        grade_colour=result.scheme.grade_colours.get(outcome.grade or "", ""),
        deciding_thresholds=list(outcome.deciding),
        explanation=outcome.explanation.en,
        explanation_zh=outcome.explanation.zh,
        factor_set_version=row.factor_set_version,
        input_digest=result.input_digest,
    )
    if outcome.score is not None:
        message.score.CopyFrom(to_proto(outcome.score_decimal))
    for iv in outcome.indicators:
        indicator = message.indicators.add(id=iv.spec.id, display_name=iv.spec.display_name.en, unit=iv.spec.unit)
        if iv.decimal is not None:
            indicator.value.CopyFrom(to_proto(iv.decimal))
        if iv.benchmark is not None:
            indicator.benchmark.CopyFrom(to_proto(micro_decimal(iv.benchmark.value_micro)))
        if iv.score is not None:
            indicator.score.CopyFrom(to_proto(iv.score))
    if result.percentile is not None:
        message.national_percentile.CopyFrom(to_proto(result.percentile.value))
        message.national_peer_class = result.percentile.peer_class
    step = sc.next_grade(result.scheme, outcome)
    if step is not None:
        message.next_grade.CopyFrom(
            rating_pb2.Rating.NextGrade(
                grade=step.grade,
                grade_label=step.label.en,
                grade_label_zh=step.label.zh,
                explanation=step.explanation.en,
                explanation_zh=step.explanation.zh,
            )
        )
        for item in step.gaps:
            gap = message.next_grade.gaps.add(indicator=item.indicator, op=item.op)
            gap.threshold.CopyFrom(to_proto(item.threshold))
            if item.value is not None:
                gap.value.CopyFrom(to_proto(item.value))
            if item.change is not None:
                gap.change.CopyFrom(to_proto(item.change))
    if row.quality is not None:
        message.quality_score.CopyFrom(to_proto((Decimal(row.quality) / MICRO).quantize(Decimal("0.000001"))))
    message.rate_time.FromDatetime(rate_time or datetime.now(UTC))
    return message
