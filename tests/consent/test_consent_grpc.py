"""The gRPC edge of a real consent service process: identity, tenancy, enforcement."""

from __future__ import annotations

import time

import grpc
import httpx
import pytest
from carbon.v1 import consent_pb2, enterprise_pb2
from carbon_common.channels import service_channel
from carbon_common.consent_gate import ConsentGate
from carbon_common.errors import ServiceError, from_rpc_error

from tests.consent.helpers import SERVICE_SECRET, Edge, access_consent, admin_md, bank_md, seed, service_md

RATING = consent_pb2.CONSENT_SCOPE_RATING


def _error(call) -> ServiceError:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.RpcError) as info:
        call()
    return from_rpc_error(info.value)


def test_bank_requests_enterprise_authorises_gate_allows_then_revocation_denies(
    consent_process: Edge, redis_url: str
) -> None:
    s = seed(consent_process)
    stub = consent_process.consents
    created = stub.CreateConsent(
        consent_pb2.CreateConsentRequest(
            parent=f"enterprises/{s['uscc']}", consent=access_consent(""), request_id="r1"
        ),
        metadata=bank_md(s["key_a"]),
    )
    assert created.grantee == s["bank_a"]
    assert created.state == consent_pb2.Consent.STATE_REQUESTED
    assert created.authorization_uri == ""  # the link is the enterprise's credential, never the bank's
    again = stub.CreateConsent(
        consent_pb2.CreateConsentRequest(
            parent=f"enterprises/{s['uscc']}", consent=access_consent(""), request_id="r1"
        ),
        metadata=bank_md(s["key_a"]),
    )
    assert again.name == created.name  # idempotent on request_id

    gate = ConsentGate(service_channel(consent_process.process.target, "loan-pricing", SERVICE_SECRET))
    assert gate.check(s["uscc"], s["bank_a"], RATING).reason == "CONSENT_REQUIRED"

    # the bank cannot authorise its own request
    err = _error(
        lambda: stub.AuthorizeConsent(
            consent_pb2.AuthorizeConsentRequest(name=created.name), metadata=bank_md(s["key_a"])
        )
    )
    assert err.code == grpc.StatusCode.PERMISSION_DENIED

    authorised = stub.AuthorizeConsent(
        consent_pb2.AuthorizeConsentRequest(name=created.name, reason="demo"), metadata=admin_md()
    )
    assert authorised.state == consent_pb2.Consent.STATE_AUTHORIZED
    assert [h.to_state for h in authorised.history] == [
        consent_pb2.Consent.STATE_REQUESTED,
        consent_pb2.Consent.STATE_AUTHORIZED,
    ]
    assert authorised.history[1].actor == "admin" and authorised.history[1].reason == "demo"
    assert gate.require(s["uscc"], s["bank_a"], RATING) == created.name
    assert gate.check(s["uscc"], s["bank_a"], consent_pb2.CONSENT_SCOPE_REPORT).reason == "CONSENT_SCOPE"
    assert gate.check(s["uscc"], s["bank_b"], RATING).reason == "CONSENT_REQUIRED"

    stub.RevokeConsent(
        consent_pb2.RevokeConsentRequest(name=created.name, reason="changed my mind"), metadata=admin_md()
    )
    with pytest.raises(ServiceError) as denied:
        gate.require(s["uscc"], s["bank_a"], RATING)
    assert denied.value.code == grpc.StatusCode.PERMISSION_DENIED
    assert denied.value.reason == "CONSENT_REVOKED"
    # terminal states never change
    err = _error(
        lambda: stub.AuthorizeConsent(consent_pb2.AuthorizeConsentRequest(name=created.name), metadata=admin_md())
    )
    assert err.code == grpc.StatusCode.FAILED_PRECONDITION and err.reason == "CONSENT_REVOKED"


