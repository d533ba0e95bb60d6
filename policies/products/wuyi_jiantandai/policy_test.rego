package wuyi_jiantandai_test

import data.wuyi_jiantandai

# Cases run against the shipped data.json: grades 1-3 -50 bp plus 100 CNY
# per tonne reduced, grades 4-5 referred, max_rating_age_days 90,
# min_quality_score 0.8.

_rating(grade) := {
	"scheme_id": "zhejiang-carbon-efficiency",
	"scheme_version": "DB33/T 1347-2023",
	"grade": grade,
	"score": null,
	"age_days": 3,
	"period": "2024",
}

_account(reduction) := {"period": "2024", "quality_score": 0.93, "reduction_tco2": reduction}

_input(rating, account) := {
	"product": "wuyi_jiantandai",
	"request": {"amount_cny": "1000000.00", "tenor_months": 12, "reference_rate_pct": "3.45"},
	"rating": rating,
	"account": account,
}

_with(obj, patch) := object.union(obj, patch)

_r(code, message) := {"code": code, "message": message}

_decision(outcome, bp, kind, amount, reasons) := {
	"decision": outcome,
	"rate_adjustment_bp": bp,
	"credit_line_effect": {"kind": kind, "amount_cny": amount},
	"tenor_effect_months": 0,
	"reasons": reasons,
	"product_version": "2024.1",
}

_refer(reasons) := _decision("REFER", 0, "NONE", "0.00", reasons)

_rate(grade) := _r("RATE_ADJUSTMENT", sprintf("grade %s: rate adjustment -50 bp", [grade]))

_increase(grade, reduction, cny) := _decision("APPROVE", -50, "INCREASE", sprintf("%d.00", [cny]), [
	_rate(grade),
	_r("CREDIT_LINE_INCREASE", sprintf(
		"%s tCO2 reduced vs base year x 100 CNY/tCO2 (floored to whole CNY): credit line +%d CNY",
		[reduction, cny],
	)),
])

_no_increase(grade, reduction) := _decision("APPROVE", -50, "NONE", "0.00", [
	_rate(grade),
	_r("NO_CREDIT_LINE_INCREASE", sprintf("reduction of %s tCO2 vs base year earns no credit-line increase", [reduction])),
])

_not_eligible(grade) := _refer([_r(
	"GRADE_NOT_ELIGIBLE",
	sprintf("grade %s is not eligible for automatic terms; refer to a credit officer", [grade]),
)])

_invalid := _refer([_r("REDUCTION_INVALID", "reduction_tco2 must be a plain decimal string with at most 6 decimals")])

