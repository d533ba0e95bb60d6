"""Shared layer of the carbon platform services (one job per module)."""
