"""Pricing's consent on event-carried state: bank authentication and access decisions from an
in-process projection of consent (carbon_consent.projected), deciding with the consent service's own
rule, no call per quote. Fails closed: a projection without a consent heartbeat younger than 1 s
answers UNAVAILABLE (CONSENT_PROJECTION_STALE), never from old state."""

from __future__ import annotations

from carbon_common.errors import unauthenticated
from carbon_common.identity import hash_api_key
from carbon_consent.projected import ProjectedAccess, stale_error
from carbon_consent.projection import ProjectionStale


class ProjectedConsent(ProjectedAccess):
    """BankDirectory and ConsentChecker of the pricing core, over a ConsentProjection."""

    def authenticate(self, api_key: str) -> str:
        try:
            bank = self.projection.bank_for_key(hash_api_key(api_key)) if api_key else None
        except ProjectionStale as error:
            raise stale_error(error) from None
        if bank is None:
            raise unauthenticated("UNAUTHENTICATED_BANK", "unknown or revoked bank API key")
        return str(bank).removeprefix("banks/")
