"""Property-based tests: random requests, authorisations, revocations, terminations,
expiries and clock movement never let access through without a consent that was
authorised, unexpired, in scope and whose data window covers the whole period
of the data read (one instant, or a span [start, end)) at that moment.

Two machines: one over the pure domain (many steps, cheap), one through the
real Redis store and core (fewer steps).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import redis
from carbon_common.errors import ServiceError
from carbon_consent import domain
from carbon_consent.audit import verify
from carbon_consent.core import ConsentRequest
from carbon_consent.domain import Action, Consent, DomainError, Limits, Purpose, Scope, State
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tests.consent.helpers import ADMIN, REDIS_MACHINE_SETTINGS, SERVICE, MovableClock, build_components, make_uscc

START = datetime(2026, 1, 1, tzinfo=UTC)
ENTERPRISES = ["91330802MA2DHT2W4Y", "91330802000000000X"]
GRANTEES = ["platform", "banks/a", "banks/b"]
LIMITS = Limits.from_days(
    {"TAX_INVOICES": 60, "ENERGY_METERING": 90, "CARBON_ACCOUNT": 30, "RATING": 45, "REPORT": 20},
    {s: 400 for s in Scope.__members__},
)


@dataclass
class Ghost:
    """The test's own record of a consent, kept independently of the domain code."""

    enterprise: str
    grantee: str
    scopes: frozenset[Scope]
    data_start: datetime
    data_end: datetime
    expire_time: datetime
    authorised: bool = False
    ended: bool = False  # rejected, revoked or terminated
    decided: bool = False  # authorised or rejected (or expired while requested)


def scopes_for(grantee: str) -> st.SearchStrategy[frozenset[Scope]]:
    pool = sorted(domain.COLLECTION_SCOPES if grantee == "platform" else domain.ACCESS_SCOPES)
    return st.frozensets(st.sampled_from(pool), min_size=1)


def spec_allows(
    ghosts: dict[str, Ghost],
    enterprise: str,
    grantee: str,
    scope: Scope,
    data: tuple[datetime, datetime] | datetime,
    now: datetime,
) -> set[str]:
    """Consent ids that may allow the access, per the issue's definition: every data
    instant (one instant t, or every t with start <= t < end) lies in [data_start, data_end)."""
    if isinstance(data, datetime):
        inside = lambda g: g.data_start <= data < g.data_end  # noqa: E731
    else:
        inside = lambda g: g.data_start <= data[0] and data[1] <= g.data_end  # noqa: E731
    return {
        cid
        for cid, g in ghosts.items()
        if g.enterprise == enterprise
        and g.grantee == grantee
        and g.authorised
        and not g.ended
        and now < g.expire_time
        and scope in g.scopes
        and inside(g)
    }


def as_period(data: tuple[datetime, datetime] | datetime | None) -> domain.DataPeriod | None:
    if data is None:
        return None
    if isinstance(data, datetime):
        return domain.DataPeriod.instant(data)
    return domain.DataPeriod(*data)


