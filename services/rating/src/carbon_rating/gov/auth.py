"""Government users: API tokens with a role, and the FastAPI dependencies that check them.

Roles come from API tokens in CARBON_GOV_TOKENS ("alice:drafter:<token>,bob:approver:<token>"); only
SHA-256 hashes of the tokens are kept in memory. The token travels as `authorization: Bearer` (API) or in
the HttpOnly, SameSite=Strict login cookie (pages).
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from carbon_common.errors import permission_denied, unauthenticated
from fastapi import Depends, Request

ROLES = ("drafter", "approver")
COOKIE = "carbon_gov_token"


@dataclass(frozen=True)
class GovUser:
    name: str
    role: str


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_tokens(text: str) -> dict[str, GovUser]:
    """'name:role:token,...' -> {sha256(token): user}."""
    users: dict[str, GovUser] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        try:
            name, role, token = item.split(":", 2)
        except ValueError:
            raise ValueError("CARBON_GOV_TOKENS entries look like name:role:token") from None
        if role not in ROLES:
            raise ValueError(f"CARBON_GOV_TOKENS: role of {name!r} must be one of {ROLES}")
        if len(token) < 16:
            raise ValueError(f"CARBON_GOV_TOKENS: token of {name!r} is too short (16+ characters)")
        users[hash_token(token)] = GovUser(name, role)
    return users


def dev_tokens(data_dir: Path) -> tuple[str, Path]:
    """Dev mode without CARBON_GOV_TOKENS: fresh tokens in a 0600 file; only names and the path are logged."""
    folder = data_dir / "rating"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "dev-gov-tokens"
    spec = f"dev-drafter:drafter:{secrets.token_urlsafe(24)},dev-approver:approver:{secrets.token_urlsafe(24)}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(spec + "\n")
    return spec, path


def _users(request: Request) -> Mapping[str, GovUser]:
    users: Mapping[str, GovUser] = request.app.state.gov_users
    return users


def user_from(request: Request) -> GovUser | None:
    """The user of the bearer token or the login cookie; None without (or with an unknown) token."""
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else request.cookies.get(COOKIE, "")
    return _users(request).get(hash_token(token)) if token else None


def known_token(request: Request, token: str) -> bool:
    return hash_token(token) in _users(request)


def _reader(request: Request) -> GovUser | None:
    """The government user, or None for an anonymous read; a token that is presented must be valid."""
    user = user_from(request)
    if user is None and request.headers.get("authorization"):
        raise unauthenticated("UNAUTHENTICATED_GOV", "unknown government API token")
    return user


def _signed_in(request: Request) -> GovUser:
    user = user_from(request)
    if user is None:
        raise unauthenticated("UNAUTHENTICATED_GOV", "present a government API token (authorization: Bearer ...)")
    return user


def _role(role: str) -> Callable[[Request], GovUser]:
    def check(request: Request) -> GovUser:
        user = _signed_in(request)
        if user.role != role:
            raise permission_denied("ROLE_REQUIRED", f"this needs the {role} role; {user.name} is {user.role}")
        return user

    return check


# Dependencies run before the request body is validated, so a missing credential answers 401 first.
Reader = Annotated[GovUser | None, Depends(_reader)]
SignedIn = Annotated[GovUser, Depends(_signed_in)]
Drafter = Annotated[GovUser, Depends(_role("drafter"))]
Approver = Annotated[GovUser, Depends(_role("approver"))]