def test_cross_tenant_is_denied_at_the_grpc_edge(consent_process: Edge, redis_url: str) -> None:
    s = seed(consent_process)
    stub = consent_process.consents
    parent = f"enterprises/{s['uscc']}"
    b_consent = stub.CreateConsent(
        consent_pb2.CreateConsentRequest(parent=parent, consent=access_consent(s["bank_b"])),
        metadata=bank_md(s["key_b"]),
    )
    stub.AuthorizeConsent(consent_pb2.AuthorizeConsentRequest(name=b_consent.name), metadata=admin_md())

    # bank A reads, terminates, checks or creates for bank B: all denied
    for call in (
        lambda: stub.GetConsent(consent_pb2.GetConsentRequest(name=b_consent.name), metadata=bank_md(s["key_a"])),
        lambda: stub.TerminateConsent(
            consent_pb2.TerminateConsentRequest(name=b_consent.name), metadata=bank_md(s["key_a"])
        ),
        lambda: stub.CheckAccess(
            consent_pb2.CheckAccessRequest(enterprise=parent, grantee=s["bank_b"], scope=RATING),
            metadata=bank_md(s["key_a"]),
        ),
        lambda: stub.CreateConsent(
            consent_pb2.CreateConsentRequest(parent=parent, consent=access_consent(s["bank_b"])),
            metadata=bank_md(s["key_a"]),
        ),
        lambda: consent_process.banks.GetBank(
            consent_pb2.GetBankRequest(name=s["bank_b"]), metadata=bank_md(s["key_a"])
        ),
    ):
        assert _error(call).code == grpc.StatusCode.PERMISSION_DENIED
    listed = stub.ListConsents(consent_pb2.ListConsentsRequest(parent=parent), metadata=bank_md(s["key_a"]))
    assert list(listed.consents) == []
    # bank B sees its own, and may check its own access
    assert stub.GetConsent(consent_pb2.GetConsentRequest(name=b_consent.name), metadata=bank_md(s["key_b"])).name
    own = stub.CheckAccess(
        consent_pb2.CheckAccessRequest(enterprise=parent, grantee=s["bank_b"], scope=RATING),
        metadata=bank_md(s["key_b"]),
    )
    assert own.allowed and own.consent == b_consent.name
    stub.TerminateConsent(consent_pb2.TerminateConsentRequest(name=b_consent.name), metadata=bank_md(s["key_b"]))