cases := {
	"grade 1 with a reduction": {"input": _input(_rating("1"), _account("120.5")), "want": _increase("1", "120.5", 12050)},
	"grade 2 with a reduction": {"input": _input(_rating("2"), _account("7")), "want": _increase("2", "7", 700)},
	"grade 3 with a reduction floored to whole CNY": {
		"input": _input(_rating("3"), _account("0.456789")),
		"want": _increase("3", "0.456789", 45),
	},
	"grade 4 referred": {"input": _input(_rating("4"), _account("500")), "want": _not_eligible("4")},
	"grade 5 referred": {"input": _input(_rating("5"), _account("500")), "want": _not_eligible("5")},
	"no float error on 0.29 t": {"input": _input(_rating("1"), _account("0.29")), "want": _increase("1", "0.29", 29)},
	"zero reduction": {"input": _input(_rating("1"), _account("0")), "want": _no_increase("1", "0")},
	"zero reduction with decimals": {"input": _input(_rating("2"), _account("0.000")), "want": _no_increase("2", "0.000")},
	"negative reduction (emissions grew)": {
		"input": _input(_rating("2"), _account("-35.2")),
		"want": _no_increase("2", "-35.2"),
	},
	"reduction worth less than 1 CNY": {
		"input": _input(_rating("3"), _account("0.009999")),
		"want": _no_increase("3", "0.009999"),
	},
	"reduction not reported": {
		"input": _input(_rating("1"), _account(null)),
		"want": _decision("APPROVE", -50, "NONE", "0.00", [
			_rate("1"),
			_r("NO_CREDIT_LINE_INCREASE", "reduction vs base year not reported: no credit-line increase"),
		]),
	},
	"reduction key absent": {
		"input": _input(_rating("1"), object.remove(_account("1"), ["reduction_tco2"])),
		"want": _decision("APPROVE", -50, "NONE", "0.00", [
			_rate("1"),
			_r("NO_CREDIT_LINE_INCREASE", "reduction vs base year not reported: no credit-line increase"),
		]),
	},
	"reduction in exponent notation": {"input": _input(_rating("1"), _account("1E+3")), "want": _invalid},
	"reduction as a JSON number": {"input": _input(_rating("1"), _account(120.5)), "want": _invalid},
	"reduction with 7 decimals": {"input": _input(_rating("1"), _account("1.0000001")), "want": _invalid},
	"invalid reduction does not matter for grade 5": {
		"input": _input(_rating("5"), _account("abc")),
		"want": _invalid,
	},
	"rating missing": {
		"input": _input(null, _account("120.5")),
		"want": _refer([_r("RATING_MISSING", "no rating is available for this enterprise")]),
	},
	"rating age at the limit is fresh": {
		"input": _input(_with(_rating("1"), {"age_days": 90}), _account("7")),
		"want": _increase("1", "7", 700),
	},
	"rating one day past the limit is stale": {
		"input": _input(_with(_rating("1"), {"age_days": 91}), _account("7")),
		"want": _refer([_r("RATING_STALE", "rating is older than 90 days or its age is unknown")]),
	},
	"quality at the minimum passes": {
		"input": _input(_rating("1"), _with(_account("7"), {"quality_score": 0.8})),
		"want": _increase("1", "7", 700),
	},
	"quality just below the minimum": {
		"input": _input(_rating("1"), _with(_account("7"), {"quality_score": 0.7999})),
		"want": _refer([_r(
			"DATA_QUALITY_LOW",
			"carbon account data quality is below the product minimum or unknown",
		)]),
	},
	"account missing": {
		"input": _input(_rating("1"), null),
		"want": _refer([_r("ACCOUNT_MISSING", "no carbon account is available to check data quality")]),
	},
	"scheme mismatch": {
		"input": _input(_with(_rating("1"), {"scheme_id": "huzhou-carbon-efficiency"}), _account("7")),
		"want": _refer([_r(
			"SCHEME_MISMATCH",
			"rating scheme huzhou-carbon-efficiency is not accepted; product requires zhejiang-carbon-efficiency",
		)]),
	},
	"grade as a number is unknown": {
		"input": _input(_rating(1), _account("7")),
		"want": _refer([_r("GRADE_UNKNOWN", "grade 1 is not defined for scheme zhejiang-carbon-efficiency")]),
	},
}

test_decision_table[note] if {
	some note, tc in cases
	got := wuyi_jiantandai.decision with input as tc.input
	got == tc.want
}

test_eligibility_and_rate_come_from_data if {
	tuned := json.patch(wuyi_jiantandai.params, [
		{"op": "replace", "path": "/grades/3", "value": {"decision": "REFER"}},
		{"op": "replace", "path": "/credit_line_cny_per_tco2", "value": 150},
	])
	refer := wuyi_jiantandai.decision with input as _input(_rating("3"), _account("10"))
		with wuyi_jiantandai.params as tuned
	refer.decision == "REFER"
	approve := wuyi_jiantandai.decision with input as _input(_rating("2"), _account("10.5"))
		with wuyi_jiantandai.params as tuned
	approve.credit_line_effect == {"kind": "INCREASE", "amount_cny": "1575.00"}
}

test_grade_configured_to_decline if {
	tuned := json.patch(
		wuyi_jiantandai.params,
		[{"op": "replace", "path": "/grades/5/decision", "value": "DECLINE_NEW_CREDIT"}],
	)
	got := wuyi_jiantandai.decision with input as _input(_rating("5"), _account("1"))
		with wuyi_jiantandai.params as tuned
	got.decision == "DECLINE_NEW_CREDIT"
	got.credit_line_effect.kind == "NO_NEW_CREDIT"
}

test_broken_params_still_yield_one_decision if {
	broken := object.remove(wuyi_jiantandai.params, ["credit_line_cny_per_tco2"])
	got := wuyi_jiantandai.decision with input as _input(_rating("1"), _account("7"))
		with wuyi_jiantandai.params as broken
	got.decision == "REFER"
	got.reasons[0].code == "POLICY_UNDEFINED"
}

# Removing any parameter the policy uses must never change the terms
# silently: the decision becomes the POLICY_UNDEFINED referral.
test_every_parameter_is_required[name] if {
	some name in (object.keys(wuyi_jiantandai.params) - {"product_id", "product_name", "sources"})
	broken := object.remove(wuyi_jiantandai.params, [name])
	got := wuyi_jiantandai.decision with input as _input(_rating("1"), _account("7"))
		with wuyi_jiantandai.params as broken
	got.reasons == [{
		"code": "POLICY_UNDEFINED",
		"message": "the product policy produced no decision; check its parameters",
	}]
}
