# METADATA
# title: Shared helpers for bank loan product policies
# description: |
#   Building blocks used by every package under policies/products/<product>/:
#   the common referral gates (rating missing, scheme mismatch, stale rating,
#   unknown grade, account missing, data quality) and constructors for the
#   decision object. All functions are pure: the product package passes in
#   its input and its own params (data.<product>.params); nothing here reads
#   input or data directly.
#
#   Output contract (one object per evaluation):
#     {"decision": "APPROVE" | "REFER" | "DECLINE_NEW_CREDIT",
#      "rate_adjustment_bp": <int, negative = discount>,
#      "credit_line_effect": {"kind": "NONE" | "FREEZE" | "INCREASE" | "NO_NEW_CREDIT",
#                             "amount_cny": "<whole CNY>.00"},
#      "tenor_effect_months": <int>,
#      "reasons": [{"code": "...", "message": "..."}],
#      "product_version": "<params.product_version>"}
package pricing_lib

# Reason object.
reason(code, message) := {"code": code, "message": message}

# Money is always rendered as a decimal string with two places; credit-line
# amounts are whole CNY (floored) so the fraction is always ".00".
#
# Portability rules (the policies also run on rego-cpp via regopy, whose
# results must equal OPA's; tests/pricing_engine checks parity):
# - no min()/max()/sort() on numbers: rego-cpp compares them as text there;
# - sprintf("%d") only for small integers (rego-cpp wraps it at 32 bits);
#   use %v for large ones and format_int + concat to build strings;
# - never pass a string produced by a builtin (concat, format_int, lower,
#   ...) to sprintf: rego-cpp inserts it with its JSON quotes.
cny(amount) := concat("", [format_int(amount, 10), ".00"])

# METADATA
# description: Assemble a decision object. Every product builds its output here.
decision(params, outcome, bp, credit_kind, credit_cny, tenor_months, reasons) := {
	"decision": outcome,
	"rate_adjustment_bp": bp,
	"credit_line_effect": {"kind": credit_kind, "amount_cny": cny(credit_cny)},
	"tenor_effect_months": tenor_months,
	"reasons": reasons,
	"product_version": params.product_version,
}

# METADATA
# description: Refer to a credit officer; no price or credit-line effect.
refer(params, reasons) := decision(params, "REFER", 0, "NONE", 0, 0, reasons)

# METADATA
# description: The grade maps to no new credit (e.g. Quzhou red).
decline_new_credit(params, grade) := decision(
	params, "DECLINE_NEW_CREDIT", 0, "NO_NEW_CREDIT", 0, 0,
	[reason("NO_NEW_CREDIT", sprintf("grade %s: no new credit under this product", [grade]))],
)

# METADATA
# description: The grade is configured as not eligible for automatic terms.
grade_not_eligible(params, grade) := refer(params, [reason(
	"GRADE_NOT_ELIGIBLE",
	sprintf("grade %s is not eligible for automatic terms; refer to a credit officer", [grade]),
)])

# METADATA
# description: |
#   Fallback for a product package whose rules could not produce a decision
#   (broken or incomplete data.json). Keeps the "exactly one decision" promise.
undefined_decision := {
	"decision": "REFER",
	"rate_adjustment_bp": 0,
	"credit_line_effect": {"kind": "NONE", "amount_cny": "0.00"},
	"tenor_effect_months": 0,
	"reasons": [reason("POLICY_UNDEFINED", "the product policy produced no decision; check its parameters")],
	"product_version": "unknown",
}

# METADATA
# description: |
#   Referral reasons shared by every product, in a fixed order:
#   RATING_MISSING | SCHEME_MISMATCH, RATING_STALE, GRADE_UNKNOWN;
#   then ACCOUNT_MISSING | DATA_QUALITY_LOW. Empty array = all gates pass.
gate_reasons(inp, params) := array.concat(
	rating_reasons(object.get(inp, "rating", null), params),
	account_reasons(object.get(inp, "account", null), params),
)

