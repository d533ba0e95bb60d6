"""What the loan book reads of other services, in bulk per book: consent decisions and account facts.

The core sees only the protocols. Consent decisions come from pricing's in-process consent projection
(carbon_pricing.projected: the consent service's own rule, carbon_consent.domain.decide, for the
reporting period; fail closed when stale) once per distinct enterprise, no call per borrower; every
decision goes on the access stream for consent's audit. Accounts (AccountingService.GetAccount) are
read only of the enterprises whose decision allowed it — so no account the bank may not see is ever
read.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Protocol

import grpc
import polars as pl
from carbon.v1 import accounting_pb2, accounting_pb2_grpc, consent_pb2

from carbon_pricing.portfolio import frames
from carbon_pricing.portfolio.domain import Access, BorrowerAccount
from carbon_pricing.projected import ProjectedConsent
from carbon_pricing.sources import _MISSING, _peer_error

ACCOUNT_SCOPE = consent_pb2.CONSENT_SCOPE_CARBON_ACCOUNT


class AccessDecisions(Protocol):
    def decisions(self, grantee: str, usccs: Sequence[str], period: str) -> dict[str, Access]:
        """The CARBON_ACCOUNT consent decision of each enterprise for the reporting period."""


class AccountFacts(Protocol):
    def frame(self, usccs: Sequence[str], period: str) -> pl.DataFrame:
        """The period's account of each of these enterprises that has one (frames.ACCOUNT_SCHEMA)."""


class ProjectedDecisions:
    """Decisions from the consent projection, in process; all of a book's decisions are handed to
    consent's audit in one pipelined write (carbon:events:access)."""

    def __init__(self, consent: ProjectedConsent) -> None:
        self._consent = consent

    def decisions(self, grantee: str, usccs: Sequence[str], period: str) -> dict[str, Access]:
        made = self._consent.decide_many(list(dict.fromkeys(usccs)), grantee, ACCOUNT_SCOPE, period)
        self._consent.record_all(made)
        return {d.uscc: Access(d.allowed, d.consent, "" if d.allowed else d.reason) for d in made}


def _decimal(message: object) -> Decimal | None:
    text = getattr(message, "value", "")
    return Decimal(text) if text else None


class GrpcAccountFacts:
    def __init__(self, channel: grpc.Channel, timeout: float = 2.0) -> None:
        self._stub = accounting_pb2_grpc.AccountingServiceStub(channel)
        self._timeout = timeout

    def frame(self, usccs: Sequence[str], period: str) -> pl.DataFrame:
        return frames.accounts_frame(self.accounts(usccs, period).values())

    def accounts(self, usccs: Sequence[str], period: str) -> dict[str, BorrowerAccount]:
        out: dict[str, BorrowerAccount] = {}
        for uscc in dict.fromkeys(usccs):
            name = f"enterprises/{uscc}/accounts/{period}"
            try:
                account = self._stub.GetAccount(accounting_pb2.GetAccountRequest(name=name), timeout=self._timeout)
            except grpc.RpcError as error:
                if error.code() in _MISSING:
                    continue
                raise _peer_error(error, "accounting") from None
            facts = BorrowerAccount.of_figures(
                uscc,
                account.period or period,
                _decimal(account.total_tco2),
                account.input_digest,
                account.factor_set_version,
                _decimal(account.reduction_tco2) if account.HasField("reduction_tco2") else None,
            )
            if facts is not None:
                out[uscc] = facts
        return out
