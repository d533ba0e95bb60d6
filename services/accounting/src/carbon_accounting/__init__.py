"""Carbon accounting: factor library, Scope 1/2 accounts with polars, reports."""
