package shenzhen_jiangtandai_test

import data.shenzhen_jiangtandai

# Cases run against the shipped data.json: base_score 60, 1 bp per point,
# cap 30 bp, +12 months tenor for AA and better, CCC/CC/C referred,
# max_rating_age_days 90, min_quality_score 0.8.

_rating(grade, score) := {
	"scheme_id": "shenzhen-aaa",
	"scheme_version": "2024",
	"grade": grade,
	"score": score,
	"age_days": 3,
	"period": "2024",
}

_account := {"period": "2024", "quality_score": 0.93, "reduction_tco2": null}

_input(rating, account) := {
	"product": "shenzhen_jiangtandai",
	"request": {"amount_cny": "1000000.00", "tenor_months": 12, "reference_rate_pct": "3.45"},
	"rating": rating,
	"account": account,
}

_with(obj, patch) := object.union(obj, patch)

_r(code, message) := {"code": code, "message": message}

_want(outcome, bp, tenor, reasons) := {
	"decision": outcome,
	"rate_adjustment_bp": bp,
	"credit_line_effect": {"kind": "NONE", "amount_cny": "0.00"},
	"tenor_effect_months": tenor,
	"reasons": reasons,
	"product_version": "2024.1",
}

_refer(reasons) := _want("REFER", 0, 0, reasons)

_rate(grade, points, bp) := _r(
	"RATE_ADJUSTMENT",
	sprintf("grade %s, score %d vs base score 60: rate adjustment %d bp", [grade, points, bp]),
)

_capped := _r("DISCOUNT_CAPPED", "discount capped at 30 bp")

_tenor(grade) := _r("TENOR_EXTENSION", sprintf("grade %s is at or above AA: tenor extended by 12 months", [grade]))

_not_eligible(grade) := _refer([_r(
	"GRADE_NOT_ELIGIBLE",
	sprintf("grade %s is not eligible for automatic terms; refer to a credit officer", [grade]),
)])

_score_invalid := _r("SCORE_INVALID", "the rating score is not a number in [0, 100]")

cases := {
	"AAA far above the cap": {
		"input": _input(_rating("AAA", 98), _account),
		"want": _want("APPROVE", -30, 12, [_rate("AAA", 98, -30), _capped, _tenor("AAA")]),
	},
	"AA fractional score counts whole points": {
		"input": _input(_rating("AA", 87.5), _account),
		"want": _want("APPROVE", -27, 12, [_rate("AA", 87, -27), _tenor("AA")]),
	},
	"A reaches the cap exactly": {
		"input": _input(_rating("A", 90), _account),
		"want": _want("APPROVE", -30, 0, [_rate("A", 90, -30)]),
	},
	"A one point beyond the cap": {
		"input": _input(_rating("A", 91), _account),
		"want": _want("APPROVE", -30, 0, [_rate("A", 91, -30), _capped]),
	},
	"BBB one point above base": {
		"input": _input(_rating("BBB", 61), _account),
		"want": _want("APPROVE", -1, 0, [_rate("BBB", 61, -1)]),
	},
	"BB at the base score": {
		"input": _input(_rating("BB", 60), _account),
		"want": _want("APPROVE", 0, 0, [_rate("BB", 60, 0)]),
	},
	"B below the base score": {
		"input": _input(_rating("B", 45.2), _account),
		"want": _want("APPROVE", 0, 0, [_rate("B", 45, 0)]),
	},
	"CCC referred": {"input": _input(_rating("CCC", 40), _account), "want": _not_eligible("CCC")},
	"CC referred": {"input": _input(_rating("CC", 30), _account), "want": _not_eligible("CC")},
	"C referred": {"input": _input(_rating("C", 10), _account), "want": _not_eligible("C")},
	"score 100": {
		"input": _input(_rating("AAA", 100), _account),
		"want": _want("APPROVE", -30, 12, [_rate("AAA", 100, -30), _capped, _tenor("AAA")]),
	},
	"score missing": {
		"input": _input(_rating("AA", null), _account),
		"want": _refer([_r("SCORE_MISSING", "the rating has no score")]),
	},
	"score above 100": {"input": _input(_rating("AA", 100.5), _account), "want": _refer([_score_invalid])},
	"score negative": {"input": _input(_rating("AA", -1), _account), "want": _refer([_score_invalid])},
	"score not a number": {"input": _input(_rating("AA", "87"), _account), "want": _refer([_score_invalid])},
	"rating missing": {
		"input": _input(null, _account),
		"want": _refer([_r("RATING_MISSING", "no rating is available for this enterprise")]),
	},
	"rating age at the limit is fresh": {
		"input": _input(_with(_rating("BBB", 61), {"age_days": 90}), _account),
		"want": _want("APPROVE", -1, 0, [_rate("BBB", 61, -1)]),
	},
	"rating one day past the limit is stale": {
		"input": _input(_with(_rating("BBB", 61), {"age_days": 91}), _account),
		"want": _refer([_r("RATING_STALE", "rating is older than 90 days or its age is unknown")]),
	},
	"quality at the minimum passes": {
		"input": _input(_rating("BBB", 61), _with(_account, {"quality_score": 0.8})),
		"want": _want("APPROVE", -1, 0, [_rate("BBB", 61, -1)]),
	},
	"quality just below the minimum": {
		"input": _input(_rating("BBB", 61), _with(_account, {"quality_score": 0.799})),
		"want": _refer([_r(
			"DATA_QUALITY_LOW",
			"carbon account data quality is below the product minimum or unknown",
		)]),
	},
	"scheme mismatch skips the score check": {
		"input": _input(_with(_rating("1", null), {"scheme_id": "zhejiang-carbon-efficiency"}), _account),
		"want": _refer([_r(
			"SCHEME_MISMATCH",
			"rating scheme zhejiang-carbon-efficiency is not accepted; product requires shenzhen-aaa",
		)]),
	},
	"unknown grade": {
		"input": _input(_rating("D", 10), _account),
		"want": _refer([_r("GRADE_UNKNOWN", "grade D is not defined for scheme shenzhen-aaa")]),
	},
}