# Each helper below puts its constant branch first and the computed one in
# the else: a missing parameter then leaves the result undefined (the product
# falls back to POLICY_UNDEFINED) instead of producing a wrong reason.
rating_reasons(rating, params) := [reason("RATING_MISSING", "no rating is available for this enterprise")] if {
	not is_object(rating)
} else := array.concat(
	array.concat(_scheme_reasons(rating, params), _staleness_reasons(rating, params)),
	_grade_reasons(rating, params),
)

# METADATA
# description: True when the rating is under the scheme the product accepts.
scheme_matches(rating, params) if rating.scheme_id == params.scheme_id

_scheme_reasons(rating, params) := [] if {
	scheme_matches(rating, params)
} else := [reason(
	"SCHEME_MISMATCH",
	sprintf(
		"rating scheme %v is not accepted; product requires %s",
		[object.get(rating, "scheme_id", null), params.scheme_id],
	),
)]

# age_days == max_rating_age_days is still fresh; a missing age is stale.
_staleness_reasons(rating, params) := [] if {
	is_number(rating.age_days)
	rating.age_days <= params.max_rating_age_days
} else := [reason(
	"RATING_STALE",
	sprintf("rating is older than %d days or its age is unknown", [params.max_rating_age_days]),
)]

# The grade is only checked when the scheme matches (otherwise it means nothing).
_grade_reasons(rating, params) := [] if {
	not scheme_matches(rating, params)
} else := [] if {
	is_object(params.grades[rating.grade])
} else := [reason(
	"GRADE_UNKNOWN",
	sprintf("grade %v is not defined for scheme %s", [object.get(rating, "grade", null), params.scheme_id]),
)] if {
	is_object(params.grades)
}

account_reasons(account, params) := [reason(
	"ACCOUNT_MISSING",
	"no carbon account is available to check data quality",
)] if {
	not is_object(account)
} else := _quality_reasons(account, params)

# quality_score == min_quality_score passes; a missing score fails.
_quality_reasons(account, params) := [] if {
	is_number(account.quality_score)
	account.quality_score >= params.min_quality_score
} else := [reason(
	"DATA_QUALITY_LOW",
	"carbon account data quality is below the product minimum or unknown",
)] if {
	is_number(params.min_quality_score) # a missing parameter must not read as low quality
}

# METADATA
# description: |
#   floor(a / b) for integers a >= 0, b > 0, computed with integer
#   arithmetic only (no float division), so both OPA and rego-cpp agree.
floor_div(a, b) := (a - (a % b)) / b

# METADATA
# description: |
#   True for a plain decimal string: optional minus sign, at most 12 integer
#   digits without leading zeros, at most 6 fractional digits (tCO2 is kept
#   to 6 decimals). No exponent, no plus sign, no spaces.
decimal_string(value) if {
	is_string(value)
	regex.match(`^-?(0|[1-9][0-9]{0,11})(\.[0-9]{1,6})?$`, value)
}

# METADATA
# description: |
#   Whole CNY for a per-unit rate (integer CNY) times a decimal quantity
#   string, floored: floor(quantity * cny_per_unit). Integer arithmetic only:
#   the fraction is scaled to millionths, so "0.29" * 100 is exactly 29
#   (a float would give 28.999...). Zero for a non-positive quantity.
#   The caller must check decimal_string(quantity) first.
floor_amount(quantity, cny_per_unit) := 0 if {
	startswith(quantity, "-")
} else := amount if {
	parts := split(quantity, ".")
	frac6 := substring(concat("", [concat("", array.slice(parts, 1, 2)), "000000"]), 0, 6)
	millionths := to_number(concat("", ["1", frac6])) - 1000000
	amount := (to_number(parts[0]) * cny_per_unit) + floor_div(millionths * cny_per_unit, 1000000)
}
