"""gRPC edge: ConsentService, BankService, EnterpriseService."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import grpc
from carbon.v1 import consent_pb2, consent_pb2_grpc, enterprise_pb2, enterprise_pb2_grpc
from carbon_common.errors import invalid_argument, unauthenticated
from carbon_common.names import parse_bank, parse_child, parse_enterprise

from carbon_consent import convert
from carbon_consent.auth import Authenticator, Principal
from carbon_consent.core import ConsentCore
from carbon_consent.domain import Action, Scope


class _Base:
    def __init__(self, core: ConsentCore, auth: Authenticator) -> None:
        self.core = core
        self.auth = auth

    def principal(self, context: grpc.ServicerContext) -> Principal:
        """Every gRPC method needs credentials; they are checked before any field is read,
        so an anonymous caller learns no field rule."""
        p = self.auth.from_grpc(context.invocation_metadata())
        if p.kind == "anonymous":
            raise unauthenticated("UNAUTHENTICATED", "credentials are required")
        return p


class ConsentServicer(_Base, consent_pb2_grpc.ConsentServiceServicer):
    def CreateConsent(
        self, request: consent_pb2.CreateConsentRequest, context: grpc.ServicerContext
    ) -> consent_pb2.Consent:
        p = self.principal(context)
        uscc = parse_enterprise(request.parent, "parent")
        req = convert.consent_request_from_proto(request.consent)
        consent, uri = self.core.create_consent(p, uscc, req, request.request_id)
        return convert.consent_to_proto(consent, uri)

    def GetConsent(self, request: consent_pb2.GetConsentRequest, context: grpc.ServicerContext) -> consent_pb2.Consent:
        p = self.principal(context)
        uscc, cid = parse_child(request.name, "consents")
        return convert.consent_to_proto(self.core.get_consent(p, uscc, cid))

    def ListConsents(
        self, request: consent_pb2.ListConsentsRequest, context: grpc.ServicerContext
    ) -> consent_pb2.ListConsentsResponse:
        p = self.principal(context)
        uscc = parse_enterprise(request.parent, "parent")
        items, token = self.core.list_consents(
            p, uscc, convert.state_filter(request.state), request.page_size, request.page_token
        )
        return consent_pb2.ListConsentsResponse(
            consents=[convert.consent_to_proto(c) for c in items], next_page_token=token
        )

    def _transition(
        self, request: consent_pb2.AuthorizeConsentRequest, context: grpc.ServicerContext, action: Action
    ) -> consent_pb2.Consent:
        p = self.principal(context)
        uscc, cid = parse_child(request.name, "consents")
        return convert.consent_to_proto(self.core.transition(p, uscc, cid, action, request.reason))

    def AuthorizeConsent(
        self, request: consent_pb2.AuthorizeConsentRequest, context: grpc.ServicerContext
    ) -> consent_pb2.Consent:
        return self._transition(request, context, Action.AUTHORIZE)

    def RejectConsent(
        self, request: consent_pb2.RejectConsentRequest, context: grpc.ServicerContext
    ) -> consent_pb2.Consent:
        return self._transition(request, context, Action.REJECT)

    def RevokeConsent(
        self, request: consent_pb2.RevokeConsentRequest, context: grpc.ServicerContext
    ) -> consent_pb2.Consent:
        return self._transition(request, context, Action.REVOKE)

    def TerminateConsent(
        self, request: consent_pb2.TerminateConsentRequest, context: grpc.ServicerContext
    ) -> consent_pb2.Consent:
        return self._transition(request, context, Action.TERMINATE)

    def CheckAccess(
        self, request: consent_pb2.CheckAccessRequest, context: grpc.ServicerContext
    ) -> consent_pb2.CheckAccessResponse:
        p = self.principal(context)
        uscc = parse_enterprise(request.enterprise, "enterprise")
        if request.grantee != "platform":
            parse_bank(request.grantee, "grantee")
        if request.scope not in Scope._value2member_map_:
            raise invalid_argument("scope", "is required")
        period = convert.check_access_period(request)
        decision = self.core.check_access(p, uscc, request.grantee, Scope(request.scope), period)
        return consent_pb2.CheckAccessResponse(
            allowed=decision.allowed, reason=decision.reason, consent=decision.consent, message=decision.message
        )


class BankServicer(_Base, consent_pb2_grpc.BankServiceServicer):
    def CreateBank(
        self, request: consent_pb2.CreateBankRequest, context: grpc.ServicerContext
    ) -> consent_pb2.CreateBankResponse:
        p = self.principal(context)
        bank, key = self.core.create_bank(p, request.bank_id, request.bank.display_name)
        return consent_pb2.CreateBankResponse(bank=convert.bank_to_proto(bank), api_key=key)

    def GetBank(self, request: consent_pb2.GetBankRequest, context: grpc.ServicerContext) -> consent_pb2.Bank:
        p = self.principal(context)
        return convert.bank_to_proto(self.core.get_bank(p, parse_bank(request.name, "name")))

    def AuthenticateBank(
        self, request: consent_pb2.AuthenticateBankRequest, context: grpc.ServicerContext
    ) -> consent_pb2.Bank:
        p = self.principal(context)
        return convert.bank_to_proto(self.core.authenticate_bank(p, request.api_key))


class EnterpriseServicer(_Base, enterprise_pb2_grpc.EnterpriseServiceServicer):
    def CreateEnterprise(
        self, request: enterprise_pb2.CreateEnterpriseRequest, context: grpc.ServicerContext
    ) -> enterprise_pb2.Enterprise:
        p = self.principal(context)
        e = request.enterprise
        uscc = e.uscc or (e.name.split("/", 1)[1] if e.name.startswith("enterprises/") else "")
        created = self.core.create_enterprise(p, uscc, e.display_name, e.industry_code, e.province_code, e.region_code)
        return convert.enterprise_to_proto(created)

    def GetEnterprise(
        self, request: enterprise_pb2.GetEnterpriseRequest, context: grpc.ServicerContext
    ) -> enterprise_pb2.Enterprise:
        p = self.principal(context)
        return convert.enterprise_to_proto(self.core.get_enterprise(p, parse_enterprise(request.name)))

    def ListEnterprises(
        self, request: enterprise_pb2.ListEnterprisesRequest, context: grpc.ServicerContext
    ) -> enterprise_pb2.ListEnterprisesResponse:
        p = self.principal(context)
        items, token = self.core.list_enterprises(p, request.page_size, request.page_token)
        return enterprise_pb2.ListEnterprisesResponse(
            enterprises=[convert.enterprise_to_proto(e) for e in items], next_page_token=token
        )

    def GenerateManageLink(
        self, request: enterprise_pb2.GenerateManageLinkRequest, context: grpc.ServicerContext
    ) -> enterprise_pb2.GenerateManageLinkResponse:
        p = self.principal(context)
        uscc = parse_enterprise(request.enterprise, "enterprise")
        return enterprise_pb2.GenerateManageLinkResponse(uri=self.core.manage_uri(p, uscc))


def register(core: ConsentCore, auth: Authenticator) -> Callable[[grpc.Server], Iterable[str]]:
    def _register(server: grpc.Server) -> Iterable[str]:
        consent_pb2_grpc.add_ConsentServiceServicer_to_server(ConsentServicer(core, auth), server)
        consent_pb2_grpc.add_BankServiceServicer_to_server(BankServicer(core, auth), server)
        enterprise_pb2_grpc.add_EnterpriseServiceServicer_to_server(EnterpriseServicer(core, auth), server)
        return [
            consent_pb2.DESCRIPTOR.services_by_name["ConsentService"].full_name,
            consent_pb2.DESCRIPTOR.services_by_name["BankService"].full_name,
            enterprise_pb2.DESCRIPTOR.services_by_name["EnterpriseService"].full_name,
        ]

    return _register
