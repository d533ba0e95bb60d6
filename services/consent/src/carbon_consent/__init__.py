"""Consent service: enterprises, banks, consents, one-click authorisation pages, audit log."""
