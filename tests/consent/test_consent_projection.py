"""The consent projection (carbon_consent.projection) that pricing decides with: it equals the consent
service's own answer on every case of the consent property test, and it fails closed without a
recent heartbeat (revocation effective within 1 s, consent down -> refused, back -> resumed)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
import redis
from carbon_common import events
from carbon_consent.changes import Heartbeat
from carbon_consent.core import ConsentRequest
from carbon_consent.domain import Action, Purpose, Scope
from carbon_consent.projection import ConsentProjection, ProjectionStale
from hypothesis import strategies as st
from hypothesis.stateful import rule, run_state_machine_as_test

from tests.consent.helpers import ADMIN, REDIS_MACHINE_SETTINGS, SERVICE, MovableClock, build_components, make_uscc
from tests.consent.test_consent_properties import GRANTEES, StoreMachine, as_period


def fresh_projection(client: redis.Redis) -> ConsentProjection:
    """A projection built from a snapshot, then caught up to a heartbeat."""
    projection = ConsentProjection(client)
    projection.snapshot()
    Heartbeat(client).beat()
    projection.catch_up()
    return projection


class ProjectionMachine(StoreMachine):
    """StoreMachine's steps; every access check is also decided by a projection that tails the stream
    since the machine started, and by one built from a snapshot at that moment: all three agree."""

    def __init__(self) -> None:
        super().__init__()
        self.tail = ConsentProjection(self.parts.store.r)
        self.tail.snapshot()

    @rule(
        grantee=st.sampled_from(GRANTEES),
        scope=st.sampled_from(list(Scope)),
        start_days=st.one_of(st.none(), st.integers(-310, 40)),
        length_days=st.integers(1, 400),
    )
    def check(self, grantee: str, scope: Scope, start_days: int | None, length_days: int) -> None:
        StoreMachine.check(self, grantee, scope, start_days, length_days)
        data: tuple[datetime, datetime] | None = None
        if start_days is not None:
            start = self.clock.now + timedelta(days=start_days)
            data = (start, start + timedelta(days=length_days))
        period = as_period(data)
        own = self.core.check_access(SERVICE, self.uscc, grantee, scope, period)
        Heartbeat(self.parts.store.r).beat()
        self.tail.catch_up()
        for projection in (self.tail, fresh_projection(self.parts.store.r)):
            projected = projection.decide(
                enterprise=self.uscc, grantee=grantee, scope=scope, period=period, now=self.clock.now
            )
            assert projected.decision == own, (projected.decision, own)
            assert projected.position == projection.position

    def teardown(self) -> None:
        self.tail.catch_up()
        stored = {c.id: c for c in self.parts.store.all_consents()}
        projected = {c.id: c for c in self.tail.consents()}
        assert stored.keys() == projected.keys()
        for cid, c in stored.items():
            p = projected[cid]
            assert (p.state, p.scopes, p.data_start, p.data_end, p.expire_time, p.update_time, p.grantee) == (
                c.state,
                c.scopes,
                c.data_start,
                c.data_end,
                c.expire_time,
                c.update_time,
                c.grantee,
            )
        super().teardown()


def test_projection_equals_consent(redis_url: str) -> None:
    ProjectionMachine.redis_url = redis_url
    run_state_machine_as_test(
        ProjectionMachine,
        settings=REDIS_MACHINE_SETTINGS,
    )


# ---------------------------------------------------------------- fail closed, with real threads


class World:
    """A consent core on real Redis with a granted consent, its heartbeat and a tailing projection."""

    def __init__(self, redis_url: str) -> None:
        self.clock = MovableClock(datetime.now(UTC))
        self.parts = build_components(redis_url, self.clock)
        self.client = self.parts.store.r
        self.uscc = make_uscc()
        core = self.parts.core
        core.create_enterprise(ADMIN, self.uscc, "企业", "C2611", "330000", "")
        _, self.api_key = core.create_bank(ADMIN, "a", "Bank a")
        now = self.clock.now
        request = ConsentRequest(
            grantee="banks/a",
            scopes=[Scope.RATING],
            purpose=Purpose.CREDIT_ASSESSMENT,
            data_start=now - timedelta(days=300),
            data_end=now + timedelta(days=30),
            expire_time=now + timedelta(days=30),
        )
        self.consent, _ = core.create_consent(ADMIN, self.uscc, request, authorize=True)
        self.projection = ConsentProjection(self.client)
        self.stopping = threading.Event()
        self.beating = threading.Event()
        self.threads = [
            threading.Thread(target=self.projection.run, args=(self.stopping,), daemon=True),
            threading.Thread(target=self._beat, daemon=True),
        ]

    def _beat(self) -> None:
        heartbeat = Heartbeat(self.client, 0.2)
        while not self.stopping.is_set():
            if self.beating.is_set():
                heartbeat.beat()
            self.stopping.wait(heartbeat.interval)

    def start(self) -> None:
        self.beating.set()
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(5)

    def decide(self) -> bool | None:
        """Allowed? None when the projection refuses to answer (stale)."""
        try:
            return self.projection.decide(
                enterprise=self.uscc, grantee="banks/a", scope=Scope.RATING, period=None, now=datetime.now(UTC)
            ).decision.allowed
        except ProjectionStale:
            return None


@pytest.fixture
def world(redis_url: str) -> Iterator[World]:
    w = World(redis_url)
    w.start()
    yield w
    w.stop()


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_api_key_hashes_and_consents_project(world: World) -> None:
    from carbon_common.identity import hash_api_key

    wait_for(world.projection.fresh)
    assert world.projection.bank_for_key(hash_api_key(world.api_key)) == "banks/a"
    assert world.projection.bank_for_key(hash_api_key("not-a-key")) is None
    assert world.decide() is True
    raw = b"".join(v for _, f in world.client.xrange(events.CONSENT.name) for v in f.values())
    assert world.api_key.encode() not in raw  # only hashes leave consent


def test_revocation_refused_within_one_second(world: World) -> None:
    """Decide continuously while revoking: no access is allowed later than 1 s after the revocation
    committed, and the first refusal comes from the revocation event itself (not staleness)."""
    wait_for(lambda: world.decide() is True)
    before = time.time()
    world.parts.core.transition(ADMIN, world.uscc, world.consent.id, Action.REVOKE, "test")
    committed = time.time()
    allowed_at: list[float] = []
    while True:
        outcome, at = world.decide(), time.time()
        if outcome is True:
            allowed_at.append(at)
        elif outcome is False:
            break
        assert at - committed < 30, "never refused"
    assert all(t - committed < 1.0 for t in allowed_at), max(allowed_at) - committed
    print(f"revocation refused {time.time() - before:.3f} s after the revoke call began")


def test_consent_down_refuses_then_resumes(world: World) -> None:
    wait_for(lambda: world.decide() is True)
    world.beating.clear()  # the consent service stops publishing
    stopped = time.time()
    wait_for(lambda: world.decide() is None)
    # Never stale before the bound: the last heartbeat was at most one interval before `stopped`.
    assert time.time() - stopped >= 1.0 - 0.2 - 0.05
    with pytest.raises(ProjectionStale):
        world.projection.bank_for_key("0" * 64)
    world.beating.set()
    wait_for(lambda: world.decide() is True)
