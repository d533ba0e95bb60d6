"""The consent service's use cases, shared by the gRPC and REST edges.

Every method takes the calling Principal and enforces who may do what, so both
edges apply the same tenant rules: a bank acts only as banks/{its id}; an
enterprise only on its own consents; admin and services as documented below.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from carbon_common.errors import (
    ServiceError,
    already_exists,
    failed_precondition,
    invalid_argument,
    invalid_arguments,
    not_found,
    permission_denied,
    unauthenticated,
)
from carbon_common.identity import hash_api_key
from carbon_common.names import validate_id, validate_uscc

from carbon_consent import domain
from carbon_consent.auth import LinkSigner, Principal, new_api_key
from carbon_consent.domain import Action, Consent, DataPeriod, Decision, Limits, Purpose, Scope, State
from carbon_consent.store import AuditEvent, Bank, Conflict, Enterprise, ErasureRequest, Store, consent_event_payload

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

_INDUSTRY = re.compile(r"^[A-T](\d{2}|\d{3}|\d{4})$")
_PROVINCE = re.compile(r"^\d{2}0000$")
_REGION = re.compile(r"^\d{6}$")

EVENTS = {
    Action.AUTHORIZE: "CONSENT_AUTHORIZED",
    Action.REJECT: "CONSENT_REJECTED",
    Action.REVOKE: "CONSENT_REVOKED",
    Action.TERMINATE: "CONSENT_TERMINATED",
    Action.EXPIRE: "CONSENT_EXPIRED",
}


def system_clock() -> datetime:
    return datetime.now(UTC)


def _page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def _page_offset(token: str) -> int:
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        if not text.startswith("o:"):
            raise ValueError
        offset = int(text[2:])
        if offset < 0:
            raise ValueError
        return offset
    except ValueError:
        raise invalid_argument("page_token", "is not a token this service issued") from None


def _page_size(size: int) -> int:
    if size < 0:
        raise invalid_argument("page_size", "must not be negative")
    return min(size or 50, 500)


def domain_error(error: domain.DomainError) -> ServiceError:
    if error.kind == "invalid":
        return invalid_arguments(error.violations)
    return failed_precondition(error.reason, error.message)


ErasureState = Literal["PENDING", "IN_PROGRESS", "COMPLETED"]


@dataclass(frozen=True)
class ErasureStatus:
    """An erasure request and how far the services that hold the enterprise's data got with it."""

    request: ErasureRequest
    state: ErasureState
    expected_reporters: tuple[str, ...]
    reports: dict[str, str]  # service -> what it reported

    @property
    def name(self) -> str:
        return f"enterprises/{self.request.uscc}/erasureRequests/{self.request.id}"


@dataclass(frozen=True)
class ConsentRequest:
    grantee: str
    scopes: list[Scope]
    purpose: Purpose | None
    data_start: datetime | None
    data_end: datetime | None
    expire_time: datetime | None
    reason: str = ""