class DomainMachine(RuleBasedStateMachine):
    """The pure domain with an injected clock."""

    def __init__(self) -> None:
        super().__init__()
        self.now = START
        self.consents: dict[str, Consent] = {}
        self.ghosts: dict[str, Ghost] = {}
        self.terminal: dict[str, Consent] = {}
        self.counter = 0

    @rule(
        data=st.data(),
        enterprise=st.sampled_from(ENTERPRISES),
        grantee=st.sampled_from(GRANTEES),
        start_days=st.integers(-400, 30),
        length_days=st.integers(-5, 450),
        validity_seconds=st.integers(-3600, 100 * 86400),
    )
    def request(self, data, enterprise, grantee, start_days, length_days, validity_seconds) -> None:  # type: ignore[no-untyped-def]
        scopes = data.draw(scopes_for(grantee))
        purpose = Purpose.CARBON_ACCOUNTING if grantee == "platform" else Purpose.CREDIT_ASSESSMENT
        start = self.now + timedelta(days=start_days)
        end = start + timedelta(days=length_days)
        expire = self.now + timedelta(seconds=validity_seconds)
        self.counter += 1
        cid = f"c{self.counter}"
        valid = (
            end > start
            and end - start <= LIMITS.data_window_for(scopes)
            and self.now < expire
            and expire - self.now <= LIMITS.validity_for(scopes)
        )
        try:
            consent = domain.new_consent(
                id=cid,
                enterprise=enterprise,
                grantee=grantee,
                scopes=scopes,
                purpose=purpose,
                data_start=start,
                data_end=end,
                expire_time=expire,
                actor=grantee,
                now=self.now,
                limits=LIMITS,
            )
        except DomainError as error:
            assert not valid, error.violations
            assert error.kind == "invalid"
            return
        assert valid
        assert consent.state == State.REQUESTED
        self.consents[cid] = consent
        self.ghosts[cid] = Ghost(enterprise, grantee, scopes, start, end, expire)

    def _act(self, index: int, action: Action) -> None:
        cid = sorted(self.consents)[index % len(self.consents)]
        consent, ghost = self.consents[cid], self.ghosts[cid]
        expired = self.now >= ghost.expire_time
        live_requested = not ghost.decided and not ghost.ended and not expired
        live_authorised = ghost.authorised and not ghost.ended and not expired
        expected_ok = {
            Action.AUTHORIZE: live_requested,
            Action.REJECT: live_requested,
            Action.REVOKE: live_authorised,
            Action.TERMINATE: live_authorised,
        }[action]
        try:
            updated = domain.apply(consent, action, f"actor-{action.value}", self.now, "because")
        except DomainError as error:
            assert not expected_ok, f"{action} refused: {error.message}"
            assert error.kind == "state"
            return
        assert expected_ok, f"{action} allowed on {consent.state.name} at {self.now}"
        last = updated.history[-1]
        assert (last.actor, last.time, last.reason) == (f"actor-{action.value}", self.now, "because")
        self.consents[cid] = updated
        if action == Action.AUTHORIZE:
            ghost.authorised = ghost.decided = True
        elif action == Action.REJECT:
            ghost.decided = ghost.ended = True
        else:
            ghost.ended = True

    @precondition(lambda self: self.consents)
    @rule(index=st.integers(0, 10_000))
    def authorise(self, index: int) -> None:
        self._act(index, Action.AUTHORIZE)

    @precondition(lambda self: self.consents)
    @rule(index=st.integers(0, 10_000))
    def reject(self, index: int) -> None:
        self._act(index, Action.REJECT)

    @precondition(lambda self: self.consents)
    @rule(index=st.integers(0, 10_000))
    def revoke(self, index: int) -> None:
        self._act(index, Action.REVOKE)

    @precondition(lambda self: self.consents)
    @rule(index=st.integers(0, 10_000))
    def terminate(self, index: int) -> None:
        self._act(index, Action.TERMINATE)

    @precondition(lambda self: self.consents)
    @rule(index=st.integers(0, 10_000))
    def sweep_one(self, index: int) -> None:
        """What the sweeper (or a lazy read) does: store EXPIRED when due."""
        cid = sorted(self.consents)[index % len(self.consents)]
        expired = domain.materialize_expiry(self.consents[cid], self.now)
        if expired is not None:
            assert self.now >= self.ghosts[cid].expire_time
            assert expired.history[-1].actor == domain.SYSTEM
            self.consents[cid] = expired

    @rule(seconds=st.one_of(st.integers(0, 3600), st.integers(0, 40 * 86400)))
    def advance(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)

    @precondition(lambda self: self.consents)
    @rule(index=st.integers(0, 10_000), offset_us=st.sampled_from([-1, 0, 1]))
    def advance_to_expiry(self, index: int, offset_us: int) -> None:
        """Land exactly on (or next to) an expiry instant."""
        target = self.ghosts[sorted(self.ghosts)[index % len(self.ghosts)]].expire_time
        target += timedelta(microseconds=offset_us)
        if target > self.now:
            self.now = target

    def _check(
        self, enterprise: str, grantee: str, scope: Scope, data: tuple[datetime, datetime] | datetime | None
    ) -> None:
        decision = domain.decide(
            self.consents.values(),
            enterprise=enterprise,
            grantee=grantee,
            scope=scope,
            period=as_period(data),
            now=self.now,
        )
        allowed_ids = spec_allows(self.ghosts, enterprise, grantee, scope, data or self.now, self.now)
        assert decision.allowed == bool(allowed_ids), (decision, allowed_ids, data)
        if decision.allowed:
            assert decision.consent.rsplit("/", 1)[1] in allowed_ids
            assert domain.allowed_by(
                self.consents[decision.consent.rsplit("/", 1)[1]],
                enterprise=enterprise,
                grantee=grantee,
                scope=scope,
                data_start=as_period(data or self.now).start,  # type: ignore[union-attr]
                data_end=as_period(data or self.now).end,  # type: ignore[union-attr]
                now=self.now,
            )
        else:
            assert decision.reason in {
                "CONSENT_REQUIRED",
                "CONSENT_REVOKED",
                "CONSENT_EXPIRED",
                "CONSENT_REJECTED",
                "CONSENT_SCOPE",
                "CONSENT_DATA_WINDOW",
            }

    @rule(
        enterprise=st.sampled_from(ENTERPRISES),
        grantee=st.sampled_from(GRANTEES),
        scope=st.sampled_from(list(Scope)),
        data_offset_days=st.one_of(st.none(), st.integers(-450, 60)),
        length_days=st.one_of(st.none(), st.integers(1, 400)),
    )
    def check(
        self, enterprise: str, grantee: str, scope: Scope, data_offset_days: int | None, length_days: int | None
    ) -> None:
        data: tuple[datetime, datetime] | datetime | None = None
        if data_offset_days is not None:
            start = self.now + timedelta(days=data_offset_days)
            data = start if length_days is None else (start, start + timedelta(days=length_days))
        self._check(enterprise, grantee, scope, data)

    @precondition(lambda self: self.consents)
    @rule(
        index=st.integers(0, 10_000),
        edge=st.sampled_from(["start", "end"]),
        offset_us=st.sampled_from([-1, 0, 1]),
        scope=st.sampled_from(list(Scope)),
    )
    def check_at_window_edge(self, index: int, edge: str, offset_us: int, scope: Scope) -> None:
        """Data instants exactly on (or next to) a data window boundary."""
        ghost = self.ghosts[sorted(self.ghosts)[index % len(self.ghosts)]]
        when = (ghost.data_start if edge == "start" else ghost.data_end) + timedelta(microseconds=offset_us)
        self._check(ghost.enterprise, ghost.grantee, scope, when)

    @precondition(lambda self: self.consents)
    @rule(
        index=st.integers(0, 10_000),
        start_shift=st.sampled_from([-86400_000_000, -1, 0, 1, 86400_000_000]),
        end_shift=st.sampled_from([-86400_000_000, -1, 0, 1, 86400_000_000]),
        scope=st.sampled_from(list(Scope)),
    )
    def check_period_at_window(self, index: int, start_shift: int, end_shift: int, scope: Scope) -> None:
        """Periods equal to a data window, or a microsecond / a day shorter or longer at either end."""
        ghost = self.ghosts[sorted(self.ghosts)[index % len(self.ghosts)]]
        start = ghost.data_start + timedelta(microseconds=start_shift)
        end = ghost.data_end + timedelta(microseconds=end_shift)
        if end > start:
            self._check(ghost.enterprise, ghost.grantee, scope, (start, end))

    @invariant()
    def terminal_states_never_change(self) -> None:
        for cid, consent in self.consents.items():
            if consent.state in domain.TERMINAL:
                if cid in self.terminal:
                    assert self.terminal[cid] == consent
                self.terminal[cid] = consent

    @invariant()
    def histories_are_well_formed(self) -> None:
        for consent in self.consents.values():
            assert consent.history[0].to_state == State.REQUESTED and consent.history[0].from_state is None
            for before, after in zip(consent.history, consent.history[1:], strict=False):
                assert after.from_state == before.to_state
                assert (before.to_state, after.to_state) in {(a, b) for (a, _), b in domain.TRANSITIONS.items()}
                assert after.time >= before.time and after.actor
            assert consent.history[-1].to_state == consent.state
            effective = domain.effective_state(consent, self.now)
            if effective == State.AUTHORIZED:
                assert self.now < consent.expire_time


