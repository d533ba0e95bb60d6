"""Consent on the data's period, on every bank read path, over REST and gRPC, against
real service processes.

Hypothesis draws a consent (data window x scopes x state) for the bank and a stored
account period to read; every read path must answer allowed exactly when
`domain.allowed_by` says so for the period of the data it reads:

  consent checkAccess (REST + gRPC)   the drawn period and scope
  accounting GetAccount (gRPC)        CARBON_ACCOUNT, the account's month or year
  accounting ListAccounts (gRPC)      CARBON_ACCOUNT, exactly the stored periods allowed; denied when none
  accounting report HTML + PDF (REST) REPORT, the account's month or year
  rating GetRating (gRPC)             RATING, the rated year (given, or the latest: 2024)
  loan-pricing quote (REST + gRPC)    RATING, the year of the account the quote is priced on (2024)

Window boundaries are drawn from the periods' own boundaries, "yesterday" and "in 60
days", UTC midnight instead of China midnight, shifted by 0, +-1 us or +-1 day, so a
period exactly equal to the window, one day over at either end and a window starting
yesterday against 2024 data all occur; the named cases are pinned with @example.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from carbon_common.consent_gate import period_span
from carbon_consent.domain import ACCESS_SCOPES, Scope, State
from hypothesis import HealthCheck, assume, event, example, given, settings
from hypothesis import strategies as st

from tests.authz.world import (
    LATEST_YEAR,
    OTHER_BANK,
    STORED_PERIODS,
    World,
)

pytestmark = [pytest.mark.e2e]

NOW = datetime.now(UTC)
DAY = timedelta(days=1)
US = timedelta(microseconds=1)
MAX_WINDOW = timedelta(days=5 * 366 + 365)  # the consent service's default for access scopes
Y2023, Y2024, JUNE_2024 = period_span("2023"), period_span("2024"), period_span("2024-06")
# Window and probe boundaries: anchors (weighted towards windows that cover some data, so both
# answers are common) shifted by 0 (most often), +-1 us or +-1 day.
STARTS = (
    [Y2023[0]] * 3
    + [datetime(2021, 6, 1, tzinfo=UTC)] * 2
    + [Y2024[0]] * 2
    + [
        JUNE_2024[0],
        datetime(2024, 1, 1, tzinfo=UTC),  # 2024 in UTC: eight hours late for China's 2024
        NOW - DAY,  # yesterday
    ]
)
ENDS = [NOW + 60 * DAY] * 3 + [Y2024[1]] * 2 + [Y2023[1], JUNE_2024[1], datetime(2025, 1, 1, tzinfo=UTC)]
SHIFTS = [timedelta(0)] * 4 + [-US, US, -DAY, DAY]
PROBES = ["window", *STORED_PERIODS]
EXACT = (timedelta(0), timedelta(0))  # probe shifts: the probe's own boundaries
SCOPES = sorted(ACCESS_SCOPES)


def scopes() -> st.SearchStrategy[frozenset[Scope]]:
    return st.frozensets(st.sampled_from(SCOPES), min_size=1)


def instants(anchors: list[datetime]) -> st.SearchStrategy[datetime]:
    return st.builds(lambda a, s: a + s, st.sampled_from(anchors), st.sampled_from(SHIFTS))


def check_every_path(world: World, period: str, probe: tuple[Scope, datetime, datetime]) -> None:
    """Every read path answers as the rule says for the data it reads."""
    seen: dict[str, tuple[bool, bool]] = {}

    def expect(path: str, allowed: bool, expected: bool) -> None:
        seen[path] = (allowed, expected)
        event(f"{path.split(' 20')[0]}: {'allowed' if expected else 'denied'}")

    scope, start, end = probe
    rule = world.expected(scope, start, end)
    expect("checkAccess gRPC", world.grpc_check_access(scope, start, end).allowed, rule)
    expect("checkAccess REST", world.rest_check_access(scope, start, end).allowed, rule)

    account_rule = world.expected_period(Scope.CARBON_ACCOUNT, period)
    expect(f"GetAccount {period}", world.get_account(period).allowed, account_rule)
    listed, periods = world.list_accounts()
    readable = {p for p in STORED_PERIODS if world.expected_period(Scope.CARBON_ACCOUNT, p)}
    expect("ListAccounts", listed.allowed, bool(readable))
    assert periods == readable, ("ListAccounts returned", periods, "readable", readable)

    report_rule = world.expected_period(Scope.REPORT, period)
    expect(f"report html {period}", world.report(period, "html").allowed, report_rule)
    expect(f"report pdf {period}", world.report(period, "pdf").allowed, report_rule)

    year = period[:4]
    rated, rated_period = world.get_rating(year)
    expect(f"GetRating {year}", rated.allowed, world.expected_period(Scope.RATING, year))
    assert not rated.allowed or rated_period == year
    latest_rule = world.expected_period(Scope.RATING, LATEST_YEAR)
    latest, latest_period = world.get_rating()
    expect("GetRating latest", latest.allowed, latest_rule)
    assert not latest.allowed or latest_period == LATEST_YEAR
    for edge, (quoted, quoted_period) in (("REST", world.quote_rest()), ("gRPC", world.quote_grpc())):
        expect(f"quote {edge}", quoted.allowed, latest_rule)
        assert not quoted.allowed or quoted_period == LATEST_YEAR

    wrong = {path: got for path, got in seen.items() if got[0] != got[1]}
    assert not wrong, f"(answered allowed, rule allows) differ on {wrong}"


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(
    granted=scopes(),
    start=instants(STARTS),
    end=instants(ENDS),
    state=st.sampled_from([State.AUTHORIZED, State.AUTHORIZED, State.REQUESTED, State.REVOKED]),
    period=st.sampled_from(STORED_PERIODS),
    probe=st.sampled_from(PROBES),
    probe_scope=st.sampled_from(SCOPES),
    probe_shifts=st.tuples(st.sampled_from(SHIFTS), st.sampled_from(SHIFTS)),
)
# A window exactly equal to 2024 (China time): 2024 and its months readable, 2023 not.
@example(frozenset(SCOPES), Y2024[0], Y2024[1], State.AUTHORIZED, "2024", "2024", Scope.RATING, EXACT)
@example(frozenset(SCOPES), Y2024[0], Y2024[1], State.AUTHORIZED, "2023", "2023", Scope.RATING, EXACT)
# One day short / one microsecond short at either end: 2024 is refused.
@example(frozenset(SCOPES), Y2024[0] + DAY, Y2024[1], State.AUTHORIZED, "2024", "2024", Scope.REPORT, EXACT)
@example(frozenset(SCOPES), Y2024[0], Y2024[1] - DAY, State.AUTHORIZED, "2024-06", "2024", Scope.REPORT, EXACT)
@example(frozenset(SCOPES), Y2024[0] + US, Y2024[1], State.AUTHORIZED, "2024", "2024", Scope.REPORT, EXACT)
# The case: a window [yesterday, +60 days] never reaches 2024 data.
@example(frozenset(SCOPES), NOW - DAY, NOW + 60 * DAY, State.AUTHORIZED, "2024", "2024", Scope.CARBON_ACCOUNT, EXACT)
# 2024 in UTC misses the first eight hours of the China year.
@example(
    frozenset(SCOPES),
    datetime(2024, 1, 1, tzinfo=UTC),
    datetime(2025, 1, 1, tzinfo=UTC),
    State.AUTHORIZED,
    "2024-06",
    "window",
    Scope.RATING,
    EXACT,
)
# Scope matters: a RATING-only consent over 2023-2024 reads ratings and quotes, not accounts or reports.
@example(frozenset({Scope.RATING}), Y2023[0], Y2024[1], State.AUTHORIZED, "2024", "2024", Scope.REPORT, EXACT)
# State matters: the same window requested-only or revoked allows nothing.
@example(frozenset(SCOPES), Y2023[0], NOW + 60 * DAY, State.REQUESTED, "2024", "2024", Scope.RATING, EXACT)
@example(frozenset(SCOPES), Y2023[0], NOW + 60 * DAY, State.REVOKED, "2024", "2024", Scope.RATING, EXACT)
def test_every_read_path_follows_the_period_rule(
    world: World,
    granted: frozenset[Scope],
    start: datetime,
    end: datetime,
    state: State,
    period: str,
    probe: str,
    probe_scope: Scope,
    probe_shifts: tuple[timedelta, timedelta],
) -> None:
    """`period` is the stored account the account/report/rating reads use; checkAccess probes
    `probe` (the window itself or a stored period's span) with its ends shifted."""
    assume(start < end <= start + MAX_WINDOW)
    base = (start, end) if probe == "window" else period_span(probe)
    probe_start, probe_end = base[0] + probe_shifts[0], base[1] + probe_shifts[1]
    assume(probe_start < probe_end)
    grant = world.grant(granted, start, end, state, validity=timedelta(days=30))
    try:
        check_every_path(world, period, (probe_scope, probe_start, probe_end))
    finally:
        world.close(grant)


def test_another_bank_reads_nothing_with_this_banks_consent(world: World) -> None:
    """The grantee must be the reader: a window covering everything, granted to one bank, lets another read nothing."""
    grant = world.grant(frozenset(SCOPES), Y2023[0], NOW + 60 * DAY, State.AUTHORIZED, timedelta(days=30))
    try:
        assert world.get_account("2024").allowed
        for outcome in (
            world.get_account("2024", bank=OTHER_BANK),
            world.list_accounts(bank=OTHER_BANK)[0],
            world.report("2024", "html", bank=OTHER_BANK),
            world.get_rating("2024", bank=OTHER_BANK)[0],
            world.quote_rest(bank=OTHER_BANK)[0],
            world.quote_grpc(bank=OTHER_BANK)[0],
        ):
            assert (outcome.allowed, outcome.reason) == (False, "CONSENT_REQUIRED")
    finally:
        world.close(grant)


def test_denials_name_the_reason_and_the_consent(world: World) -> None:
    """A window that misses the period is CONSENT_DATA_WINDOW naming the consent; the allowing answer names it too."""
    grant = world.grant(frozenset(SCOPES), NOW - DAY, NOW + 60 * DAY, State.AUTHORIZED, timedelta(days=30))
    try:
        denied = world.grpc_check_access(Scope.CARBON_ACCOUNT, *Y2024)
        assert (denied.allowed, denied.reason, denied.detail) == (False, "CONSENT_DATA_WINDOW", grant.name)
        assert world.get_account("2024").reason == "CONSENT_DATA_WINDOW"
        assert world.report("2024", "pdf").reason == "CONSENT_DATA_WINDOW"
        allowed = world.rest_check_access(Scope.CARBON_ACCOUNT, NOW - US, NOW)
        assert (allowed.allowed, allowed.detail) == (True, grant.name)
    finally:
        world.close(grant)
