package pricing_lib_test

import data.pricing_lib

# A synthetic product: the helpers must not depend on any real data.json.
_params := {
	"product_version": "test.1",
	"scheme_id": "test-scheme",
	"max_rating_age_days": 30,
	"min_quality_score": 0.5,
	"grades": {"G1": {"decision": "APPROVE"}},
}

_rating := {"scheme_id": "test-scheme", "grade": "G1", "age_days": 30}

_account := {"quality_score": 0.5}

_r(code, message) := {"code": code, "message": message}

_missing := _r("RATING_MISSING", "no rating is available for this enterprise")

_mismatch(scheme) := _r(
	"SCHEME_MISMATCH",
	sprintf("rating scheme %v is not accepted; product requires test-scheme", [scheme]),
)

_stale := _r("RATING_STALE", "rating is older than 30 days or its age is unknown")

_unknown(grade) := _r("GRADE_UNKNOWN", sprintf("grade %v is not defined for scheme test-scheme", [grade]))

_no_account := _r("ACCOUNT_MISSING", "no carbon account is available to check data quality")

_low_quality := _r("DATA_QUALITY_LOW", "carbon account data quality is below the product minimum or unknown")

gate_cases := {
	"all gates pass at the boundaries": {"rating": _rating, "account": _account, "want": []},
	"rating null": {"rating": null, "account": _account, "want": [_missing]},
	"rating not an object": {"rating": "AAA", "account": _account, "want": [_missing]},
	"scheme mismatch skips the grade check": {
		"rating": object.union(_rating, {"scheme_id": "other", "grade": "nope"}),
		"account": _account,
		"want": [_mismatch("other")],
	},
	"scheme missing": {
		"rating": object.remove(_rating, ["scheme_id"]),
		"account": _account,
		"want": [_mismatch(null)],
	},
	"one day too old": {"rating": object.union(_rating, {"age_days": 31}), "account": _account, "want": [_stale]},
	"age unknown": {"rating": object.union(_rating, {"age_days": null}), "account": _account, "want": [_stale]},
	"grade unknown": {"rating": object.union(_rating, {"grade": "G9"}), "account": _account, "want": [_unknown("G9")]},
	"grade missing": {"rating": object.remove(_rating, ["grade"]), "account": _account, "want": [_unknown(null)]},
	"account null": {"rating": _rating, "account": null, "want": [_no_account]},
	"quality just below minimum": {"rating": _rating, "account": {"quality_score": 0.49}, "want": [_low_quality]},
	"quality unknown": {"rating": _rating, "account": {"quality_score": null}, "want": [_low_quality]},
	"all failures in fixed order": {
		"rating": {"scheme_id": "other", "grade": "G9", "age_days": 99},
		"account": {},
		"want": [_mismatch("other"), _stale, _low_quality],
	},
}

test_gate_reasons[note] if {
	some note, tc in gate_cases
	pricing_lib.gate_reasons({"rating": tc.rating, "account": tc.account}, _params) == tc.want
}

test_gate_reasons_absent_keys_mean_missing if {
	pricing_lib.gate_reasons({}, _params) == [_missing, _no_account]
}

valid_decimals := {"0", "12", "120.5", "-3.25", "0.000001", "999999999999.999999"}

invalid_decimals := {"", "007", "1.", ".5", "+1", "1e3", "1.0000001", "1000000000000", " 1", "1,5", "-"}

test_decimal_string_accepts[value] if {
	some value in valid_decimals
	pricing_lib.decimal_string(value)
}

test_decimal_string_rejects[value] if {
	some value in invalid_decimals
	not pricing_lib.decimal_string(value)
}

test_decimal_string_rejects_non_strings if {
	not pricing_lib.decimal_string(120.5)
	not pricing_lib.decimal_string(null)
}

# [quantity, CNY per unit, expected whole CNY]
floor_amount_cases := {
	"integer quantity": ["120", 100, 12000],
	"one decimal": ["120.5", 100, 12050],
	"float trap 0.29 * 100": ["0.29", 100, 29],
	"float trap 1.15 * 100": ["1.15", 100, 115],
	"floored not rounded": ["1.999999", 100, 199],
	"below one CNY": ["0.009999", 100, 0],
	"exactly one CNY": ["0.01", 100, 1],
	"zero": ["0", 100, 0],
	"zero with decimals": ["0.000000", 100, 0],
	"negative": ["-5.5", 100, 0],
	"largest accepted quantity": ["999999999999.999999", 100, 99999999999999],
	"other rate": ["2.5", 37, 92],
}

test_floor_amount[note] if {
	some note, [quantity, rate, want] in floor_amount_cases
	pricing_lib.floor_amount(quantity, rate) == want
}

test_floor_div if {
	pricing_lib.floor_div(7, 2) == 3
	pricing_lib.floor_div(6, 2) == 3
	pricing_lib.floor_div(0, 5) == 0
}

test_cny_has_two_places if {
	pricing_lib.cny(0) == "0.00"
	pricing_lib.cny(12050) == "12050.00"
	pricing_lib.cny(99999999999999) == "99999999999999.00"
}

test_refer_has_no_effects if {
	pricing_lib.refer(_params, [_missing]) == {
		"decision": "REFER",
		"rate_adjustment_bp": 0,
		"credit_line_effect": {"kind": "NONE", "amount_cny": "0.00"},
		"tenor_effect_months": 0,
		"reasons": [_missing],
		"product_version": "test.1",
	}
}

test_decline_new_credit if {
	pricing_lib.decline_new_credit(_params, "RED") == {
		"decision": "DECLINE_NEW_CREDIT",
		"rate_adjustment_bp": 0,
		"credit_line_effect": {"kind": "NO_NEW_CREDIT", "amount_cny": "0.00"},
		"tenor_effect_months": 0,
		"reasons": [_r("NO_NEW_CREDIT", "grade RED: no new credit under this product")],
		"product_version": "test.1",
	}
}

test_undefined_decision_is_a_refer if {
	pricing_lib.undefined_decision.decision == "REFER"
	pricing_lib.undefined_decision.reasons[0].code == "POLICY_UNDEFINED"
}
