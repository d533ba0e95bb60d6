package quzhou_tanrongyi_test

import data.quzhou_tanrongyi

# Cases run against the shipped data.json (max_rating_age_days 90,
# min_quality_score 0.8, grade terms as documented in policy.rego).

_rating(grade) := {
	"scheme_id": "quzhou-four-colour",
	"scheme_version": "DB3308/T 095-2021",
	"grade": grade,
	"score": null,
	"age_days": 3,
	"period": "2024",
}

_account := {"period": "2024", "quality_score": 0.93, "reduction_tco2": "120.5"}

_input(rating, account) := {
	"product": "quzhou_tanrongyi",
	"request": {"amount_cny": "1000000.00", "tenor_months": 12, "reference_rate_pct": "3.45"},
	"rating": rating,
	"account": account,
}

_with(obj, patch) := object.union(obj, patch)

_r(code, message) := {"code": code, "message": message}

_want(outcome, bp, kind, reasons) := {
	"decision": outcome,
	"rate_adjustment_bp": bp,
	"credit_line_effect": {"kind": kind, "amount_cny": "0.00"},
	"tenor_effect_months": 0,
	"reasons": reasons,
	"product_version": "2024.1",
}

_refer(reasons) := _want("REFER", 0, "NONE", reasons)

_stale := _r("RATING_STALE", "rating is older than 90 days or its age is unknown")

_low_quality := _r("DATA_QUALITY_LOW", "carbon account data quality is below the product minimum or unknown")

_dark_green := _want("APPROVE", -50, "NONE", [_r("RATE_ADJUSTMENT", "grade DARK_GREEN: rate adjustment -50 bp")])

cases := {
	"dark green gets -50 bp": {"input": _input(_rating("DARK_GREEN"), _account), "want": _dark_green},
	"light green gets -30 bp": {
		"input": _input(_rating("LIGHT_GREEN"), _account),
		"want": _want("APPROVE", -30, "NONE", [_r("RATE_ADJUSTMENT", "grade LIGHT_GREEN: rate adjustment -30 bp")]),
	},
	"yellow is approved under credit-line control": {
		"input": _input(_rating("YELLOW"), _account),
		"want": _want("APPROVE", 0, "FREEZE", [
			_r("RATE_ADJUSTMENT", "grade YELLOW: rate adjustment 0 bp"),
			_r("CREDIT_LINE_FREEZE", "grade YELLOW: credit-line control, the existing credit line is not increased"),
		]),
	},
	"red gets no new credit": {
		"input": _input(_rating("RED"), _account),
		"want": _want(
			"DECLINE_NEW_CREDIT", 0, "NO_NEW_CREDIT",
			[_r("NO_NEW_CREDIT", "grade RED: no new credit under this product")],
		),
	},
	"rating missing": {
		"input": _input(null, _account),
		"want": _refer([_r("RATING_MISSING", "no rating is available for this enterprise")]),
	},
	"rating age at the limit is fresh": {
		"input": _input(_with(_rating("DARK_GREEN"), {"age_days": 90}), _account),
		"want": _dark_green,
	},
	"rating one day past the limit is stale": {
		"input": _input(_with(_rating("DARK_GREEN"), {"age_days": 91}), _account),
		"want": _refer([_stale]),
	},
	"red but stale is referred, not declined": {
		"input": _input(_with(_rating("RED"), {"age_days": 400}), _account),
		"want": _refer([_stale]),
	},
	"quality at the minimum passes": {
		"input": _input(_rating("DARK_GREEN"), _with(_account, {"quality_score": 0.8})),
		"want": _dark_green,
	},
	"quality just below the minimum": {
		"input": _input(_rating("DARK_GREEN"), _with(_account, {"quality_score": 0.79})),
		"want": _refer([_low_quality]),
	},
	"account missing": {
		"input": _input(_rating("DARK_GREEN"), null),
		"want": _refer([_r("ACCOUNT_MISSING", "no carbon account is available to check data quality")]),
	},
	"scheme mismatch": {
		"input": _input(_with(_rating("AAA"), {"scheme_id": "shenzhen-aaa"}), _account),
		"want": _refer([_r(
			"SCHEME_MISMATCH",
			"rating scheme shenzhen-aaa is not accepted; product requires quzhou-four-colour",
		)]),
	},
	"unknown grade": {
		"input": _input(_rating("BLUE"), _account),
		"want": _refer([_r("GRADE_UNKNOWN", "grade BLUE is not defined for scheme quzhou-four-colour")]),
	},
	"every failing gate is reported": {
		"input": _input(_with(_rating("LIGHT_GREEN"), {"age_days": 91}), _with(_account, {"quality_score": 0.1})),
		"want": _refer([_stale, _low_quality]),
	},
}

test_decision_table[note] if {
	some note, tc in cases
	got := quzhou_tanrongyi.decision with input as tc.input
	got == tc.want
}

# The bank can route yellow to a credit officer by editing data.json only.
test_yellow_configured_as_refer if {
	params := quzhou_tanrongyi.params
	tuned := json.patch(params, [{"op": "replace", "path": "/grades/YELLOW", "value": {"decision": "REFER"}}])
	got := quzhou_tanrongyi.decision with input as _input(_rating("YELLOW"), _account)
		with quzhou_tanrongyi.params as tuned
	got == _refer([_r(
		"GRADE_NOT_ELIGIBLE",
		"grade YELLOW is not eligible for automatic terms; refer to a credit officer",
	)])
}

test_tuned_bp_comes_from_data if {
	params := quzhou_tanrongyi.params
	tuned := json.patch(params, [{"op": "replace", "path": "/grades/DARK_GREEN/rate_adjustment_bp", "value": -65}])
	got := quzhou_tanrongyi.decision with input as _input(_rating("DARK_GREEN"), _account)
		with quzhou_tanrongyi.params as tuned
	got.rate_adjustment_bp == -65
}

test_broken_params_still_yield_one_decision if {
	broken := object.remove(quzhou_tanrongyi.params, ["product_version"])
	got := quzhou_tanrongyi.decision with input as _input(_rating("DARK_GREEN"), _account)
		with quzhou_tanrongyi.params as broken
	got.decision == "REFER"
	got.reasons[0].code == "POLICY_UNDEFINED"
}

test_empty_input_is_referred if {
	got := quzhou_tanrongyi.decision with input as {}
	got.decision == "REFER"
	[r.code | some r in got.reasons] == ["RATING_MISSING", "ACCOUNT_MISSING"]
}

# Removing any parameter the policy uses must never change the terms
# silently: the decision becomes the POLICY_UNDEFINED referral.
test_every_parameter_is_required[name] if {
	some name in (object.keys(quzhou_tanrongyi.params) - {"product_id", "product_name", "sources"})
	broken := object.remove(quzhou_tanrongyi.params, [name])
	got := quzhou_tanrongyi.decision with input as _input(_rating("YELLOW"), _account)
		with quzhou_tanrongyi.params as broken
	got.reasons == [{
		"code": "POLICY_UNDEFINED",
		"message": "the product policy produced no decision; check its parameters",
	}]
}
