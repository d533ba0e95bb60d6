"""Consent test fixtures live in helpers.py (importable by the tests too)."""

from tests.consent.helpers import clock, components, consent_process

__all__ = ["clock", "components", "consent_process"]
