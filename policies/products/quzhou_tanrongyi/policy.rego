# METADATA
# title: Quzhou 衢江农商银行 碳融易贷 (Tanrongyi loan)
# description: |
#   Prices a loan from the enterprise's Quzhou four-colour rating
#   (scheme quzhou-four-colour). Terms per grade live in data.json
#   (params.grades); shipped defaults:
#     DARK_GREEN  APPROVE, -50 bp
#     LIGHT_GREEN APPROVE, -30 bp
#     YELLOW      APPROVE, 0 bp, credit line FREEZE ("credit-line control":
#                 the existing line is kept, no increase; the bank can
#                 switch yellow to REFER in data.json without touching Rego)
#     RED         DECLINE_NEW_CREDIT (no new credit)
#   The common gates of pricing_lib come first: any gate reason => REFER.
package quzhou_tanrongyi

import data.pricing_lib

# This product's parameters: quzhou_tanrongyi/data.json, mounted at data.quzhou_tanrongyi.params.
_params := data.quzhou_tanrongyi.params

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
	_params, "APPROVE", _terms.rate_adjustment_bp, _credit_kind, 0, 0,
	array.concat([_rate_reason], _credit_reasons),
) if {
	_terms.decision == "APPROVE"
} else := pricing_lib.grade_not_eligible(_params, _grade) if {
	# any other (or no) decision configured for the grade: refer
	not _terms.decision in {"APPROVE", "DECLINE_NEW_CREDIT"}
}

_gates := pricing_lib.gate_reasons(input, _params)

_grade := input.rating.grade

_terms := _params.grades[_grade]

_credit_kind := object.get(_terms, "credit_line", "NONE")

_rate_reason := pricing_lib.reason(
	"RATE_ADJUSTMENT",
	sprintf("grade %s: rate adjustment %d bp", [_grade, _terms.rate_adjustment_bp]),
)

default _credit_reasons := []

_credit_reasons := [pricing_lib.reason(
	"CREDIT_LINE_FREEZE",
	sprintf("grade %s: credit-line control, the existing credit line is not increased", [_grade]),
)] if {
	_credit_kind == "FREEZE"
}
