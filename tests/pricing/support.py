"""In-process world for the pricing core: real Redis, real Rego engine, and
directory implementations of the peer interfaces (carbon_pricing.sources
protocols). The end-to-end suite (test_service_e2e.py) uses real processes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from carbon_common.errors import unauthenticated
from carbon_common.names import period_span, uscc_check_char
from carbon_devkit.checkout import copy_policy_bundle as copy_bundle  # noqa: F401  (the pricing tests' name)
from carbon_pricing.sources import AccessDecision, AccountFacts, RatingFacts

REPO = Path(__file__).resolve().parents[2]
BUNDLE = REPO / "policies" / "products"
NOW = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)

SCHEMES = {
    "quzhou_tanrongyi": "quzhou-four-colour",
    "shenzhen_jiangtandai": "shenzhen-aaa",
    "wuyi_jiantandai": "zhejiang-carbon-efficiency",
}


def uscc(serial: int) -> str:
    first17 = f"91330800MA2{serial:06d}"
    return first17 + uscc_check_char(first17)


@dataclass
class World:
    """Banks, consents, ratings and accounts the core sees."""

    keys: dict[str, str] = field(default_factory=dict)  # api key -> bank id
    consents: dict[tuple[str, str], str] = field(default_factory=dict)  # (uscc, grantee) -> state
    ratings: dict[tuple[str, str], RatingFacts] = field(default_factory=dict)
    accounts: dict[str, AccountFacts] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    periods_checked: list[str | None] = field(default_factory=list)
    recorded: list[AccessDecision] = field(default_factory=list)  # decisions audited without a quote

    # BankDirectory
    def authenticate(self, api_key: str) -> str:
        if api_key not in self.keys:
            raise unauthenticated("UNAUTHENTICATED_BANK", "unknown or revoked bank API key")
        return self.keys[api_key]

    # ConsentChecker
    def decide(self, uscc: str, grantee: str, scope: int, period: str | None) -> AccessDecision:
        self.calls["consent"] = self.calls.get("consent", 0) + 1
        self.periods_checked.append(period)
        state = self.consents.get((uscc, grantee))
        span = period_span(period) if period else None
        consent = f"enterprises/{uscc}/consents/c-{grantee.split('/')[1]}"
        if state != "AUTHORIZED":
            reason = {"REVOKED": "CONSENT_REVOKED", "EXPIRED": "CONSENT_EXPIRED"}.get(state or "", "CONSENT_REQUIRED")
            return AccessDecision(
                grantee, uscc, scope, span, False, reason, "", f"{grantee} has no authorised consent", NOW
            )
        return AccessDecision(grantee, uscc, scope, span, True, "", consent, "", NOW, position="1-0")

    def record(self, decision: AccessDecision) -> None:
        self.recorded.append(decision)

    # RatingSource
    def rating(self, uscc: str, scheme_id: str) -> RatingFacts | None:
        self.calls["rating"] = self.calls.get("rating", 0) + 1
        return self.ratings.get((uscc, scheme_id))

    # AccountSource
    def account(self, name: str, digest_hint: str = "") -> AccountFacts | None:
        return self.accounts.get(name)

    def rate(
        self,
        uscc: str,
        product: str,
        grade: str,
        *,
        score: str | None = None,
        age_days: int = 3,
        quality: str | None = "0.95",
        reduction: str | None = "120.5",
        period: str = "2025",
    ) -> None:
        scheme = SCHEMES[product]
        account_name = f"enterprises/{uscc}/accounts/{period}"
        self.ratings[(uscc, scheme)] = RatingFacts(
            name=f"enterprises/{uscc}/ratings/{scheme}",
            scheme_id=scheme,
            scheme_version="2024.1",
            grade=grade,
            score=Decimal(score) if score is not None else None,
            period=period,
            account=account_name,
            rate_time=NOW - timedelta(days=age_days, hours=1),
            input_digest=f"rating-digest-{uscc}-{grade}",
            factor_set_version="cn-2024.1",
        )
        self.accounts[account_name] = AccountFacts(
            name=account_name,
            period=period,
            quality_score=Decimal(quality) if quality is not None else None,
            reduction_tco2=Decimal(reduction) if reduction is not None else None,
            input_digest=f"account-digest-{uscc}",
            factor_set_version="cn-2024.1",
        )
