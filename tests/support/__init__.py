"""Test support that is not dev-kit: the browser accessibility audit (axe-core in Chromium)."""