def test_identity_requirements(consent_process: Edge, redis_url: str) -> None:
    s = seed(consent_process)
    parent = f"enterprises/{s['uscc']}"
    check = consent_pb2.CheckAccessRequest(
        enterprise=parent, grantee="platform", scope=consent_pb2.CONSENT_SCOPE_TAX_INVOICES
    )
    assert _error(lambda: consent_process.consents.CheckAccess(check)).code == grpc.StatusCode.UNAUTHENTICATED
    bad = [("x-carbon-service", "ingest-tax"), ("x-carbon-service-token", "1.abc")]
    err = _error(lambda: consent_process.consents.CheckAccess(check, metadata=bad))
    assert err.code == grpc.StatusCode.UNAUTHENTICATED and err.reason == "UNAUTHENTICATED_SERVICE"
    assert consent_process.consents.CheckAccess(check, metadata=service_md("ingest-tax")).reason == "CONSENT_REQUIRED"

    new_bank = consent_pb2.CreateBankRequest(bank_id="intruder", bank=consent_pb2.Bank(display_name="x"))
    assert _error(lambda: consent_process.banks.CreateBank(new_bank)).code == grpc.StatusCode.UNAUTHENTICATED
    assert _error(lambda: consent_process.banks.CreateBank(new_bank, metadata=bank_md(s["key_a"]))).code == (
        grpc.StatusCode.PERMISSION_DENIED
    )
    wrong_admin = [("authorization", "Bearer not-the-admin-token")]
    assert _error(lambda: consent_process.banks.CreateBank(new_bank, metadata=wrong_admin)).code == (
        grpc.StatusCode.UNAUTHENTICATED
    )
    err = _error(
        lambda: consent_process.consents.ListConsents(
            consent_pb2.ListConsentsRequest(parent=parent), metadata=bank_md("ck_unknown")
        )
    )
    assert err.reason == "UNAUTHENTICATED_BANK"

    # AuthenticateBank: services only; resolves the key to the bank
    auth = consent_pb2.AuthenticateBankRequest(api_key=s["key_a"])
    assert _error(lambda: consent_process.banks.AuthenticateBank(auth, metadata=bank_md(s["key_a"]))).code == (
        grpc.StatusCode.PERMISSION_DENIED
    )
    assert consent_process.banks.AuthenticateBank(auth, metadata=service_md()).name == s["bank_a"]
    wrong = consent_pb2.AuthenticateBankRequest(api_key="ck_wrong")
    assert _error(lambda: consent_process.banks.AuthenticateBank(wrong, metadata=service_md())).reason == (
        "UNAUTHENTICATED_BANK"
    )
    # the key is stored only as its SHA-256
    import redis

    raw = b"".join(
        v
        for k in redis.Redis.from_url(redis_url).keys("carbon:consent:bank:*")
        for v in [redis.Redis.from_url(redis_url).get(k)]
    )
    assert s["key_a"].encode() not in raw

    # enterprise registry
    got = consent_process.enterprises.GetEnterprise(
        enterprise_pb2.GetEnterpriseRequest(name=parent), metadata=service_md()
    )
    assert (got.uscc, got.industry_code, got.province_code, got.region_code) == (s["uscc"], "C2611", "330000", "330800")
    bad_uscc = s["uscc"][:-1] + ("0" if s["uscc"][-1] != "0" else "1")
    err = _error(
        lambda: consent_process.enterprises.CreateEnterprise(
            enterprise_pb2.CreateEnterpriseRequest(
                enterprise=enterprise_pb2.Enterprise(
                    uscc=bad_uscc, display_name="x", industry_code="C2611", province_code="330000"
                )
            ),
            metadata=admin_md(),
        )
    )
    assert err.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "enterprise.uscc" in dict(err.field_violations)
    dup = _error(
        lambda: consent_process.enterprises.CreateEnterprise(
            enterprise_pb2.CreateEnterpriseRequest(enterprise=got), metadata=service_md()
        )
    )
    assert dup.code == grpc.StatusCode.ALREADY_EXISTS

    # a management link for the enterprise (the account page's revoke goes through it): services and
    # admins only; it opens the enterprise's management page
    link = consent_process.enterprises.GenerateManageLink(
        enterprise_pb2.GenerateManageLinkRequest(enterprise=parent), metadata=service_md("accounting")
    )
    assert "/consents/manage?token=lk_" in link.uri
    page = httpx.get(link.uri, timeout=10)
    assert page.status_code == 200 and s["uscc"] in page.text
    denied = _error(
        lambda: consent_process.enterprises.GenerateManageLink(
            enterprise_pb2.GenerateManageLinkRequest(enterprise=parent), metadata=bank_md(s["key_a"])
        )
    )
    assert denied.code == grpc.StatusCode.PERMISSION_DENIED


def test_platform_collection_consent_by_service_and_validation(consent_process: Edge, redis_url: str) -> None:
    s = seed(consent_process)
    parent = f"enterprises/{s['uscc']}"
    stub = consent_process.consents
    consent = access_consent("platform", scopes=(consent_pb2.CONSENT_SCOPE_TAX_INVOICES,))
    err = _error(
        lambda: stub.CreateConsent(
            consent_pb2.CreateConsentRequest(parent=parent, consent=consent), metadata=service_md()
        )
    )
    assert err.code == grpc.StatusCode.INVALID_ARGUMENT  # purpose must be CARBON_ACCOUNTING
    consent.purpose = consent_pb2.CONSENT_PURPOSE_CARBON_ACCOUNTING
    created = stub.CreateConsent(
        consent_pb2.CreateConsentRequest(parent=parent, consent=consent), metadata=service_md()
    )
    assert created.history[0].actor == "services/operator"
    too_long = access_consent(s["bank_a"], days=4000)
    err = _error(
        lambda: stub.CreateConsent(
            consent_pb2.CreateConsentRequest(parent=parent, consent=too_long), metadata=bank_md(s["key_a"])
        )
    )
    assert "consent.expire_time" in dict(err.field_violations)
    stub.AuthorizeConsent(consent_pb2.AuthorizeConsentRequest(name=created.name), metadata=admin_md())
    gate = ConsentGate(service_channel(consent_process.process.target, "ingest-tax", SERVICE_SECRET))
    assert gate.check(s["uscc"], "platform", consent_pb2.CONSENT_SCOPE_TAX_INVOICES).allowed
    assert gate.check(s["uscc"], "platform", consent_pb2.CONSENT_SCOPE_ENERGY_METERING).reason == "CONSENT_SCOPE"


