"""What the loan book reads of other services, in bulk per book: consent decisions and account facts.

The core sees only the protocols. Implementations here ask the consent service (CheckAccess for the
reporting period, the consent rule of carbon_consent.domain) once per distinct enterprise, and read
accounts (AccountingService.GetAccount) only of the enterprises whose decision allowed it — so no
account the bank may not see is ever read. The per-enterprise calls are the interim source; the
hot path is meant to read event-carried projections (docs/portfolio.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Protocol

import grpc
import polars as pl
from carbon.v1 import accounting_pb2, accounting_pb2_grpc, consent_pb2
from carbon_common.consent_gate import ConsentGate

from carbon_pricing.portfolio import frames
from carbon_pricing.portfolio.domain import Access, BorrowerAccount
from carbon_pricing.sources import _MISSING, _peer_error

ACCOUNT_SCOPE = consent_pb2.CONSENT_SCOPE_CARBON_ACCOUNT


class AccessDecisions(Protocol):
    def decisions(self, grantee: str, usccs: Sequence[str], period: str) -> dict[str, Access]:
        """The CARBON_ACCOUNT consent decision of each enterprise for the reporting period."""


class AccountFacts(Protocol):
    def frame(self, usccs: Sequence[str], period: str) -> pl.DataFrame:
        """The period's account of each of these enterprises that has one (frames.ACCOUNT_SCHEMA)."""


class GateDecisions:
    def __init__(self, gate: ConsentGate) -> None:
        self._gate = gate

    def decisions(self, grantee: str, usccs: Sequence[str], period: str) -> dict[str, Access]:
        out: dict[str, Access] = {}
        for uscc in dict.fromkeys(usccs):
            answer = self._gate.allows_period(uscc, grantee, ACCOUNT_SCOPE, period)
            out[uscc] = Access(bool(answer.allowed), answer.consent, "" if answer.allowed else answer.reason)
        return out


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
            total = _decimal(account.total_tco2)
            if total is None:
                continue
            out[uscc] = BorrowerAccount(
                uscc=uscc,
                period=account.period or period,
                scope12_tco2=total.quantize(Decimal("0.000001")),
                input_digest=account.input_digest,
                factor_set_version=account.factor_set_version,
                reduction_tco2=(
                    _decimal(account.reduction_tco2).quantize(Decimal("0.000001"))  # type: ignore[union-attr]
                    if account.HasField("reduction_tco2") and account.reduction_tco2.value
                    else None
                ),
            )
        return out