test_decision_table[note] if {
	some note, tc in cases
	got := shenzhen_jiangtandai.decision with input as tc.input
	got == tc.want
}

test_tenor_threshold_and_cap_come_from_data if {
	tuned := json.patch(shenzhen_jiangtandai.params, [
		{"op": "replace", "path": "/tenor_extension", "value": {"min_grade": "A", "months": 6}},
		{"op": "replace", "path": "/max_discount_bp", "value": 20},
		{"op": "replace", "path": "/base_score", "value": 70},
	])
	got := shenzhen_jiangtandai.decision with input as _input(_rating("A", 95), _account)
		with shenzhen_jiangtandai.params as tuned
	got.rate_adjustment_bp == -20
	got.tenor_effect_months == 6
	[r.code | some r in got.reasons] == ["RATE_ADJUSTMENT", "DISCOUNT_CAPPED", "TENOR_EXTENSION"]
}

test_grade_configured_to_decline if {
	tuned := json.patch(
		shenzhen_jiangtandai.params,
		[{"op": "replace", "path": "/grades/C/decision", "value": "DECLINE_NEW_CREDIT"}],
	)
	got := shenzhen_jiangtandai.decision with input as _input(_rating("C", 5), _account)
		with shenzhen_jiangtandai.params as tuned
	got == {
		"decision": "DECLINE_NEW_CREDIT",
		"rate_adjustment_bp": 0,
		"credit_line_effect": {"kind": "NO_NEW_CREDIT", "amount_cny": "0.00"},
		"tenor_effect_months": 0,
		"reasons": [_r("NO_NEW_CREDIT", "grade C: no new credit under this product")],
		"product_version": "2024.1",
	}
}

test_broken_params_still_yield_one_decision if {
	broken := object.remove(shenzhen_jiangtandai.params, ["max_discount_bp"])
	got := shenzhen_jiangtandai.decision with input as _input(_rating("AA", 80), _account)
		with shenzhen_jiangtandai.params as broken
	got.decision == "REFER"
	got.reasons[0].code == "POLICY_UNDEFINED"
}

# Removing any parameter the policy uses must never change the terms
# silently: the decision becomes the POLICY_UNDEFINED referral.
test_every_parameter_is_required[name] if {
	some name in (object.keys(shenzhen_jiangtandai.params) - {"product_id", "product_name", "sources"})
	broken := object.remove(shenzhen_jiangtandai.params, [name])
	got := shenzhen_jiangtandai.decision with input as _input(_rating("AA", 95), _account)
		with shenzhen_jiangtandai.params as broken
	got.reasons == [{
		"code": "POLICY_UNDEFINED",
		"message": "the product policy produced no decision; check its parameters",
	}]
}
