"""schemathesis hook (SCHEMATHESIS_HOOKS=tests.fuzz.openapi_auth): credentials taken from the document.

Each operation gets the credential of its first `security` alternative that the
test holds (environment: CARBON_FUZZ_*), so the run is authenticated where the
API needs it and schemathesis's ignored_auth check can probe it without.
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis
from carbon_common.identity import SERVICE_HEADER, TOKEN_HEADER, sign_service_token


def headers_for(case: Any) -> dict[str, str]:
    env = os.environ
    for requirement in case.operation.definition.raw.get("security", []):
        names = set(requirement)
        if names == {"serviceName", "serviceToken"}:
            secret = env["CARBON_FUZZ_SERVICE_SECRET"]
            # "operator": the catalog's name for platform tools and end-to-end checks.
            token = sign_service_token("operator", env["CARBON_FUZZ_AUDIENCE"], secret)  # one use, for this service
            return {SERVICE_HEADER: "operator", TOKEN_HEADER: token}
        if names == {"adminToken"}:
            return {"Authorization": f"Bearer {env['CARBON_FUZZ_ADMIN_TOKEN']}"}
        if names == {"govToken"}:
            role = "APPROVER" if case.path.endswith(":approve") else "DRAFTER"
            return {"Authorization": f"Bearer {env[f'CARBON_FUZZ_GOV_{role}']}"}
        if names == {"bankApiKey"}:
            return {"Authorization": f"Bearer {env['CARBON_FUZZ_BANK_KEY']}"}
    return {}


@schemathesis.auth(refresh_interval=None)
class PlatformCredentials:
    def get(self, case: Any, ctx: Any) -> dict[str, str]:
        return headers_for(case)

    def set(self, case: Any, data: dict[str, str], ctx: Any) -> None:
        case.headers = {**(case.headers or {}), **data}