def test_expiry_is_enforced_at_check_time_and_swept(consent_process: Edge, redis_url: str) -> None:
    from datetime import UTC, datetime, timedelta

    s = seed(consent_process)
    parent = f"enterprises/{s['uscc']}"
    stub = consent_process.consents
    consent = access_consent(s["bank_a"])
    consent.expire_time.FromDatetime(datetime.now(UTC) + timedelta(seconds=1.5))
    created = stub.CreateConsent(
        consent_pb2.CreateConsentRequest(parent=parent, consent=consent), metadata=bank_md(s["key_a"])
    )
    stub.AuthorizeConsent(consent_pb2.AuthorizeConsentRequest(name=created.name), metadata=admin_md())
    check = consent_pb2.CheckAccessRequest(enterprise=parent, grantee=s["bank_a"], scope=RATING)
    assert stub.CheckAccess(check, metadata=service_md()).allowed
    time.sleep(1.6)
    decision = stub.CheckAccess(check, metadata=service_md())
    assert not decision.allowed and decision.reason == "CONSENT_EXPIRED"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # the sweeper stores the EXPIRED state (read straight from Redis)
        import redis
        from carbon_consent.store import consent_from_json

        raw = redis.Redis.from_url(redis_url).hget(
            f"carbon:consent:consents:{s['uscc']}", created.name.rsplit("/", 1)[1]
        )
        if consent_from_json(raw).state.name == "EXPIRED":
            break
        time.sleep(0.2)
    else:
        pytest.fail("sweeper did not store EXPIRED")
    got = stub.GetConsent(consent_pb2.GetConsentRequest(name=created.name), metadata=bank_md(s["key_a"]))
    assert got.state == consent_pb2.Consent.STATE_EXPIRED
    assert got.history[-1].actor == "system"


def test_revocation_is_seen_by_check_access_within_one_second(consent_process: Edge, redis_url: str) -> None:
    s = seed(consent_process)
    parent = f"enterprises/{s['uscc']}"
    stub = consent_process.consents
    created = stub.CreateConsent(
        consent_pb2.CreateConsentRequest(parent=parent, consent=access_consent(s["bank_a"])),
        metadata=bank_md(s["key_a"]),
    )
    stub.AuthorizeConsent(consent_pb2.AuthorizeConsentRequest(name=created.name), metadata=admin_md())
    # the client side every other service uses, with no cache
    gate = ConsentGate(service_channel(consent_process.process.target, "loan-pricing", SERVICE_SECRET))
    assert gate.check(s["uscc"], s["bank_a"], RATING).allowed
    revoked_at = time.monotonic()
    stub.RevokeConsent(consent_pb2.RevokeConsentRequest(name=created.name), metadata=admin_md())
    while True:
        decision = gate.check(s["uscc"], s["bank_a"], RATING)
        elapsed = time.monotonic() - revoked_at
        if not decision.allowed:
            break
        assert elapsed < 1.0, "revocation not enforced within 1 s"
    assert decision.reason == "CONSENT_REVOKED"
    assert elapsed < 1.0, f"revocation took {elapsed:.3f}s to reach CheckAccess"
