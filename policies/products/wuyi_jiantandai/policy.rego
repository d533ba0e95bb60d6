# METADATA
# title: Wuyi RCB 武义农商银行 减碳贷 (carbon-reduction loan)
# description: |
#   Prices a loan from the enterprise's Zhejiang carbon-efficiency grade
#   (scheme zhejiang-carbon-efficiency, grades "1" best .. "5").
#   - Eligible grades (params.grades[g].decision == "APPROVE"; shipped 1-3):
#     rate_adjustment_bp from params.grades[g] (shipped -50) plus a credit
#     line INCREASE of credit_line_cny_per_tco2 (100) CNY per tonne CO2
#     reduced vs the base year (input.account.reduction_tco2), floored to
#     whole CNY. No increase (kind NONE) when the reduction is null, <= 0,
#     or worth less than 1 CNY.
#   - Other grades: REFER (GRADE_NOT_ELIGIBLE) or DECLINE_NEW_CREDIT as
#     configured (shipped: 4 and 5 REFER).
#   Product gate on top of pricing_lib's: REDUCTION_INVALID when
#   reduction_tco2 is neither null nor a plain decimal string
#   (pricing_lib.decimal_string).
package wuyi_jiantandai

import data.pricing_lib

# This product's parameters: wuyi_jiantandai/data.json, mounted at data.wuyi_jiantandai.params.
_params := data.wuyi_jiantandai.params

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
	_params, "APPROVE", _terms.rate_adjustment_bp, _credit_kind, _credit_cny, 0,
	[_rate_reason, _credit_reason],
) if {
	_terms.decision == "APPROVE"
} else := pricing_lib.grade_not_eligible(_params, _grade) if {
	# any other (or no) decision configured for the grade: refer
	not _terms.decision in {"APPROVE", "DECLINE_NEW_CREDIT"}
}

_gates := array.concat(pricing_lib.gate_reasons(input, _params), _reduction_reasons)

# null when the account or its reduction is absent.
default _reduction := null

_reduction := object.get(input.account, "reduction_tco2", null) if is_object(input.account)

_reduction_reasons := [] if {
	_reduction == null
} else := [] if {
	pricing_lib.decimal_string(_reduction)
} else := [pricing_lib.reason(
	"REDUCTION_INVALID",
	"reduction_tco2 must be a plain decimal string with at most 6 decimals",
)]

_grade := input.rating.grade

_terms := _params.grades[_grade]

_credit_cny := 0 if {
	_reduction == null
} else := pricing_lib.floor_amount(_reduction, _params.credit_line_cny_per_tco2)

default _credit_kind := "NONE"

_credit_kind := "INCREASE" if _credit_cny > 0

_rate_reason := pricing_lib.reason(
	"RATE_ADJUSTMENT",
	sprintf("grade %s: rate adjustment %d bp", [_grade, _terms.rate_adjustment_bp]),
)

_credit_reason := pricing_lib.reason("CREDIT_LINE_INCREASE", sprintf(
	"%s tCO2 reduced vs base year x %d CNY/tCO2 (floored to whole CNY): credit line +%v CNY",
	[_reduction, _params.credit_line_cny_per_tco2, _credit_cny],
)) if {
	_credit_cny > 0
} else := pricing_lib.reason(
	"NO_CREDIT_LINE_INCREASE",
	"reduction vs base year not reported: no credit-line increase",
) if {
	_reduction == null
} else := pricing_lib.reason("NO_CREDIT_LINE_INCREASE", sprintf(
	"reduction of %s tCO2 vs base year earns no credit-line increase",
	[_reduction],
))
