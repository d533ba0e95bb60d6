"""Government configuration of rating schemes: REST API and pages (see app.py, core.py)."""

from carbon_rating.gov.app import create_app
from carbon_rating.gov.auth import GovUser, dev_tokens, parse_tokens
from carbon_rating.gov.document import parse_effective

__all__ = ["GovUser", "create_app", "dev_tokens", "parse_effective", "parse_tokens"]
