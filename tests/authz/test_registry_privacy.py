"""Registry privacy, REST and gRPC agreeing: a bank looks up only enterprises it has a
consent with (any state: requested, authorised, rejected, revoked...), never lists the
registry, and gets the same PERMISSION_DENIED for an unknown enterprise as for one it
has no consent with. Platform services and the admin read and list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import httpx
import pytest
from carbon.v1 import consent_pb2, enterprise_pb2, enterprise_pb2_grpc
from carbon_common.channels import service_channel
from carbon_consent.domain import Scope, State
from carbon_devkit.credentials import SERVICE_SECRET
from grpc_status import rpc_status

from tests.authz.world import BANK, ENTERPRISE, OTHER_BANK, UNKNOWN_ENTERPRISE, World, error_reason, rest_reason
from tests.pricing.support import uscc

pytestmark = [pytest.mark.e2e]

NO_RELATION = uscc(4444)  # registered; the bank never asked it for anything
ASKED = uscc(4545)  # registered; the bank asked, the enterprise rejected
DENIED = "REGISTRY_ACCESS_DENIED"


def grpc_get(world: World, uscc_: str, metadata: tuple[tuple[str, str], ...] = ()) -> tuple[str, str, str]:
    """(status code name, ErrorInfo reason, message with the USCC masked) of GetEnterprise."""
    try:
        world.consent.enterprises.GetEnterprise(
            enterprise_pb2.GetEnterpriseRequest(name=f"enterprises/{uscc_}"), metadata=metadata, timeout=10
        )
    except grpc.RpcError as error:
        reason = error_reason(rpc_status.from_call(error))  # type: ignore[arg-type]
        return error.code().name, reason, (error.details() or "").replace(uscc_, "{uscc}")  # type: ignore[attr-defined]
    return "OK", "", ""


def rest_get(world: World, uscc_: str, headers: dict[str, str]) -> tuple[int, str, str]:
    response = httpx.get(f"{world.stack.processes['consent'].http_base}/v1/enterprises/{uscc_}", headers=headers)
    if response.status_code == 200:
        assert response.json()["uscc"] == uscc_
        return 200, "", ""
    return response.status_code, rest_reason(response), response.text.replace(uscc_, "{uscc}")


def test_a_bank_sees_only_enterprises_it_has_a_consent_with(world: World) -> None:
    for enterprise in (NO_RELATION, ASKED):
        world.consent.create_enterprise(enterprise)
    bank = world.bank_metadata(BANK)
    headers = world.bank_headers(BANK)
    # Before any consent: the registered enterprise and an unknown one look exactly alike.
    assert grpc_get(world, ASKED, bank) == grpc_get(world, UNKNOWN_ENTERPRISE, bank)
    assert grpc_get(world, ASKED, bank)[:2] == ("PERMISSION_DENIED", DENIED)
    assert rest_get(world, ASKED, headers) == rest_get(world, UNKNOWN_ENTERPRISE, headers)
    assert rest_get(world, ASKED, headers)[:2] == (403, DENIED)
    # A consent request (then rejected) opens the lookup for that bank only.
    asked = world.consent.grant(ASKED, BANK, world.keys[BANK], authorize=False, scopes=(int(Scope.RATING),))
    assert grpc_get(world, ASKED, bank) == ("OK", "", "")
    assert rest_get(world, ASKED, headers) == (200, "", "")
    world.consent.consents.RejectConsent(consent_pb2.RejectConsentRequest(name=asked), metadata=world.consent.admin)
    assert grpc_get(world, ASKED, bank) == ("OK", "", "")
    other = world.bank_metadata(OTHER_BANK)
    assert grpc_get(world, ASKED, other) == grpc_get(world, UNKNOWN_ENTERPRISE, other)
    assert grpc_get(world, NO_RELATION, bank) == grpc_get(world, UNKNOWN_ENTERPRISE, bank)
    assert rest_get(world, NO_RELATION, headers) == rest_get(world, UNKNOWN_ENTERPRISE, headers)
    # Platform services and the admin read any enterprise; unknown ones are NOT_FOUND to them.
    service = enterprise_pb2_grpc.EnterpriseServiceStub(
        service_channel(world.stack.processes["consent"].target, "loan-pricing", SERVICE_SECRET)
    )
    assert service.GetEnterprise(enterprise_pb2.GetEnterpriseRequest(name=f"enterprises/{NO_RELATION}")).uscc
    assert grpc_get(world, NO_RELATION, world.consent.admin)[0] == "OK"
    assert grpc_get(world, UNKNOWN_ENTERPRISE, world.consent.admin)[0] == "NOT_FOUND"
    assert grpc_get(world, NO_RELATION)[0] == "UNAUTHENTICATED"


def test_only_platform_services_and_the_admin_list_the_registry(world: World) -> None:
    base = world.stack.processes["consent"].http_base
    response = httpx.get(f"{base}/v1/enterprises", headers=world.bank_headers(BANK))
    assert (response.status_code, rest_reason(response)) == (403, DENIED)
    with pytest.raises(grpc.RpcError) as caught:
        world.consent.enterprises.ListEnterprises(
            enterprise_pb2.ListEnterprisesRequest(), metadata=world.bank_metadata(BANK), timeout=10
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert error_reason(rpc_status.from_call(caught.value)) == DENIED  # type: ignore[arg-type]
    assert httpx.get(f"{base}/v1/enterprises").status_code == 401
    admin = httpx.get(f"{base}/v1/enterprises", headers={"authorization": world.consent.admin[0][1]})
    assert admin.status_code == 200 and admin.json()["enterprises"]
    service = enterprise_pb2_grpc.EnterpriseServiceStub(
        service_channel(world.stack.processes["consent"].target, "loan-pricing", SERVICE_SECRET)
    )
    assert service.ListEnterprises(enterprise_pb2.ListEnterprisesRequest(page_size=500), timeout=10).enterprises


def test_an_authorised_bank_still_reads_its_enterprise(world: World) -> None:
    start, end = datetime(2023, 1, 1, tzinfo=UTC), datetime.now(UTC) + timedelta(days=1)
    grant = world.grant(frozenset({Scope.RATING}), start, end, State.AUTHORIZED, timedelta(days=30))
    try:
        assert grpc_get(world, ENTERPRISE, world.bank_metadata(BANK)) == ("OK", "", "")
    finally:
        world.close(grant)
