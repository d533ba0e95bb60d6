# METADATA
# title: Shenzhen 降碳贷 (carbon-reduction loan)
# description: |
#   Prices a loan from the enterprise's Shenzhen rating (scheme
#   shenzhen-aaa: nine grades AAA..C plus a numeric score 0..100).
#   - Discount: bp_per_point for every whole score point above the
#     bank's base_score, i.e. (floor(score) - base_score) * bp_per_point,
#     never below 0 and capped at max_discount_bp.
#     rate_adjustment_bp = -discount.
#   - Tenor: grades ranked at or above tenor_extension.min_grade get
#     tenor_extension.months extra months.
#   - params.grades[grade].decision: APPROVE, REFER or DECLINE_NEW_CREDIT
#     (shipped: AAA..B APPROVE, CCC/CC/C REFER).
#   Product gates on top of pricing_lib's: SCORE_MISSING (null score),
#   SCORE_INVALID (not a number in [score_min, score_max]).
package shenzhen_jiangtandai

import data.pricing_lib

# This product's parameters: shenzhen_jiangtandai/data.json, mounted at data.shenzhen_jiangtandai.params.
_params := data.shenzhen_jiangtandai.params

# METADATA
# description: |
#   The pricing decision for input (contract: see pricing_lib). Always
#   defined: falls back to pricing_lib.undefined_decision (REFER) when the
#   product parameters are broken.
# entrypoint: true
decision := _decision if {
	is_object(_decision)
} else := pricing_lib.undefined_decision

# Gates first. The grade terms are only reached when the gates were
# computed and all passed (an undefined _gates must not skip them).
_decision := pricing_lib.refer(_params, _gates) if {
	count(_gates) > 0
} else := _grade_decision if {
	_gates == []
}

_grade_decision := pricing_lib.decline_new_credit(_params, _grade) if {
	_terms.decision == "DECLINE_NEW_CREDIT"
} else := pricing_lib.decision(
	_params, "APPROVE", 0 - _discount_bp, "NONE", 0, _tenor_months,
	array.concat(array.concat([_rate_reason], _cap_reasons), _tenor_reasons),
) if {
	_terms.decision == "APPROVE"
} else := pricing_lib.grade_not_eligible(_params, _grade) if {
	# any other (or no) decision configured for the grade: refer
	not _terms.decision in {"APPROVE", "DECLINE_NEW_CREDIT"}
}

_gates := array.concat(pricing_lib.gate_reasons(input, _params), _score_reasons)

# Score checks only make sense for a rating under the accepted scheme.
_score_reasons := [] if {
	not pricing_lib.scheme_matches(input.rating, _params)
} else := [pricing_lib.reason("SCORE_MISSING", "the rating has no score")] if {
	object.get(input.rating, "score", null) == null
} else := [] if {
	is_number(input.rating.score)
	input.rating.score >= _params.score_min
	input.rating.score <= _params.score_max
} else := [pricing_lib.reason(
	"SCORE_INVALID",
	sprintf("the rating score is not a number in [%d, %d]", [_params.score_min, _params.score_max]),
)]

_grade := input.rating.grade

_terms := _params.grades[_grade]

# Whole points only: 87.5 counts as 87. floor() keeps everything integer.
_score_points := floor(input.rating.score)

_points_above_base := _score_points - _params.base_score

# Explicit comparisons instead of min()/max(): rego-cpp (regopy 1.5.x) orders
# numbers inside collections as text, so min([4, 30]) is 30 there.
# Each chain ends in a branch that needs its parameter, so a missing
# parameter leaves the decision undefined (-> POLICY_UNDEFINED) instead of
# silently dropping the discount or the cap.
_uncapped_bp := 0 if {
	_points_above_base <= 0
} else := _points_above_base * _params.bp_per_point

_discount_bp := _uncapped_bp if {
	_uncapped_bp <= _params.max_discount_bp
} else := _params.max_discount_bp if {
	_uncapped_bp > _params.max_discount_bp
}

_rate_reason := pricing_lib.reason("RATE_ADJUSTMENT", sprintf(
	"grade %s, score %d vs base score %d: rate adjustment %d bp",
	[_grade, _score_points, _params.base_score, 0 - _discount_bp],
))

default _cap_reasons := []

_cap_reasons := [pricing_lib.reason(
	"DISCOUNT_CAPPED",
	sprintf("discount capped at %d bp", [_params.max_discount_bp]),
)] if {
	_uncapped_bp > _params.max_discount_bp
}

# Rank 1 is the best grade. Both branches need the parameters, so a broken
# tenor_extension makes the decision undefined rather than dropping it.
_min_tenor_rank := _params.grades[_params.tenor_extension.min_grade].rank

_tenor_months := _params.tenor_extension.months if {
	_terms.rank <= _min_tenor_rank
} else := 0 if {
	_terms.rank > _min_tenor_rank
}

default _tenor_reasons := []

_tenor_reasons := [pricing_lib.reason("TENOR_EXTENSION", sprintf(
	"grade %s is at or above %s: tenor extended by %d months",
	[_grade, _params.tenor_extension.min_grade, _params.tenor_extension.months],
))] if {
	_tenor_months > 0
}