TestDomainMachine = DomainMachine.TestCase
TestDomainMachine.settings = settings(max_examples=300, stateful_step_count=40, deadline=None)


# ---------------------------------------------------------------- through the real Redis store


class StoreMachine(RuleBasedStateMachine):
    """The same promise through ConsentCore + Redis (+ audit), with a movable clock."""

    redis_url = ""

    def __init__(self) -> None:
        super().__init__()
        redis.Redis.from_url(self.redis_url).flushall()
        self.clock = MovableClock(START)
        self.parts = build_components(self.redis_url, self.clock)
        self.core = self.parts.core
        self.uscc = make_uscc()
        self.core.create_enterprise(ADMIN, self.uscc, "企业", "C2611", "330000", "")
        for bank in ("a", "b"):
            self.core.create_bank(ADMIN, bank, f"Bank {bank}")
        self.ghosts: dict[str, Ghost] = {}

    @initialize()
    def nothing(self) -> None:
        pass

    @rule(
        data=st.data(),
        grantee=st.sampled_from(GRANTEES),
        validity_seconds=st.integers(1, 20 * 86400),
    )
    def request(self, data, grantee: str, validity_seconds: int) -> None:  # type: ignore[no-untyped-def]
        scopes = data.draw(scopes_for(grantee))
        now = self.clock.now
        req = ConsentRequest(
            grantee=grantee,
            scopes=sorted(scopes),
            purpose=Purpose.CARBON_ACCOUNTING if grantee == "platform" else Purpose.CREDIT_ASSESSMENT,
            data_start=now - timedelta(days=300),
            data_end=now + timedelta(days=30),
            expire_time=now + timedelta(seconds=validity_seconds),
        )
        consent, uri = self.core.create_consent(ADMIN, self.uscc, req)
        assert uri and consent.state == State.REQUESTED
        self.ghosts[consent.id] = Ghost(self.uscc, grantee, scopes, req.data_start, req.data_end, req.expire_time)  # type: ignore[arg-type]

    @precondition(lambda self: self.ghosts)
    @rule(
        index=st.integers(0, 10_000),
        action=st.sampled_from([Action.AUTHORIZE, Action.REJECT, Action.REVOKE, Action.TERMINATE]),
    )
    def act(self, index: int, action: Action) -> None:
        cid = sorted(self.ghosts)[index % len(self.ghosts)]
        ghost = self.ghosts[cid]
        expired = self.clock.now >= ghost.expire_time
        requested = not ghost.decided and not ghost.ended and not expired
        authorised = ghost.authorised and not ghost.ended and not expired
        ok = requested if action in (Action.AUTHORIZE, Action.REJECT) else authorised
        try:
            updated = self.core.transition(ADMIN, self.uscc, cid, action, "r")
        except ServiceError as error:
            assert not ok, error.message
            return
        assert ok
        assert updated.history[-1].actor == "admin"
        if action == Action.AUTHORIZE:
            ghost.authorised = ghost.decided = True
        elif action == Action.REJECT:
            ghost.decided = ghost.ended = True
        else:
            ghost.ended = True

    @rule(seconds=st.integers(0, 6 * 86400))
    def advance(self, seconds: int) -> None:
        self.clock.advance(seconds=seconds)

    @rule()
    def sweep(self) -> None:
        self.core.sweep()
        for cid, ghost in self.ghosts.items():
            stored = self.parts.store.get_consent(self.uscc, cid)
            assert stored is not None
            if self.clock.now >= ghost.expire_time and stored.state in domain.LIVE:
                pytest.fail(f"sweep left {cid} {stored.state.name} past its expiry")

    @rule(
        grantee=st.sampled_from(GRANTEES),
        scope=st.sampled_from(list(Scope)),
        start_days=st.one_of(st.none(), st.integers(-310, 40)),
        length_days=st.integers(1, 400),
    )
    def check(self, grantee: str, scope: Scope, start_days: int | None, length_days: int) -> None:
        data: tuple[datetime, datetime] | None = None
        if start_days is not None:
            start = self.clock.now + timedelta(days=start_days)
            data = (start, start + timedelta(days=length_days))
        decision = self.core.check_access(SERVICE, self.uscc, grantee, scope, as_period(data))
        allowed = spec_allows(self.ghosts, self.uscc, grantee, scope, data or self.clock.now, self.clock.now)
        assert decision.allowed == bool(allowed), (decision, allowed)

    def teardown(self) -> None:
        assert verify(self.parts.store.r).ok
        self.parts.store.r.close()


def test_store_machine(redis_url: str) -> None:
    StoreMachine.redis_url = redis_url
    run_state_machine_as_test(
        StoreMachine,
        settings=REDIS_MACHINE_SETTINGS,
    )
