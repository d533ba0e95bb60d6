"""Consent's published changes: every fact that decides access, as messages of the stream
carbon:events:consent (schemas: carbon_common.events), and the way back from a message to the
domain's Consent, so a projection in another service decides with the very same `domain.decide`.

Producers: the store XADDs a change inside the MULTI transaction of the change itself (never one
without the other); the `Heartbeat` worker XADDs a heartbeat every ~200 ms. Because stream entries are
ordered by commit, a heartbeat stamped at time T follows every change committed before T: a projection
that has applied events up to that heartbeat knows every change made before T.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import UTC, datetime
from typing import Any

from carbon_common import events

from carbon_consent import domain
from carbon_consent.domain import Consent, Purpose, Scope, State, Transition

log = logging.getLogger(__name__)


def consent_changed(c: Consent) -> events.ConsentChanged:
    """The message of a consent's state after a change (creation or transition)."""
    last = c.history[-1]
    return events.ConsentChanged.create(
        consent=c.name,
        enterprise=f"enterprises/{c.enterprise}",
        grantee=c.grantee,
        scopes=tuple(s.name for s in c.scopes),
        purpose=c.purpose.name,
        state=c.state.name,
        from_state=last.from_state.name if last.from_state else None,
        data_start=c.data_start,
        data_end=c.data_end,
        expire_time=c.expire_time,
        create_time=c.create_time,
        transition_time=c.update_time,
        actor=last.actor,
        reason=last.reason,
    )


def consent_from_event(event: events.ConsentChanged) -> Consent:
    """The consent as `domain.decide` needs it (the last transition stands for the history)."""
    uscc = event.enterprise.removeprefix("enterprises/")
    state = State[event.state]
    when = domain.utc(event.transition_time)
    last = Transition(State[event.from_state] if event.from_state else None, state, event.actor, when, event.reason)
    return Consent(
        id=event.consent.rsplit("/", 1)[1],
        enterprise=uscc,
        grantee=event.grantee,
        scopes=tuple(Scope[s] for s in event.scopes),
        purpose=Purpose[event.purpose],
        data_start=domain.utc(event.data_start),
        data_end=domain.utc(event.data_end),
        expire_time=domain.utc(event.expire_time),
        state=state,
        create_time=domain.utc(event.create_time),
        update_time=when,
        history=(last,),
    )


def publish_consent(pipe: Any, c: Consent) -> None:
    """Queue the change message (inside the caller's MULTI)."""
    events.CONSENT.add(pipe, consent_changed(c))


def publish_bank_created(pipe: Any, bank: str, display_name: str, key_hash: str, now: datetime) -> None:
    events.CONSENT.add(
        pipe, events.BankChanged.create(bank=bank, change="CREATED", display_name=display_name, time=now)
    )
    events.CONSENT.add(pipe, events.ApiKeyChanged.create(bank=bank, key_hash=key_hash, change="ADDED", time=now))


class Heartbeat:
    """Background worker: a heartbeat on the consent stream every `interval` seconds (real time, not
    the domain clock), so projections can tell "nothing changed" from "consent is gone"."""

    __name__ = "consent-heartbeat"

    def __init__(self, client: Any, interval: float = 0.2) -> None:
        self.client = client
        self.interval = interval
        self.instance = f"{socket.gethostname()}:{os.getpid()}"

    def beat(self) -> None:
        events.CONSENT.add(self.client, events.ConsentHeartbeat.create(time=datetime.now(UTC), instance=self.instance))

    def __call__(self, stopping: threading.Event) -> None:
        while not stopping.is_set():
            try:
                self.beat()
            except Exception:  # Redis away: projections fail closed until beats resume
                log.warning("consent heartbeat failed", exc_info=True)
            stopping.wait(self.interval)
