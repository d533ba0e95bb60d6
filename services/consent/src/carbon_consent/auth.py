"""Who is calling the consent service, at either edge.

Principals:
  service     x-carbon-service + x-carbon-service-token (carbon_common.identity)
  bank        authorization: Bearer ck_...  (API key, stored as SHA-256)
  admin       authorization: Bearer <CARBON_ADMIN_TOKEN>
  enterprise  through a pluggable EnterpriseIdentityProvider: signed links
              (`lk_...`, out of the box) or OIDC (production hook)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from carbon_common.errors import permission_denied, unauthenticated
from carbon_common.identity import (
    ATTEMPTS_HEADER,
    SERVICE_HEADER,
    TOKEN_HEADER,
    ServiceVerifier,
    attempt_number,
    bearer_token,
    hash_api_key,
    metadata_value,
)
from carbon_common.names import is_valid_uscc

from carbon_consent.store import Store

API_KEY_PREFIX = "ck_"
LINK_PREFIX = "lk_"


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Principal:
    kind: str  # service | bank | admin | enterprise | anonymous
    id: str = ""
    # Enterprise sessions from a consent link may act on that one consent only.
    consent: str = ""

    @property
    def actor(self) -> str:
        return {
            "service": f"services/{self.id}",
            "bank": f"banks/{self.id}",
            "enterprise": f"enterprises/{self.id}",
            "admin": "admin",
        }.get(self.kind, "anonymous")

    def is_(self, *kinds: str) -> bool:
        return self.kind in kinds


ANONYMOUS = Principal("anonymous")


# ---------------------------------------------------------------- signed links


@dataclass(frozen=True)
class LinkClaims:
    enterprise: str  # uscc
    consent: str  # consent name, or "" for the enterprise's management link
    expires: int  # unix seconds


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class LinkSigner:
    """HMAC-SHA256 over (consent name, enterprise, expiry) under CARBON_LINK_SECRET."""

    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(b"carbon-consent-link\0" + secret.encode()).digest()

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()

    def sign(self, enterprise: str, consent: str, expires: int) -> str:
        payload = json.dumps({"c": consent, "e": enterprise, "x": int(expires)}, sort_keys=True, separators=(",", ":"))
        data = payload.encode()
        return f"{LINK_PREFIX}{_b64(data)}.{_b64(self._mac(data))}"

    def verify(self, token: str, now: float) -> LinkClaims | None:
        if not token.startswith(LINK_PREFIX):
            return None
        try:
            body, mac = token[len(LINK_PREFIX) :].split(".", 1)
            data = _unb64(body)
            if not hmac.compare_digest(_unb64(mac), self._mac(data)):
                return None
            claims = json.loads(data)
            result = LinkClaims(str(claims["e"]), str(claims["c"]), int(claims["x"]))
        except (ValueError, KeyError, TypeError):
            return None
        if now >= result.expires or not is_valid_uscc(result.enterprise):
            return None
        return result


# ---------------------------------------------------------------- identity providers


class EnterpriseIdentityProvider(Protocol):
    """Turns a credential into an enterprise principal, or None if it is not its kind."""

    def authenticate(self, credential: str, now: float) -> Principal | None: ...


class SignedLinkProvider:
    def __init__(self, signer: LinkSigner) -> None:
        self.signer = signer

    def authenticate(self, credential: str, now: float) -> Principal | None:
        claims = self.signer.verify(credential, now)
        if claims is None:
            if credential.startswith(LINK_PREFIX):
                raise unauthenticated("LINK_INVALID", "the link is invalid or has expired; ask for a new one")
            return None
        return Principal("enterprise", claims.enterprise, claims.consent)


class OidcProvider:
    """Production hook: an OIDC ID/access token whose verified claims name the enterprise.

    `verify_token` validates signature, issuer, audience and expiry (e.g. with
    the IdP's JWKS) and returns the claims, or raises/returns None. The USCC
    comes from `uscc_claim`; OIDC sessions may act on all of the enterprise's
    consents.
    """

    def __init__(self, verify_token: Callable[[str], Mapping[str, object] | None], uscc_claim: str = "uscc") -> None:
        self.verify_token = verify_token
        self.uscc_claim = uscc_claim

    def authenticate(self, credential: str, now: float) -> Principal | None:
        if credential.startswith((LINK_PREFIX, API_KEY_PREFIX)) or credential.count(".") != 2:
            return None
        try:
            claims = self.verify_token(credential)
        except Exception:
            claims = None
        if not claims:
            raise unauthenticated("OIDC_TOKEN_INVALID", "the identity token is not valid")
        uscc = str(claims.get(self.uscc_claim, ""))
        if not is_valid_uscc(uscc):
            raise permission_denied("OIDC_NO_ENTERPRISE", "the identity token names no enterprise")
        return Principal("enterprise", uscc)


# ---------------------------------------------------------------- authenticator


class Authenticator:
    def __init__(
        self,
        store: Store,
        services: ServiceVerifier,
        admin_token: str,
        providers: Sequence[EnterpriseIdentityProvider],
        clock: Callable[[], float],
    ) -> None:
        self.store = store
        self.services = services
        self.admin_token = admin_token
        self.providers = list(providers)
        self.clock = clock

    def resolve(self, authorization: str, service: str, service_token: str, attempt: int = 0) -> Principal:
        if service or service_token:
            caller = self.services.verify(service, service_token, attempt, now=self.clock())
            return Principal("service", caller.id)
        token = bearer_token(authorization) if authorization else ""
        if not token:
            return ANONYMOUS
        if token.startswith(API_KEY_PREFIX):
            bank = self.store.bank_by_key_hash(hash_api_key(token))
            if bank is None:
                raise unauthenticated("UNAUTHENTICATED_BANK", "unknown API key")
            return Principal("bank", bank.id)
        if self.admin_token and hmac.compare_digest(token.encode(), self.admin_token.encode()):
            return Principal("admin", "admin")
        now = self.clock()
        for provider in self.providers:
            principal = provider.authenticate(token, now)
            if principal is not None:
                return principal
        raise unauthenticated("UNAUTHENTICATED", "unrecognised credentials")

    def from_grpc(self, metadata: Sequence[tuple[str, Any]] | None) -> Principal:
        return self.resolve(
            metadata_value(metadata, "authorization"),
            metadata_value(metadata, SERVICE_HEADER),
            metadata_value(metadata, TOKEN_HEADER),
            attempt_number(metadata_value(metadata, ATTEMPTS_HEADER)),
        )

    def from_headers(self, headers: Mapping[str, str]) -> Principal:
        return self.resolve(
            headers.get("authorization", ""), headers.get(SERVICE_HEADER, ""), headers.get(TOKEN_HEADER, "")
        )
