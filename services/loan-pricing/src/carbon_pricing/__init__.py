"""Loan pricing: grades to rate adjustments through OPA (Rego) policies."""
