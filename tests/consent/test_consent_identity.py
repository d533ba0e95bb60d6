"""Secrets policy and signed links."""

from __future__ import annotations

import subprocess
import sys

import pytest
from carbon_common.errors import ServiceError
from carbon_consent.auth import LinkSigner, OidcProvider
from carbon_consent.settings import DEV_ADMIN_TOKEN, ConsentSettings

from tests.consent.helpers import make_uscc


def test_secrets_are_required_outside_dev_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CARBON_ADMIN_TOKEN", "CARBON_LINK_SECRET", "CARBON_SERVICE_SECRET", "CARBON_DEV_MODE"):
        monkeypatch.delenv(name, raising=False)
    prod = ConsentSettings(dev_mode=False)
    for getter in (prod.effective_admin_token, prod.effective_link_secret, prod.effective_service_secret):
        with pytest.raises(ValueError):
            getter()
    assert ConsentSettings(dev_mode=True).effective_admin_token() == DEV_ADMIN_TOKEN
    assert ConsentSettings(dev_mode=True, admin_token="from-env").effective_admin_token() == "from-env"
    env = {"PATH": "/usr/bin:/bin", "CARBON_DEV_MODE": "false", "CARBON_GRPC_PORT": "0", "CARBON_HTTP_PORT": "0"}
    result = subprocess.run(
        [sys.executable, "-m", "carbon_consent"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2 and "required" in result.stderr


def test_per_scope_limits_are_configurable() -> None:
    settings = ConsentSettings(max_validity_days={"RATING": 7})
    from carbon_consent.domain import Scope

    assert settings.limits().validity_for([Scope.RATING]).days == 7
    assert settings.limits().validity_for([Scope.TAX_INVOICES]).days == 1095
    with pytest.raises(ValueError):
        ConsentSettings(max_validity_days={"NOT_A_SCOPE": 7})


def test_signed_links_bind_consent_enterprise_and_expiry() -> None:
    signer = LinkSigner("k1")
    uscc = make_uscc()
    token = signer.sign(uscc, f"enterprises/{uscc}/consents/abc", 2_000)
    claims = signer.verify(token, now=1_000)
    assert claims and claims.enterprise == uscc and claims.consent.endswith("/abc")
    assert signer.verify(token, now=2_000) is None  # expired
    assert LinkSigner("k2").verify(token, now=1_000) is None  # other key
    body, mac = token[3:].split(".")
    import base64
    import json

    data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    data["x"] = 9_999_999
    forged = "lk_" + base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=") + "." + mac
    assert signer.verify(forged, now=1_000) is None


def test_oidc_provider_maps_a_verified_claim_to_the_enterprise() -> None:
    uscc = make_uscc()
    provider = OidcProvider(lambda token: {"uscc": uscc} if token == "a.b.c" else None)
    principal = provider.authenticate("a.b.c", now=0)
    assert principal and principal.kind == "enterprise" and principal.id == uscc
    with pytest.raises(ServiceError):
        provider.authenticate("x.y.z", now=0)
    assert provider.authenticate("ck_not_a_jwt", now=0) is None
