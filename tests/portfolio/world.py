"""A small world for the loan-book API tests: two banks, three enterprises, consents, accounts, a CSV book."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal as D

import polars as pl
from carbon_common.consent_gate import PERIOD_ZONE, period_span
from carbon_common.errors import unauthenticated
from carbon_consent import domain as consent
from carbon_pricing.portfolio import frames
from carbon_pricing.portfolio.domain import Access, Benchmarks, BorrowerAccount, IndustryIntensity
from carbon_pricing.sources import RatingFacts
from fastapi.testclient import TestClient

from tests.pricing.support import uscc

NOW = datetime(2025, 3, 1, tzinfo=UTC)
KEYS = {"ck_b1": "b1", "ck_b2": "b2"}
E1, E2, E3 = uscc(1), uscc(2), uscc(3)
BENCH = Benchmarks("test-bench-v1", "test", {"C3011": IndustryIntensity(D("1900"), D("900"))})


SCHEME = "zhejiang-carbon-efficiency"


def _consent(
    enterprise: str, grantee: str, start_year: int, end_year: int, scope: consent.Scope = consent.Scope.CARBON_ACCOUNT
) -> consent.Consent:
    return consent.Consent(
        id=f"c-{grantee[-2:]}-{enterprise[-3:]}-{scope.value}",
        enterprise=enterprise,
        grantee=grantee,
        scopes=(scope,),
        purpose=consent.Purpose.CREDIT_ASSESSMENT,
        data_start=datetime(start_year, 1, 1, tzinfo=PERIOD_ZONE),
        data_end=datetime(end_year, 1, 1, tzinfo=PERIOD_ZONE),
        expire_time=datetime(2025, 12, 31, tzinfo=UTC),
        state=consent.State.AUTHORIZED,
        create_time=datetime(2025, 1, 1, tzinfo=UTC),
        update_time=datetime(2025, 1, 1, tzinfo=UTC),
    )


class Directory:
    """Banks by API key, consent decisions by the consent rule, accounts with a read log."""

    def __init__(self) -> None:
        self.consents = [
            _consent(E1, "banks/b1", 2024, 2025),  # covers 2024
            _consent(E2, "banks/b1", 2023, 2024),  # 2023 only: misses 2024
            _consent(E3, "banks/b2", 2024, 2025),  # another bank's consent
            # RATING: only E1 lets b1 see its grade (E3 lets b2 see it)
            _consent(E1, "banks/b1", 2024, 2025, consent.Scope.RATING),
            _consent(E3, "banks/b2", 2024, 2025, consent.Scope.RATING),
        ]
        # Zhejiang carbon-efficiency grades: E1 5 (high-carbon), E2 2, E3 4 (high-carbon)
        self.ratings = {
            u: RatingFacts(f"enterprises/{u}/ratings/{SCHEME}", SCHEME, "1", g, None, "2024", "", None, "d")
            for u, g in ((E1, "5"), (E2, "2"), (E3, "4"))
        }
        self.accounts = {
            u: BorrowerAccount(u, "2024", D("1000"), f"sha256:{u[-3:]}", "cn-2024.1", D("50")) for u in (E1, E2, E3)
        }
        self.read: list[str] = []

    def authenticate(self, api_key: str) -> str:
        if api_key not in KEYS:
            raise unauthenticated("UNAUTHENTICATED_BANK", "unknown or revoked bank API key")
        return KEYS[api_key]

    def decisions(self, grantee: str, usccs: Sequence[str], period: str) -> dict[str, Access]:
        start, end = period_span(period)
        out = {}
        for u in usccs:
            d = consent.decide(
                self.consents,
                enterprise=u,
                grantee=grantee,
                scope=consent.Scope.CARBON_ACCOUNT,
                period=consent.DataPeriod(start, end),
                now=NOW,
            )
            out[u] = Access(d.allowed, d.consent, d.reason)
        return out

    def rating(self, uscc: str, scheme: str) -> RatingFacts | None:
        return self.ratings.get(uscc) if scheme == SCHEME else None

    def rating_allowed(self, usccs: Sequence[str], grantee: str, period: str | None) -> list[bool]:
        start, end = period_span(period or "2024")
        return [
            consent.decide(
                self.consents,
                enterprise=uscc,
                grantee=grantee,
                scope=consent.Scope.RATING,
                period=consent.DataPeriod(start, end),
                now=NOW,
            ).allowed
            for uscc in usccs
        ]

    def accounts_for(self, usccs: Sequence[str], period: str) -> dict[str, BorrowerAccount]:
        self.read.extend(usccs)
        return {u: self.accounts[u] for u in usccs if u in self.accounts}


class _Accounts:
    def __init__(self, directory: Directory) -> None:
        self.directory = directory

    def frame(self, usccs: Sequence[str], period: str) -> pl.DataFrame:
        return frames.accounts_frame(self.directory.accounts_for(usccs, period).values())


HEADER = (
    "position_id,enterprise,product,outstanding_cny,equity_plus_debt_cny,listed,evic_cny,revenue_cny,"
    "industry_code,region_code"
)
GOOD_CSV = "\n".join(
    [
        HEADER,
        f"L1,enterprises/{E1},loan,2000000.00,50000000.00,false,,,C3011,330000",
        f"L2,{E2},loan,500000.00,10000000.00,false,,,C3011,330000",
        f"L3,{E3},loan,1000000.00,4000000.00,true,8000000.00,30000000.00,C3011,510000",
    ]
).encode()


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def upload(http: TestClient, data: bytes, bank: str = "b1", key: str = "ck_b1", snapshot: str = "2024-12-31"):
    return http.post(
        f"/v1/banks/{bank}/books/main/snapshots:upload",
        params={"snapshotId": snapshot},
        content=data,
        headers={**auth(key), "Content-Type": "text/csv"},
    )