class ConsentCore:
    def __init__(
        self,
        store: Store,
        *,
        limits: Limits,
        links: LinkSigner,
        base_url: str,
        link_ttl_seconds: int = 7 * 86400,
        manage_link_ttl_seconds: int = 3600,
        audit_checks: bool = True,
        erasure_services: list[str] | None = None,
        clock: Clock = system_clock,
    ) -> None:
        self.store = store
        self.limits = limits
        self.links = links
        self.base_url = base_url.rstrip("/")
        self.link_ttl = link_ttl_seconds
        self.manage_link_ttl = manage_link_ttl_seconds
        self.audit_checks = audit_checks
        self.erasure_services = (
            erasure_services
            if erasure_services is not None
            else ["ingest-tax", "ingest-energy", "accounting", "rating"]
        )
        self.clock = clock

    # ------------------------------------------------------------ helpers

    @staticmethod
    def _identified(p: Principal) -> None:
        """Every use case needs a caller with credentials."""
        if p.kind == "anonymous":
            raise unauthenticated("UNAUTHENTICATED", "credentials are required")

    @classmethod
    def _require(cls, p: Principal, *kinds: str) -> None:
        cls._identified(p)
        if p.kind not in kinds:
            raise permission_denied("PERMISSION_DENIED", f"{p.actor} may not call this method")

    def _enterprise_or_404(self, uscc: str) -> Enterprise:
        enterprise = self.store.get_enterprise(uscc)
        if enterprise is None:
            raise not_found(f"enterprises/{uscc}")
        return enterprise

    def _may_see(self, p: Principal, c: Consent) -> bool:
        if p.is_("admin", "service"):
            return True
        if p.kind == "bank":
            return c.grantee == f"banks/{p.id}"
        if p.kind == "enterprise":
            return p.id == c.enterprise and (not p.consent or p.consent == c.name)
        return False

    def _deny_tenant(self, p: Principal, c: Consent) -> ServiceError:
        if p.kind == "anonymous":
            return unauthenticated("UNAUTHENTICATED", "credentials are required")
        return permission_denied(
            "CONSENT_NOT_YOURS", f"{p.actor} may not access {c.name}", consent=c.name, caller=p.actor
        )

    # ------------------------------------------------------------ enterprises

    def create_enterprise(
        self, p: Principal, uscc: str, display_name: str, industry_code: str, province_code: str, region_code: str
    ) -> Enterprise:
        self._require(p, "admin", "service")
        violations: list[tuple[str, str]] = []
        try:
            validate_uscc(uscc, "enterprise.uscc")
        except ServiceError as error:
            violations += error.field_violations
        if not display_name.strip() or len(display_name) > 200:
            violations.append(("enterprise.display_name", "is required (at most 200 characters)"))
        if not _INDUSTRY.match(industry_code):
            violations.append(("enterprise.industry_code", 'must be a GB/T 4754 code like "C2611"'))
        if not _PROVINCE.match(province_code):
            violations.append(("enterprise.province_code", 'must be a GB/T 2260 province code like "330000"'))
        if region_code and (not _REGION.match(region_code) or region_code[:2] != province_code[:2]):
            violations.append(("enterprise.region_code", "must be a 6-digit GB/T 2260 code inside the province"))
        if violations:
            raise invalid_arguments(violations)
        enterprise = Enterprise(uscc, display_name.strip(), industry_code, province_code, region_code, self.clock())
        try:
            return self.store.create_enterprise(enterprise, p.actor, self.clock())
        except Conflict:
            raise already_exists(f"enterprises/{uscc}") from None

    def get_enterprise(self, p: Principal, uscc: str) -> Enterprise:
        """Registry privacy: admin and platform services read any enterprise; an enterprise
        itself; a bank only one that it has a consent (any state: requested, authorised or
        ended) with. Everyone else gets the same PERMISSION_DENIED whether or not the
        enterprise exists, so the answer never discloses who uses the platform."""
        self._identified(p)
        if not self._may_look_up(p, uscc):
            raise self._registry_denied(p, f"enterprises/{uscc}")
        return self._enterprise_or_404(uscc)

    def _may_look_up(self, p: Principal, uscc: str) -> bool:
        if p.is_("admin", "service"):
            return True
        if p.kind == "enterprise":
            return p.id == uscc
        if p.kind == "bank":
            grantee = f"banks/{p.id}"
            return any(c.grantee == grantee for c in self.store.consents_of(uscc))
        return False

    @staticmethod
    def _registry_denied(p: Principal, resource: str) -> ServiceError:
        return permission_denied(
            "REGISTRY_ACCESS_DENIED",
            f"{p.actor} may not read {resource}: banks see only enterprises they have a consent with",
            resource=resource,
            caller=p.actor,
        )

    def list_enterprises(self, p: Principal, page_size: int, page_token: str) -> tuple[list[Enterprise], str]:
        """Listing the registry is for platform services and the admin only."""
        self._identified(p)
        if not p.is_("admin", "service"):
            raise self._registry_denied(p, "enterprises")
        size = _page_size(page_size)
        after = ""
        if page_token:
            try:
                after = base64.urlsafe_b64decode(page_token + "=" * (-len(page_token) % 4)).decode()
                validate_uscc(after, "page_token")
            except (ValueError, ServiceError):
                raise invalid_argument("page_token", "is not a token this service issued") from None
        items = self.store.list_enterprises(after, size + 1)
        more = len(items) > size
        items = items[:size]
        token = base64.urlsafe_b64encode(items[-1].uscc.encode()).decode().rstrip("=") if more else ""
        return items, token

    # ------------------------------------------------------------ banks

    def create_bank(self, p: Principal, bank_id: str, display_name: str) -> tuple[Bank, str]:
        self._require(p, "admin", "service")
        validate_id(bank_id, "bank_id")
        if not display_name.strip():
            raise invalid_argument("bank.display_name", "is required")
        api_key = new_api_key()
        bank = Bank(bank_id, display_name.strip(), self.clock())
        try:
            self.store.create_bank(bank, hash_api_key(api_key), p.actor, self.clock())
        except Conflict:
            raise already_exists(f"banks/{bank_id}") from None
        return bank, api_key

    def get_bank(self, p: Principal, bank_id: str) -> Bank:
        if p.kind == "bank" and p.id != bank_id:
            raise permission_denied("PERMISSION_DENIED", f"{p.actor} may not read banks/{bank_id}")
        self._require(p, "admin", "service", "bank")
        bank = self.store.get_bank(bank_id)
        if bank is None:
            raise not_found(f"banks/{bank_id}")
        return bank

    def authenticate_bank(self, p: Principal, api_key: str) -> Bank:
        self._require(p, "service")
        if not api_key:
            raise invalid_argument("api_key", "is required")
        bank = self.store.bank_by_key_hash(hash_api_key(api_key))
        if bank is None:
            raise unauthenticated("UNAUTHENTICATED_BANK", "unknown API key")
        return bank

    # ------------------------------------------------------------ consents

    def authorization_uri(self, c: Consent) -> str:
        expires = int(min(c.expire_time.timestamp(), self.clock().timestamp() + self.link_ttl))
        token = self.links.sign(c.enterprise, c.name, expires)
        return f"{self.base_url}/consents/authorize?token={token}"

    def manage_uri(self, p: Principal, uscc: str) -> str:
        """A management link for the enterprise (admin/service hand it to the enterprise's contact)."""
        if not (p.is_("admin", "service") or (p.kind == "enterprise" and p.id == uscc and not p.consent)):
            self._require(p, "admin", "service")
        self._enterprise_or_404(uscc)
        token = self.links.sign(uscc, "", int(self.clock().timestamp()) + self.manage_link_ttl)
        return f"{self.base_url}/consents/manage?token={token}"

    def create_consent(
        self, p: Principal, uscc: str, req: ConsentRequest, request_id: str = "", authorize: bool = False
    ) -> tuple[Consent, str]:
        """Create a consent in REQUESTED; with `authorize` (enterprise itself or admin), authorised at once.

        Returns (consent, authorization_uri); the URI is empty when authorised at once
        and for requesters other than the platform (see authorization_link).
        """
        self._identified(p)
        grantee = req.grantee
        if p.kind == "bank":
            own = f"banks/{p.id}"
            if not grantee:
                grantee = own
            elif grantee != own:
                raise permission_denied(
                    "CONSENT_NOT_YOURS", f"{p.actor} may only request consents for itself", grantee=grantee
                )
            if authorize:
                raise permission_denied("PERMISSION_DENIED", "only the enterprise may authorise its consent")
        elif p.kind == "enterprise":
            if p.id != uscc or p.consent:
                raise permission_denied(
                    "PERMISSION_DENIED", f"{p.actor} may not create consents for enterprises/{uscc}"
                )
            if grantee != domain.PLATFORM:
                raise permission_denied("PERMISSION_DENIED", "an enterprise creates platform consents only")
        elif p.kind == "service" and authorize:
            raise permission_denied("PERMISSION_DENIED", "only the enterprise (or admin) may authorise")
        if request_id and len(request_id) > 128:
            raise invalid_argument("request_id", "at most 128 characters")
        self._enterprise_or_404(uscc)
        if grantee.startswith("banks/"):
            bank_id = grantee.split("/", 1)[1]
            if "/" not in bank_id and bank_id and self.store.get_bank(bank_id) is None:
                raise not_found(grantee)
        now = self.clock()
        try:
            consent = domain.new_consent(
                id=uuid.uuid4().hex,
                enterprise=uscc,
                grantee=grantee,
                scopes=req.scopes,
                purpose=req.purpose,
                data_start=req.data_start,
                data_end=req.data_end,
                expire_time=req.expire_time,
                actor=p.actor,
                now=now,
                limits=self.limits,
                reason=req.reason,
            )
        except domain.DomainError as error:
            raise domain_error(error) from None
        requested = consent_event_payload(consent)
        requested["data_window"] = [consent.data_start.isoformat(), consent.data_end.isoformat()]
        events = [AuditEvent("CONSENT_REQUESTED", requested)]
        if authorize:
            consent = domain.apply(consent, Action.AUTHORIZE, p.actor, now, req.reason or "one-click grant")
            events.append(AuditEvent("CONSENT_AUTHORIZED", consent_event_payload(consent)))
        key = f"{p.actor}:{uscc}:{request_id}" if request_id else ""
        stored, _created = self.store.create_consent(consent, key, events, now)
        # The signed link lets its holder act as the enterprise, so only the
        # platform (which delivers it to the enterprise) ever sees it, never the
        # requesting bank.
        deliverable = stored.state == State.REQUESTED and p.is_("admin", "service")
        return stored, self.authorization_uri(stored) if deliverable else ""

    def authorization_link(self, p: Principal, uscc: str, consent_id: str) -> str:
        """The one-click link of a requested consent, for the platform to deliver to the enterprise."""
        self._require(p, "admin", "service")
        consent = self._load(p, uscc, consent_id)
        if domain.effective_state(consent, self.clock()) != State.REQUESTED:
            raise failed_precondition("CONSENT_NOT_REQUESTED", f"{consent.name} is not awaiting authorisation")
        return self.authorization_uri(consent)

    def _load(self, p: Principal, uscc: str, consent_id: str) -> Consent:
        consent = self.store.get_consent(uscc, consent_id)
        if consent is None:
            self._identified(p)
            raise not_found(f"enterprises/{uscc}/consents/{consent_id}")
        if not self._may_see(p, consent):
            raise self._deny_tenant(p, consent)
        return consent

    def _current(self, p: Principal, uscc: str, consent_id: str) -> Consent:
        consent = self._load(p, uscc, consent_id)
        if domain.materialize_expiry(consent, self.clock()) is not None:
            consent = self._expire(uscc, consent_id)
        return consent

    def get_consent(self, p: Principal, uscc: str, consent_id: str) -> Consent:
        consent = self._current(p, uscc, consent_id)
        state = domain.effective_state(consent, self.clock())
        if p.consent and state != State.REQUESTED:
            # A one-click link decides a pending request; once used, revoked or expired it
            # shows the outcome only (link_state), never who asked for what any more.
            raise failed_precondition(
                "LINK_USED", f"this link's consent is {state.name}; the link shows its status only", state=state.name
            )
        return consent

    def link_state(self, p: Principal, uscc: str, consent_id: str) -> State:
        """All a one-click link may still read of its consent."""
        return domain.effective_state(self._current(p, uscc, consent_id), self.clock())

    def list_consents(
        self, p: Principal, uscc: str, state: State | None, page_size: int, page_token: str
    ) -> tuple[list[Consent], str]:
        self._identified(p)
        if p.kind == "enterprise" and (p.id != uscc or p.consent):
            raise permission_denied("PERMISSION_DENIED", f"{p.actor} may not list consents of enterprises/{uscc}")
        size, offset = _page_size(page_size), _page_offset(page_token)
        now = self.clock()
        items = [c for c in self.store.consents_of(uscc) if self._may_see(p, c)]
        items = [domain.materialize_expiry(c, now) or c for c in items]  # report effective states
        if state is not None:
            items = [c for c in items if c.state == state]
        items.sort(key=lambda c: (c.create_time, c.id))
        page = items[offset : offset + size]
        token = _page_token(offset + size) if offset + size < len(items) else ""
        return page, token

    def list_bank_consents(
        self, p: Principal, bank_id: str, page_size: int, page_token: str
    ) -> tuple[list[Consent], str]:
        if p.kind == "bank" and p.id != bank_id:
            raise permission_denied("CONSENT_NOT_YOURS", f"{p.actor} may not list consents of banks/{bank_id}")
        self._require(p, "bank", "admin", "service")
        size, offset = _page_size(page_size), _page_offset(page_token)
        names = self.store.bank_consent_names(bank_id, offset, size + 1)
        now = self.clock()
        out: list[Consent] = []
        for name in names[:size]:
            _, uscc, _, cid = name.split("/")
            c = self.store.get_consent(uscc, cid)
            if c is not None:
                out.append(domain.materialize_expiry(c, now) or c)
        return out, (_page_token(offset + size) if len(names) > size else "")

    def transition(self, p: Principal, uscc: str, consent_id: str, action: Action, reason: str = "") -> Consent:
        consent = self._load(p, uscc, consent_id)
        if action in (Action.AUTHORIZE, Action.REJECT, Action.REVOKE):
            # The grantor's decisions: the enterprise itself, or admin (demo/ops, audited as "admin").
            if not (p.kind == "admin" or (p.kind == "enterprise" and p.id == uscc)):
                raise permission_denied(
                    "NOT_THE_ENTERPRISE",
                    f"only enterprises/{uscc} may {action.value} this consent",
                    consent=consent.name,
                )
        elif action == Action.TERMINATE:
            grantee_ok = (p.kind == "bank" and consent.grantee == f"banks/{p.id}") or (
                p.kind == "service" and consent.grantee == domain.PLATFORM
            )
            if not (grantee_ok or p.kind == "admin"):
                raise permission_denied(
                    "NOT_THE_GRANTEE", f"only {consent.grantee} may terminate this consent", consent=consent.name
                )
        else:
            raise invalid_argument("action", f"unsupported action {action.value}")
        now = self.clock()
        try:
            return self.store.update_consent(
                uscc, consent_id, lambda c: domain.apply(c, action, p.actor, now, reason), EVENTS[action], now
            )
        except domain.DomainError as error:
            raise domain_error(error) from None
        except KeyError:
            raise not_found(consent.name) from None

    def _expire(self, uscc: str, consent_id: str) -> Consent:
        now = self.clock()
        try:
            return self.store.update_consent(
                uscc, consent_id, lambda c: domain.apply(c, Action.EXPIRE, domain.SYSTEM, now), "CONSENT_EXPIRED", now
            )
        except domain.DomainError:
            current = self.store.get_consent(uscc, consent_id)
            assert current is not None
            return current

    def sweep(self, limit: int = 500) -> int:
        """Store EXPIRED for live consents past their expiry; returns how many it handled."""
        now = self.clock()
        handled = 0
        for name in self.store.due_for_expiry(now, limit):
            _, uscc, _, cid = name.split("/")
            try:
                current = self._expire(uscc, cid)
            except KeyError:
                self.store.drop_expiry_entry(name)
            else:
                if current.state not in domain.LIVE:
                    self.store.drop_expiry_entry(name)
            handled += 1
        return handled

    # ------------------------------------------------------------ enforcement

    def check_access(
        self, p: Principal, enterprise: str, grantee: str, scope: Scope, period: DataPeriod | None
    ) -> Decision:
        """The enforcement point. Reads the enterprise's consents straight from Redis (no cache),
        decides against the clock whether the whole data `period` (None: the instant now) may be
        read, and audits the decision with the period and the consent it used."""
        if p.kind == "bank":
            if grantee != f"banks/{p.id}":
                raise permission_denied(
                    "CONSENT_NOT_YOURS", f"{p.actor} may only check its own access", grantee=grantee
                )
        else:
            self._require(p, "service", "admin")
        now = self.clock()
        decision = domain.decide(
            self.store.consents_of(enterprise),
            enterprise=enterprise,
            grantee=grantee,
            scope=scope,
            period=period,
            now=now,
        )
        if self.audit_checks:
            self.store.audit_event(
                AuditEvent(
                    "ACCESS_CHECKED",
                    {
                        "caller": p.actor,
                        "enterprise": f"enterprises/{enterprise}",
                        "grantee": grantee,
                        "scope": scope.name,
                        "data_period": [period.start.isoformat(), period.end.isoformat()] if period else None,
                        "allowed": decision.allowed,
                        "reason": decision.reason,
                        "consent": decision.consent,
                    },
                ),
                now,
            )
        return decision

    # ------------------------------------------------------------ erasure

    def request_erasure(self, p: Principal, uscc: str, reason: str) -> ErasureRequest:
        if not (p.kind == "admin" or (p.kind == "enterprise" and p.id == uscc and not p.consent)):
            self._identified(p)
            raise permission_denied("NOT_THE_ENTERPRISE", f"only enterprises/{uscc} may request erasure of its data")
        self._enterprise_or_404(uscc)
        req = ErasureRequest(uuid.uuid4().hex, uscc, p.actor, reason[:500], self.clock())
        return self.store.create_erasure(req, self.clock())

    def get_erasure(self, p: Principal, uscc: str, request_id: str) -> ErasureStatus:
        if not (p.is_("admin", "service") or (p.kind == "enterprise" and p.id == uscc and not p.consent)):
            self._identified(p)
            raise permission_denied("NOT_THE_ENTERPRISE", f"only enterprises/{uscc} may read its erasure requests")
        req, reports = self.store.get_erasure(request_id)
        if req is None or req.uscc != uscc:
            raise not_found(f"enterprises/{uscc}/erasureRequests/{request_id}")
        done = [s for s in self.erasure_services if s in reports]
        state: ErasureState = "PENDING"
        if reports:
            state = "COMPLETED" if len(done) == len(self.erasure_services) else "IN_PROGRESS"
        return ErasureStatus(req, state, tuple(self.erasure_services), reports)

    def recent_erasures(self, p: Principal, uscc: str, limit: int = 5) -> list[ErasureStatus]:
        """The enterprise's latest erasure requests, oldest first (its management page)."""
        return [self.get_erasure(p, uscc, request_id) for request_id in self.store.list_erasures(uscc)[-limit:]]

    # ------------------------------------------------------------ what the enterprise's pages show

    def link_enterprise(self, p: Principal) -> Enterprise | None:
        """The registry record of the enterprise a link was signed for (None if it is not registered)."""
        if p.kind != "enterprise":
            raise permission_denied("PERMISSION_DENIED", "an enterprise link is required")
        return self.store.get_enterprise(p.id)

    def grantee_display_name(self, grantee: str) -> str:
        """How a consent's grantee is named to the enterprise: the bank's registered name, else its
        resource name (the platform's own consents are named by the pages)."""
        bank = self.store.get_bank(grantee.split("/", 1)[1]) if grantee.startswith("banks/") else None
        return bank.display_name if bank else grantee


class Sweeper:
    """Background worker: stores EXPIRED for consents past their expiry."""

    __name__ = "consent-expiry-sweeper"

    def __init__(self, core: ConsentCore, interval: float) -> None:
        self.core = core
        self.interval = interval

    def __call__(self, stopping: threading.Event) -> None:
        while not stopping.wait(self.interval):
            try:
                self.core.sweep()
            except Exception:  # keep sweeping; CheckAccess never depends on it
                log.exception("expiry sweep failed")
