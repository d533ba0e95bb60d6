"""Loan book financed emissions (issue 17)."""
