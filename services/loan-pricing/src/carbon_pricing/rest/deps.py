"""What the pricing routers share: the edge's state (set by app.create_http_app), credentials, error docs."""

from __future__ import annotations

import hmac
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Annotated, Any

from carbon_common.errors import permission_denied, unauthenticated
from carbon_common.http import error_response
from carbon_common.identity import bearer_token
from fastapi import Depends, Header, Request

from carbon_pricing.core import PricingCore

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: error_response(400, "INVALID_ARGUMENT (BadRequest field violations) or FAILED_PRECONDITION"),
    401: error_response(401, "UNAUTHENTICATED (UNAUTHENTICATED_BANK)"),
    403: error_response(403, "PERMISSION_DENIED: CONSENT_REQUIRED / CONSENT_REVOKED / CONSENT_EXPIRED / CROSS_TENANT"),
    404: error_response(404),
    409: error_response(409, "ALREADY_EXISTS (REQUEST_ID_REUSED: same request_id, different body) or ABORTED"),
    503: error_response(503, "UNAVAILABLE: a peer service or the policy engine is down"),
}
# Who may call an operation (OpenAPI security requirements, carbon_common.http.SECURITY_SCHEMES).
BANK, ADMIN = "bankApiKey", "adminToken"


@dataclass(frozen=True)
class PricingEdge:
    core: PricingCore
    admin_token: str  # CARBON_PRICING_ADMIN_TOKEN; "" disables policy administration
    # The quote's own threads: an executor hand-off costs about half of anyio.to_thread's (its
    # queue.Queue and capacity limiter were a visible share of a REST worker's profile).
    quote_threads: ThreadPoolExecutor

    def is_admin(self, token: str) -> bool:
        return bool(self.admin_token) and hmac.compare_digest(token.encode(), self.admin_token.encode())


def pricing_edge(request: Request) -> PricingEdge:
    edge: PricingEdge = request.app.state.pricing
    return edge


Edge = Annotated[PricingEdge, Depends(pricing_edge)]


def _admin(edge: Edge, authorization: Annotated[str, Header(include_in_schema=False)] = "") -> None:
    token = bearer_token(authorization)
    if not edge.admin_token:
        raise permission_denied("ADMIN_DISABLED", "policy administration is disabled (no admin token configured)")
    if not token:
        raise unauthenticated("UNAUTHENTICATED_ADMIN", "missing admin token (authorization: Bearer <token>)")
    if not edge.is_admin(token):
        raise permission_denied("NOT_ADMIN", "the token is not the policy admin token")


RequireAdmin = Depends(_admin)
