"""An event-driven kill -9 schedule for the ingestion kill tests.

The client passes a gate before each call; the test holds the gates of the calls it
has chosen, so every kill lands while the client still has work to send, however
loaded the machine. Each kill is aimed at one moment of the held call (before it is
sent, after its intent record, after its file is written, after its commit), observed
in Redis and on disk. The client talks to the service through a `Relay` that holds the
service's replies while the test waits for the moment, so the call's acknowledgement can
never reach the client before the kill: the kill always hits an unacknowledged call
(after its commit, the client must retry and get a replay). A moment that passes too fast
to be seen (an intent lives only milliseconds) is recorded as not seen and the kill lands
at the next stage. The victim stays down until the client has seen the outage (a failed
call) and only then restarts. Nothing waits
on the wall clock: the waits are for acknowledgements, files, Redis records and client
errors, each bounded only by a generous safety limit that fails the test loudly.
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import redis as redis_lib
from carbon_devkit import stack as devkit_stack
from carbon_devkit.stack import Stack
from carbon_ingest import rawdata

MOMENTS = ("before-send", "after-intent", "after-write", "after-commit")
SAFETY_SECONDS = 180.0  # only ever reached when something is broken
# How long a (re)started process may take to report SERVING: a safety bound only (the wait
# ends on SERVING); generous because the kill tests restart services on a loaded machine.
START_SECONDS = 180.0


def start_stack(root: Path, *, data_root: str = "", storage_env: dict[str, str] | None = None) -> Stack:
    """Redis (AOF fsync always) and consent; the test starts its ingestion service with `stack.start`.
    `data_root`: CARBON_DATA_DIR (root/data unless set, e.g. s3://bucket/prefix with `storage_env` AWS_*)."""
    env = {"CARBON_LOG_LEVEL": "WARNING", **(storage_env or {})}
    if data_root:
        env["CARBON_DATA_DIR"] = data_root
    return devkit_stack.start_stack(root, ["consent"], env=env, appendfsync="always", wait=START_SECONDS)


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = SAFETY_SECONDS) -> None:
    """Poll `predicate` (1 ms) until it holds; fail naming `what` after the safety limit."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not observed within {timeout:.0f} s")
        time.sleep(0.001)


class Gates:
    """Hold points before chosen calls: the client waits there until the test releases it."""

    def __init__(self, calls: Iterable[int]) -> None:
        self._reached = {call: threading.Event() for call in calls}
        self._released = {call: threading.Event() for call in self._reached}

    def before_call(self, call: int) -> None:
        """Client side, before every attempt of `call` (a released gate passes at once)."""
        if call in self._reached:
            self._reached[call].set()
            if not self._released[call].wait(SAFETY_SECONDS):
                raise AssertionError(f"gate of call {call} never released")

    def reached(self, call: int) -> bool:
        return self._reached[call].is_set()

    def release(self, call: int) -> None:
        if call in self._released:
            self._released[call].set()

    def release_all(self) -> None:
        for event in self._released.values():
            event.set()


class Relay:
    """A TCP relay between the client and the victim service. It can hold the service's
    replies (so an acknowledgement cannot overtake the kill it races with) and cut every
    connection, losing what it held, as a crash would."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._flowing = threading.Event()
        self._flowing.set()
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                down, _ = self._listener.accept()
            except OSError:
                return  # closed
            try:
                up = socket.create_connection(("127.0.0.1", self.upstream_port))
            except OSError:  # the victim is down: the client sees the connection fail
                down.close()
                continue
            with self._lock:
                self._open += [down, up]
            threading.Thread(target=self._pump, args=(down, up, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(up, down, True), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, replies: bool) -> None:
        try:
            while data := source.recv(65536):
                if replies:
                    self._flowing.wait()
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def hold(self) -> None:
        self._flowing.clear()

    def cut(self) -> None:
        """Close every connection (held replies are lost), then let replies flow again."""
        with self._lock:
            ends, self._open = self._open, []
        for end in ends:
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()
        self._flowing.set()

    def close(self) -> None:
        self._listener.close()
        self.cut()


class Client(Protocol):
    error: BaseException | None

    def is_alive(self) -> bool: ...

    def join(self, timeout: float | None = None) -> None: ...

    @property
    def calls_acked(self) -> int: ...

    @property
    def failures(self) -> int: ...


def existing(hot: redis_lib.Redis, keys: list[str]) -> bool:
    try:
        return bool(hot.exists(*keys))
    except redis_lib.ConnectionError:
        return False


def files_state(root: Path) -> frozenset[tuple[str, int | str, int | str]]:
    """(path, inode, mtime) of every Parquet file under root: a replaced file counts as new. On
    object storage (root s3://…, AWS_* set): (key, ETag, last modified) of every object."""
    location = rawdata.object_root(root)
    if location is not None:
        import obstore

        listing = obstore.list(location.store, location.key(root) + "/")
        return frozenset(
            (o["path"], str(o["e_tag"]), str(o["last_modified"]))
            for chunk in listing
            for o in chunk
            if o["path"].endswith(".parquet")
        )
    out: set[tuple[str, int | str, int | str]] = set()
    for folder, _, names in os.walk(root):
        for name in names:
            if name.endswith(".parquet"):
                path = os.path.join(folder, name)
                try:
                    stat = os.stat(path)
                except FileNotFoundError:
                    continue
                out.add((path, stat.st_ino, stat.st_mtime_ns))
    return frozenset(out)


@dataclass(frozen=True)
class CallKeys:
    """Redis keys that mark a call's progress: any intent, any idempotency (commit) record."""

    intents: list[str]
    commits: list[str]


@dataclass(frozen=True)
class Kill:
    call: int
    moment: str
    observed: bool  # the moment was seen before the kill
    in_flight: bool  # the call was still unacknowledged when the victim died


def choose_kills(rng: random.Random, calls: int, kills: int) -> list[tuple[int, str]]:
    """`kills` calls spaced apart (a held call and the one after it are never another kill's),
    each with a moment; all moments are used before any repeats."""
    chosen = sorted(rng.sample(range(2, calls - 3, 2), kills))
    moments = [MOMENTS[i % len(MOMENTS)] for i in range(kills)]
    rng.shuffle(moments)
    return list(zip(chosen, moments, strict=True))


def gate_calls(plan: list[tuple[int, str]]) -> set[int]:
    return {c for call, _ in plan for c in (call, call + 1)}


def run_kills(
    stack: Stack,
    victim: str,
    client: Client,
    gates: Gates,
    relay: Relay,
    plan: list[tuple[int, str]],
    keys_of: Callable[[int], CallKeys],
    data_root: Path,
) -> list[Kill]:
    """Kill `victim` once per planned (call, moment); returns what each kill hit."""
    hot = redis_lib.Redis.from_url(stack.redis.url)
    done: list[Kill] = []
    try:
        for call, moment in plan:
            # every earlier call is acknowledged and `call` is not sent yet
            wait_for(lambda call=call: gates.reached(call) or not client.is_alive(), f"client at call {call}")
            if not client.is_alive():
                break  # the client failed: the test reports its error
            keys = keys_of(call)
            before = files_state(data_root)
            checks: dict[str, Callable[[], bool]] = {
                "after-intent": lambda keys=keys: existing(hot, keys.intents),
                "after-write": lambda before=before: files_state(data_root) != before,
                "after-commit": lambda keys=keys: existing(hot, keys.commits),
            }
            observed = moment == "before-send"
            if not observed:
                relay.hold()  # the call's acknowledgement waits until after the kill
                gates.release(call)
                hit, committed = checks[moment], checks["after-commit"]

                def reached(hit: Callable[[], bool] = hit, committed: Callable[[], bool] = committed) -> bool:
                    nonlocal observed
                    observed = hit()
                    if observed or not client.is_alive():
                        return True
                    if committed():  # the call is past its commit: a moment that lasts (a file, the
                        observed = hit()  # commit itself) has been reached; an intent has gone unseen
                        return True
                    return False

                wait_for(reached, f"{moment} of call {call}")
            failures = client.failures
            in_flight = False

            def while_down(call: int = call, failures: int = failures) -> None:
                nonlocal in_flight
                in_flight = client.calls_acked <= call
                relay.cut()
                gates.release(call)
                gates.release(call + 1)
                wait_for(lambda: client.failures > failures or not client.is_alive(), f"outage seen at call {call}")

            stack.kill9_and_restart(victim, while_down)
            done.append(Kill(call, moment, observed, in_flight))
    finally:
        relay.cut()
        gates.release_all()
        hot.close()
    return done


def finish(
    client: Client, relay: Relay, kills: list[Kill], planned: int, replays: Callable[[], int], context: str
) -> None:
    """Wait for the client and check that the schedule really happened: every planned kill hit
    an unacknowledged call of a client with work left and was seen by it, and every kill after
    a commit was answered by a replay."""
    client.join(SAFETY_SECONDS)
    relay.close()
    assert not client.is_alive(), f"client did not finish ({context})"
    assert client.error is None, f"{client.error!r} ({context})"
    assert len(kills) == planned and client.failures >= planned, (kills, client.failures, context)
    assert all(kill.in_flight for kill in kills), (kills, context)
    assert replays() >= sum(kill.moment == "after-commit" for kill in kills), (kills, replays(), context)


def summary(victim: str, kills: list[Kill], failures: int, seconds: float) -> str:
    """One line the repeat runs collect (pytest -s)."""
    hits = ",".join(
        f"{k.call}:{k.moment}{'' if k.observed else '(not-seen)'}{'' if k.in_flight else '(acked-first)'}"
        for k in kills
    )
    return f"KILL9 victim={victim} kills={len(kills)} client_failures={failures} seconds={seconds:.1f} moments={hits}"
