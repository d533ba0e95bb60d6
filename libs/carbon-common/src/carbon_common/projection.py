"""An in-process projection of another service's state: a snapshot, then the tail of its event stream
(carbon_common.events). Subclasses say how to load the snapshot and apply one message.

Consistency of the snapshot: the stream's last entry id P is read first, then the owner's state. A
change committed before that read is in the snapshot; one committed after it follows P in the stream.
Messages carry whole records (a consent's or a rating's complete state), so re-applying a message the
snapshot already reflects converges to the same state.

On any Redis error the tail takes a new snapshot (the stream may have been trimmed past its position,
or Redis restarted with another history); meanwhile the projection keeps its state, and whoever needs
freshness (the consent projection's heartbeat bound) sees it go stale.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import redis

from carbon_common import events

log = logging.getLogger(__name__)

START = "0-0"
M = TypeVar("M", bound=events.Event)


def entry_id(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def order(value: str) -> tuple[int, int]:
    ms, _, seq = value.partition("-")
    return int(ms), int(seq or 0)


class StreamProjection(Generic[M]):
    """Thread-safe: one writer (the tail), any number of readers holding `lock` briefly."""

    name = "projection"

    def __init__(self, client: redis.Redis, stream: events.Stream[M]) -> None:
        self.client = client
        self.stream = stream
        self.lock = threading.Lock()
        self.position = START  # id of the last applied entry
        self.applied = 0  # entries applied since the last snapshot
        self.snapshots = 0

    # -- what a subclass provides --------------------------------------------
    def load(self) -> Any:
        """Read the owner's current state (no lock held); returns what `install` takes."""
        raise NotImplementedError

    def install(self, state: Any) -> None:
        """Replace the projected state (called with `lock` held)."""
        raise NotImplementedError

    def on_message(self, message: M) -> None:
        """Apply one message (called with `lock` held)."""
        raise NotImplementedError

    # -- building ---------------------------------------------------------------
    def last_id(self) -> str | None:
        last: Any = self.client.xrevrange(self.stream.name, count=1)
        return entry_id(last[0][0]) if last else None

    def snapshot(self) -> None:
        position = self.last_id() or START
        state = self.load()
        with self.lock:
            self.install(state)
            self.position, self.applied = position, 0
            self.snapshots += 1

    def poll(self, block_ms: int | None = None, count: int = 1000) -> int:
        """Apply the next entries (waiting up to `block_ms` for one); returns how many."""
        reply: list[tuple[bytes, list[tuple[bytes, Any]]]] = self.client.xread(  # type: ignore[assignment]
            {self.stream.name: self.position}, count=count, block=block_ms
        )
        applied = 0
        for _stream, entries in reply or ():
            for raw_id, fields in entries:
                self.apply(entry_id(raw_id), fields)
                applied += 1
        return applied

    def apply(self, at: str, fields: Any) -> None:
        try:
            message = self.stream.decode(fields)
        except events.EventDecodeError as error:  # a newer producer: stop here rather than guess
            log.error("event not understood; projection stops", extra={"stream": self.stream.name, "error": str(error)})
            raise
        with self.lock:
            self.on_message(message)
            self.position = at
            self.applied += 1

    def catch_up(self) -> None:
        """Apply everything on the stream at the time of the call."""
        last = self.last_id()
        if last is None:
            return
        while order(self.position) < order(last):
            self.poll()

    def warm_up(self, timeout: float, ready: Callable[[], bool] | None = None) -> bool:
        """Snapshot, then tail until `ready()` (default: caught up) or `timeout`: call before serving."""
        deadline = time.monotonic() + timeout
        try:
            self.snapshot()
            if ready is None:
                self.catch_up()
                return True
            while not ready() and time.monotonic() < deadline:
                self.poll(block_ms=100)
        except (redis.RedisError, OSError):
            log.warning("projection not warmed up; the tail keeps trying", extra={"stream": self.stream.name})
            return False
        return ready()

    def run(self, stopping: threading.Event, block_ms: int = 200) -> None:
        """The tail: snapshot (unless warmed up), then follow the stream until `stopping`."""
        need_snapshot = self.snapshots == 0
        while not stopping.is_set():
            try:
                if need_snapshot:
                    self.snapshot()
                    need_snapshot = False
                self.poll(block_ms)
            except (redis.RedisError, OSError, ValueError):  # ValueError: EventDecodeError, or a closed connection
                if stopping.is_set():
                    return  # shutting down: the connection was closed under the blocked read
                log.warning("projection lost its stream; re-snapshotting", extra={"stream": self.stream.name})
                need_snapshot = True
                stopping.wait(0.1)

    def worker(self) -> Callable[[threading.Event], None]:
        def tail(stopping: threading.Event) -> None:
            self.run(stopping)

        tail.__name__ = self.name
        return tail
