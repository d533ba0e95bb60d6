"""Well-known credentials of local test and benchmark stacks (never of `make run`, whose secrets
are generated per machine: carbon_devkit.local). One set, so a seeder, a client and the stack agree."""

from __future__ import annotations

SERVICE_SECRET = "devkit-service-secret"
ADMIN_TOKEN = "devkit-consent-admin-token"
LINK_SECRET = "devkit-link-secret"
PRICING_ADMIN_TOKEN = "devkit-pricing-admin-token"
GOV_DRAFTER_TOKEN = "devkit-gov-drafter"
GOV_APPROVER_TOKEN = "devkit-gov-approver"
GOV_TOKENS = f"alice:drafter:{GOV_DRAFTER_TOKEN},bob:approver:{GOV_APPROVER_TOKEN}"


def environment() -> dict[str, str]:
    """The services' secret variables set to these credentials."""
    return {
        "CARBON_SERVICE_SECRET": SERVICE_SECRET,
        "CARBON_ADMIN_TOKEN": ADMIN_TOKEN,
        "CARBON_LINK_SECRET": LINK_SECRET,
        "CARBON_GOV_TOKENS": GOV_TOKENS,
        "CARBON_PRICING_ADMIN_TOKEN": PRICING_ADMIN_TOKEN,
    }
